package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"unicode/utf16"

	"ave/pkg/verdict"
)

// tnefWriter builds TNEF streams for the tests.
type tnefWriter struct{ b bytes.Buffer }

func newTNEF() *tnefWriter {
	w := &tnefWriter{}
	binary.Write(&w.b, binary.LittleEndian, uint32(tnefSignature))
	binary.Write(&w.b, binary.LittleEndian, uint16(0x0102))
	w.attr(1, 0x00089006, []byte{1, 0, 0, 0}) // attTnefVersion-like header attribute
	return w
}

func (w *tnefWriter) attr(level byte, id uint32, data []byte) *tnefWriter {
	w.b.WriteByte(level)
	binary.Write(&w.b, binary.LittleEndian, id)
	binary.Write(&w.b, binary.LittleEndian, uint32(len(data)))
	w.b.Write(data)
	var sum uint16
	for _, c := range data {
		sum += uint16(c)
	}
	binary.Write(&w.b, binary.LittleEndian, sum)
	return w
}

func (w *tnefWriter) bytes() []byte { return w.b.Bytes() }

// mapiProp is one property for mapiProps.
type mapiProp struct {
	typ, id uint16
	val     []byte
}

func utf16z(s string) []byte {
	var b bytes.Buffer
	for _, u := range utf16.Encode([]rune(s + "\x00")) {
		binary.Write(&b, binary.LittleEndian, u)
	}
	return b.Bytes()
}

// mapiProps encodes a MAPI property list; a named property (id >= 0x8000)
// gets a GUID and a numeric name.
func mapiProps(props ...mapiProp) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(len(props)))
	for _, p := range props {
		binary.Write(&b, binary.LittleEndian, p.typ)
		binary.Write(&b, binary.LittleEndian, p.id)
		if p.id >= 0x8000 {
			b.Write(make([]byte, 16))
			binary.Write(&b, binary.LittleEndian, uint32(0))
			binary.Write(&b, binary.LittleEndian, uint32(0x1234))
		}
		switch p.typ {
		case ptString8, ptUnicode, ptBinary, ptObject:
			binary.Write(&b, binary.LittleEndian, uint32(1))
			binary.Write(&b, binary.LittleEndian, uint32(len(p.val)))
			b.Write(p.val)
			b.Write(make([]byte, pad4(int64(len(p.val)))-int64(len(p.val))))
		default:
			b.Write(p.val)
		}
	}
	return b.Bytes()
}

// tnefMessage is a message with a plain body, one attachment in the
// legacy attributes and one in MAPI properties only.
func tnefMessage(legacy, mapi []byte) []byte {
	return newTNEF().
		attr(1, 0x0002800c, []byte("Hello, see attached.")).
		attr(1, 0x00069003, mapiProps(mapiProp{0x0003, 0x0e07, []byte{1, 0, 0, 0}}, mapiProp{0x001e, 0x8001, []byte("named\x00")})).
		attr(2, 0x00069002, make([]byte, 14)).
		attr(2, 0x00018010, []byte("SHORT.TXT\x00")).
		attr(2, 0x0006800f, legacy).
		attr(2, 0x00069005, mapiProps(
			mapiProp{0x0003, 0x0e21, []byte{0, 0, 0, 0}},
			mapiProp{ptUnicode, mapiAttachLongName, utf16z("Long name.txt")})).
		attr(2, 0x00069002, make([]byte, 14)).
		attr(2, 0x00069005, mapiProps(
			mapiProp{ptString8, mapiAttachLongName, []byte("invoice.com\x00")},
			mapiProp{ptBinary, mapiAttachDataBin, mapi})).
		bytes()
}

func TestTNEFFindsEICARInAttachments(t *testing.T) {
	for _, tc := range []struct {
		name         string
		legacy, mapi []byte
		path         string
	}{
		{"legacy attAttachData", eicar, []byte("clean"), "winmail.dat/Long name.txt"},
		{"PR_ATTACH_DATA_BIN", []byte("clean"), eicar, "winmail.dat/invoice.com"},
	} {
		res := walk("winmail.dat", tnefMessage(tc.legacy, tc.mapi), Limits{})
		wantDetection(t, res, tc.path, verdict.Infected, "")
		if len(res.Detections) != 2 || res.Objects != 4 { // the raw container matches too
			t.Errorf("%s: want detections in the container and one member of 4 objects:\n%s", tc.name, dump(res))
		}
	}
}

func TestTNEFEmbeddedMessageIsOpened(t *testing.T) {
	inner := tnefMessage([]byte("clean"), eicar)
	obj := append(make([]byte, 16), inner...) // IID_IMessage, zeros here
	outer := newTNEF().
		attr(2, 0x00069002, make([]byte, 14)).
		attr(2, 0x00069005, mapiProps(
			mapiProp{ptString8, mapiDisplayName, []byte("Forwarded\x00")},
			mapiProp{ptObject, mapiAttachDataBin, obj})).
		bytes()
	res := walk("winmail.dat", outer, Limits{})
	d := wantDetection(t, res, "winmail.dat/Forwarded/invoice.com", verdict.Infected, "")
	if d.Depth != 2 {
		t.Errorf("depth %d", d.Depth)
	}
}

func TestTNEFBodiesAreMembers(t *testing.T) {
	msg := newTNEF().attr(1, 0x00069003, mapiProps(
		mapiProp{ptString8, mapiBody, []byte("plain body")},
		mapiProp{ptBinary, mapiHTML, append([]byte("<html>"), eicar...)})).bytes()
	var names []string
	if err := walkTNEF(context.Background(), &Container{Data: msg}, func(m Member) error {
		names = append(names, m.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "body.txt,body.html" {
		t.Fatalf("names %v", names)
	}
	wantDetection(t, walk("w.dat", msg, Limits{}), "w.dat/body.html", verdict.Infected, "")
}

func TestTNEFTruncatedIsCorruptedAndScanned(t *testing.T) {
	msg := tnefMessage(append(append([]byte{}, eicar...), bytes.Repeat([]byte("pad"), 100)...), []byte("x"))
	cut := msg[:bytes.Index(msg, eicar)+len(eicar)+10]
	res := walk("winmail.dat", cut, Limits{})
	wantDetection(t, res, "winmail.dat/SHORT.TXT", verdict.Infected, "")
	wantDetection(t, res, "winmail.dat", verdict.Corrupted, "truncated")
}

func TestTNEFBadChecksumIsCorrupted(t *testing.T) {
	msg := tnefMessage([]byte("clean"), []byte("clean"))
	msg[len(msg)-1] ^= 0xff
	res := walk("winmail.dat", msg, Limits{})
	wantDetection(t, res, "winmail.dat", verdict.Corrupted, "checksum")
}

func TestTNEFCleanIsClean(t *testing.T) {
	res := walk("winmail.dat", tnefMessage([]byte("a"), []byte("b")), Limits{})
	if res.Status != verdict.Clean || res.Objects != 4 {
		t.Fatalf("want 4 clean objects:\n%s", dump(res))
	}
}

func FuzzWalkTNEF(f *testing.F) {
	f.Add(tnefMessage([]byte("harmless"), []byte("also harmless")))
	inner := tnefMessage([]byte("a"), []byte("b"))
	f.Add(newTNEF().attr(2, 0x00069005, mapiProps(mapiProp{ptObject, mapiAttachDataBin, append(make([]byte, 16), inner...)})).bytes())
	f.Add(newTNEF().attr(1, 0x00069003, mapiProps(mapiProp{0x1003, 0x0e07, []byte{2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0}})).bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "winmail.dat", data)
	})
}

func TestLZFuDecodesTheSpecificationExample(t *testing.T) {
	if len(lzfuDictionary) != 207 {
		t.Fatalf("dictionary of %d bytes", len(lzfuDictionary))
	}
	// MS-OXRTFCP 3.1.1: compressed "{\rtf1\ansi\ansicpg1252\pard hello world}\r\n".
	comp, _ := hex.DecodeString("2d0000002b0000004c5a4675f1c5c7a703000a007263706731323542320af32068656c090020627705b06c647d0a800fa0")
	r, err := newLZFu(comp)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if string(got) != "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n" {
		t.Fatalf("decoded %q", got)
	}
}

func TestTNEFCompressedRTFBodyIsDecompressed(t *testing.T) {
	// A stored ("MELA") body and an LZFu one made of literals only.
	rtf := []byte(`{\rtf1 body ` + string(eicar) + `}`)
	var lit bytes.Buffer
	for i := 0; i < len(rtf); i += 8 {
		lit.WriteByte(0)
		lit.Write(rtf[i:min(i+8, len(rtf))])
	}
	for _, tc := range []struct{ typ, data []byte }{{[]byte("MELA"), rtf}, {[]byte("LZFu"), lit.Bytes()}} {
		var v bytes.Buffer
		binary.Write(&v, binary.LittleEndian, uint32(len(tc.data)+12))
		binary.Write(&v, binary.LittleEndian, uint32(len(rtf)))
		v.Write(tc.typ)
		v.Write([]byte{0, 0, 0, 0})
		v.Write(tc.data)
		msg := newTNEF().attr(1, 0x00069003, mapiProps(mapiProp{ptBinary, mapiRTFCompressed, v.Bytes()})).bytes()
		res := walk("w.dat", msg, Limits{})
		wantDetection(t, res, "w.dat/body.rtf", verdict.Infected, "")
	}
}
