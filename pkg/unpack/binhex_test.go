package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"ave/pkg/verdict"
)

// binhexGo encodes a file in BinHex 4.0 with run-length encoding of runs
// of three or more bytes, so the fixtures exercise the 0x90 marker.
func binhexGo(name string, data, rsrc []byte) string {
	var raw bytes.Buffer
	raw.WriteByte(byte(len(name)))
	raw.WriteString(name)
	raw.WriteByte(0)
	raw.WriteString("TEXTMACA")
	raw.Write([]byte{0, 0})
	binary.Write(&raw, binary.BigEndian, uint32(len(data)))
	binary.Write(&raw, binary.BigEndian, uint32(len(rsrc)))
	binary.Write(&raw, binary.BigEndian, crc16XModem(0, raw.Bytes()))
	raw.Write(data)
	binary.Write(&raw, binary.BigEndian, crc16XModem(0, data))
	raw.Write(rsrc)
	binary.Write(&raw, binary.BigEndian, crc16XModem(0, rsrc))

	var rle []byte
	src := raw.Bytes()
	for i := 0; i < len(src); {
		c := src[i]
		n := 1
		for i+n < len(src) && src[i+n] == c && n < 255 {
			n++
		}
		if c == 0x90 {
			rle = append(rle, 0x90, 0)
			n = 1
		} else {
			rle = append(rle, c)
			if n >= 3 {
				rle = append(rle, 0x90, byte(n))
			} else {
				n = 1
			}
		}
		i += n
	}
	var b strings.Builder
	b.WriteString("(This file must be converted with BinHex 4.0)\n:")
	col := 1
	var acc uint32
	nb := 0
	put := func(v byte) {
		b.WriteByte(binhexAlphabet[v])
		if col++; col == 64 {
			b.WriteByte('\n')
			col = 0
		}
	}
	for _, c := range rle {
		acc = acc<<8 | uint32(c)
		nb += 8
		for nb >= 6 {
			nb -= 6
			put(byte(acc>>nb) & 0x3f)
		}
	}
	if nb > 0 {
		put(byte(acc<<(6-nb)) & 0x3f)
	}
	b.WriteString(":\n")
	return b.String()
}

func TestBinHexFindsEICARMadeByMacutils(t *testing.T) {
	payload := append(append(make([]byte, 300), eicar...), make([]byte, 300)...) // runs for the RLE
	enc := toolEncode(t, "eicar.com", payload, "binhex", "-d", "eicar.com")
	res := walk("mac.hqx", enc, Limits{})
	wantDetection(t, res, "mac.hqx/eicar.com", verdict.Infected, "")
	if len(res.Detections) != 1 {
		t.Errorf("want one detection:\n%s", dump(res))
	}
}

func TestBinHexYieldsBothForks(t *testing.T) {
	text := "Some mail text first.\n\n" + binhexGo("Read Me", bytes.Repeat([]byte{0x90, 7, 7, 7, 7}, 40), eicar)
	var got []string
	err := walkBinHex(context.Background(), &Container{Data: []byte(text)}, func(m Member) error {
		r, _ := m.Open()
		b, _ := io.ReadAll(r)
		got = append(got, m.Name)
		if m.Name == "Read Me" && !bytes.Equal(b, bytes.Repeat([]byte{0x90, 7, 7, 7, 7}, 40)) {
			t.Errorf("data fork %x", b)
		}
		return nil
	})
	if err != nil || strings.Join(got, ",") != "Read Me,Read Me.rsrc" {
		t.Fatalf("forks %v err %v", got, err)
	}
	res := walk("m.txt", []byte(text), Limits{})
	wantDetection(t, res, "m.txt/Read Me.rsrc", verdict.Infected, "")
}

func TestBinHexBadCRCIsCorruptedButScanned(t *testing.T) {
	text := binhexGo("e.com", eicar, nil)
	// Flip one character of the data: the decoded fork changes and its
	// CRC no longer matches; EICAR sits at the start, the change at the end.
	i := strings.LastIndex(text, ":") - 6
	c := byte('!')
	if text[i] == '!' {
		c = '"'
	}
	text = text[:i] + string(c) + text[i+1:]
	res := walk("b.hqx", []byte(text), Limits{})
	wantDetection(t, res, "b.hqx", verdict.Corrupted, "CRC mismatch")
}

func TestBinHexTruncatedIsCorruptedAndScanned(t *testing.T) {
	text := binhexGo("e.com", append(append([]byte{}, eicar...), bytes.Repeat([]byte("abc"), 300)...), nil)
	res := walk("t.hqx", []byte(text[:len(text)*2/3]), Limits{})
	wantDetection(t, res, "t.hqx/e.com", verdict.Infected, "")
	wantDetection(t, res, "t.hqx", verdict.Corrupted, "truncated")
}

func TestBinHexRunLengthBombIsLimited(t *testing.T) {
	// A 16 MiB fork of one repeated byte from a few hundred KiB of text.
	text := binhexGo("b", make([]byte, 16<<20), nil)
	res := walk("bomb.hqx", []byte(text), Limits{MaxRatio: 10, RatioFloor: 1 << 20})
	wantDetection(t, res, "bomb.hqx/b", verdict.Unchecked, "compression ratio")
}

func TestBinHexCleanIsClean(t *testing.T) {
	res := walk("c.hqx", []byte(binhexGo("a", []byte("clean"), []byte("rsrc"))), Limits{})
	if res.Status != verdict.Clean || res.Objects != 3 {
		t.Fatalf("want 3 clean objects:\n%s", dump(res))
	}
}

func FuzzWalkBinHex(f *testing.F) {
	f.Add([]byte(binhexGo("a.txt", []byte("harmless harmless"), []byte("r"))))
	f.Add([]byte(binhexGo("z", make([]byte, 2000), nil)))
	f.Add([]byte("(This file must be converted with BinHex 4.0)\n:!!!!:"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.hqx", data)
	})
}

// TestCRC16XModemCheckValue: the catalogue check value of CRC-16/XMODEM
// ("123456789" -> 0x31C3), in one call and byte by byte.
func TestCRC16XModemCheckValue(t *testing.T) {
	if got := crc16XModem(0, []byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16XModem = %#04x, want 0x31c3", got)
	}
	var crc uint16
	for _, b := range []byte("123456789") {
		crc = crc16XModem(crc, []byte{b})
	}
	if crc != 0x31C3 {
		t.Fatalf("byte by byte: %#04x", crc)
	}
}
