package unpack

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ave/pkg/verdict"
)

// ole1 wraps native data in an OLE1 EmbeddedObject header.
func ole1(class string, native []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(0x0501))
	binary.Write(&b, binary.LittleEndian, uint32(2))
	for _, s := range []string{class, "", ""} {
		binary.Write(&b, binary.LittleEndian, uint32(len(s)+1))
		b.WriteString(s + "\x00")
	}
	binary.Write(&b, binary.LittleEndian, uint32(len(native)))
	b.Write(native)
	return b.Bytes()
}

// olePackageData is the native data of a Packager object holding a file.
func olePackageData(name string, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{2, 0})
	b.WriteString(name + "\x00C:\\Users\\x\\" + name + "\x00")
	b.Write([]byte{0, 0, 3, 0})
	tmp := "C:\\Temp\\" + name + "\x00"
	binary.Write(&b, binary.LittleEndian, uint32(len(tmp)))
	b.WriteString(tmp)
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// rtfHex writes data as \objdata hex, 64 digits a line, with the usual
// obfuscations sprinkled in: blanks, a control word and a group.
func rtfHex(data []byte) string {
	h := hex.EncodeToString(data)
	var b strings.Builder
	for i := 0; i < len(h); i += 64 {
		b.WriteString(h[i:min(i+64, len(h))])
		switch (i / 64) % 3 {
		case 0:
			b.WriteString("\r\n")
		case 1:
			b.WriteString(" \\dummy12 ")
		case 2:
			b.WriteString("{\\*\\junk}\t")
		}
	}
	return b.String()
}

func rtfWithObject(class string, obj []byte) []byte {
	return []byte(`{\rtf1\ansi\deff0{\fonttbl{\f0 Arial;}}\pard Hello \b world\b0 .\par` +
		`{\object\objemb\objw100\objh100{\*\objclass ` + class + `}{\*\objdata ` + rtfHex(obj) + "}" +
		`{\result{\pict\wmetafile8 0102}}}\par}`)
}

func TestRTFPackageObjectYieldsFile(t *testing.T) {
	doc := rtfWithObject("Package", ole1("Package", olePackageData("invoice.exe", eicar)))
	res := walk("a.rtf", doc, Limits{})
	d := wantDetection(t, res, "a.rtf/invoice.exe", verdict.Infected, "")
	if d.Depth != 1 || len(res.Detections) != 1 {
		t.Errorf("detection %+v:\n%s", d, dump(res))
	}
}

func TestRTFEmbeddedOLE2WithMacroIsOpened(t *testing.T) {
	body := "Sub AutoOpen()\r\n  s = \"" + string(eicar) + "\"\r\nEnd Sub\r\n"
	doc := rtfWithObject("Word.Document.8", ole1("Word.Document.8", macroDoc(t, body, true)))
	res := walk("b.rtf", doc, Limits{})
	d := wantDetection(t, res, "b.rtf/object-1.Word.Document.8/Macros/VBA/Module1.vba", verdict.Infected, "")
	if d.Depth != 2 {
		t.Errorf("depth %d", d.Depth)
	}
}

func TestRTFObjdataWithoutOLE1HeaderAndBin(t *testing.T) {
	// Raw hex that is no OLE1 object, and \bin raw bytes inside \objdata.
	doc := []byte(`{\rtf1{\object{\*\objdata 414243` + `\bin3 xyz` + hex.EncodeToString(eicar) + `}}}`)
	objs := rtfObjects(doc)
	if len(objs) != 1 || !bytes.Equal(objs[0], append([]byte("ABCxyz"), eicar...)) {
		t.Fatalf("objects %q", objs)
	}
	res := walk("c.rtf", doc, Limits{})
	wantDetection(t, res, "c.rtf/object-1", verdict.Infected, "")
}

func TestRTFTruncatedObjectIsScanned(t *testing.T) {
	doc := rtfWithObject("Package", ole1("Package", olePackageData("a.exe", append(append([]byte{}, eicar...), make([]byte, 500)...))))
	cut := doc[:bytes.Index(doc, []byte(`{\result`))-700]
	res := walk("t.rtf", cut, Limits{})
	wantDetection(t, res, "t.rtf/a.exe", verdict.Infected, "")
	wantDetection(t, res, "t.rtf/a.exe", verdict.Corrupted, "truncated")
}

func TestRTFCleanIsClean(t *testing.T) {
	res := walk("d.rtf", rtfWithObject("Paint.Picture", ole1("Paint.Picture", []byte("BM clean picture"))), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

func FuzzWalkRTF(f *testing.F) {
	f.Add(rtfWithObject("Package", ole1("Package", olePackageData("a.txt", []byte("harmless")))))
	f.Add(rtfWithObject("Word.Document.8", ole1("Word.Document.8", makeCFB(f, cfbStream{"x", []byte("harmless")}))))
	f.Add([]byte(`{\rtf1{\*\objdata 01\bin99999 ab}{\'41\u-3913?\*}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.rtf", data)
	})
}

// TestWriteMimepartsFixtures writes the RTF fixture that the cross-format
// tests of pkg/mimeparts use (they cannot import this package's test
// helpers). Run with AVE_WRITE_FIXTURES=1 to regenerate it.
func TestWriteMimepartsFixtures(t *testing.T) {
	if os.Getenv("AVE_WRITE_FIXTURES") == "" {
		t.Skip("set AVE_WRITE_FIXTURES=1 to regenerate ../mimeparts/testdata/macro.rtf")
	}
	body := "Sub AutoOpen()\r\n  s = \"" + string(eicar) + "\"\r\nEnd Sub\r\n"
	doc := rtfWithObject("Word.Document.8", ole1("Word.Document.8", macroDoc(t, body, true)))
	writeFile(t, filepath.Join("..", "mimeparts", "testdata", "macro.rtf"), doc)
}
