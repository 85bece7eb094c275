package filetype

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func at(off int, sig string) []byte {
	b := make([]byte, off+len(sig)+16)
	copy(b[off:], sig)
	return b
}

func pe() []byte {
	b := make([]byte, 0x100)
	copy(b, "MZ")
	b[0x3c] = 0x80
	copy(b[0x80:], "PE\x00\x00")
	return b
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		hint Type
		want Type
	}{
		{"empty", nil, "", Empty},
		{"empty ignores hint", []byte{}, Zip, Empty},
		{"zip", []byte("PK\x03\x04\x14\x00"), "", Zip},
		{"zip empty archive", []byte("PK\x05\x06" + strings.Repeat("\x00", 18)), "", Zip},
		{"zip spanned", []byte("PK\x07\x08PK\x03\x04"), "", Zip},
		{"gzip", []byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3}, "", Gzip},
		{"gzip magic without deflate", []byte{0x1f, 0x8b, 0x07, 0, 0, 0}, "", Binary},
		{"bzip2", []byte("BZh91AY&SY\x00\x00"), "", Bzip2},
		{"bzip2 empty stream", []byte("BZh9\x17\x72\x45\x38\x50\x90\x00\x00\x00\x00"), "", Bzip2},
		{"text starting BZh", []byte("BZhello, this is text\n"), "", Text},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0}, "", Xz},
		{"7z", []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c, 0}, "", SevenZ},
		{"rar", []byte("Rar!\x1a\x07\x01\x00"), "", Rar},
		{"cab", []byte("MSCF\x00\x00\x00\x00\x10"), "", Cab},
		{"arj", []byte{0x60, 0xea, 0x10}, "", Arj},
		{"cpio newc", []byte("070701000000"), "", Cpio},
		{"cpio odc", []byte("070707000000"), "", Cpio},
		{"cpio binary", []byte{0xc7, 0x71, 0}, "", Cpio},
		{"elf", []byte("\x7fELF\x02\x01"), "", ELF},
		{"macho 64", []byte{0xcf, 0xfa, 0xed, 0xfe, 7}, "", MachO},
		{"pdf", []byte("%PDF-1.7\n"), "", PDF},
		{"ole2", []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0}, "", OLE2},
		{"rtf", []byte(`{\rtf1\ansi`), "", RTF},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00"), "", PNG},
		{"jpeg", []byte{0xff, 0xd8, 0xff, 0xe0}, "", JPEG},
		{"gif87", []byte("GIF87a.."), "", GIF},
		{"gif89", []byte("GIF89a.."), "", GIF},
		{"tar ustar", at(257, "ustar\x0000"), "", Tar},
		{"tar gnu", at(257, "ustar  \x00"), "", Tar},
		{"pe", pe(), "", PE},
		{"dos executable", append([]byte("MZ"), make([]byte, 0x40)...), "", PE},
		{"short MZ", []byte("MZ is also how some text starts"), "", Text},
		{"mail", []byte("Received: from x\r\nFrom: a@example.org\r\nSubject: hi\r\n\r\nbody"), "", Mail},
		{"mail folded header", []byte("Subject: a\r\n  long subject\r\nTo: b@example.org\r\n\r\n"), "", Mail},
		{"mbox", []byte("From a@example.org Mon Jan  1 00:00:00 2024\nReturn-Path: <a@example.org>\n\nbody"), "", Mail},
		{"mail with a broken header line", []byte("From: a@example.org\nno colon here\nSubject: x\n\nbody"), "", Mail},
		{"one header is text", []byte("Subject: only one\n\nand some text"), "", Text},
		{"prose with colon is text", []byte("Dear all: the meeting\nis moved.\n"), "", Text},
		{"too many broken lines is text", []byte("From: a\nline one\nline two\nline three\nSubject: x\n\n"), "", Text},
		{"continuation first is text", []byte(" indented\nFrom: a\nTo: b\n"), "", Text},
		{"html doctype", []byte("<!DOCTYPE html><html>"), "", HTML},
		{"html after bom and blanks", []byte("\xef\xbb\xbf\n  <HTML><body>"), "", HTML},
		{"html script", []byte("<script>alert(1)</script>"), "", HTML},
		{"text", []byte("plain words\nand lines\n"), "", Text},
		{"latin1 text", []byte("caf\xe9 cr\xe8me br\xfbl\xe9e and much more plain ascii text around it"), "", Text},
		{"binary with nul", []byte("abc\x00def"), "", Binary},
		{"binary control bytes", bytes.Repeat([]byte{1, 2, 3, 'a'}, 10), "", Binary},
		{"header block without body is mail", []byte("From: x\nTo: y"), "", Mail},
		{"hint mail on plain text", []byte("no headers at all"), Mail, Mail},
		{"hint on binary", []byte{1, 2, 3}, Zip, Zip},
		{"magic beats hint", []byte("PK\x03\x04"), Mail, Zip},
		{"mail content beats hint", []byte("From: a\nTo: b\n\n"), HTML, Mail},
		{"text hint is no hint", []byte{1, 2, 3}, Text, Binary},
		{"binary hint is no hint", []byte("words"), Binary, Text},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(tc.data, tc.hint); got != tc.want {
				t.Errorf("Detect(%q, %q) = %q, want %q", shorten(tc.data), tc.hint, got, tc.want)
			}
		})
	}
}

func shorten(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func TestDetectLooksOnlyAtTheStartForText(t *testing.T) {
	// Binary bytes past the sniffed window do not change a text verdict.
	data := append(bytes.Repeat([]byte("text "), sniffLen), 0, 1, 2)
	if got := Detect(data, ""); got != Text {
		t.Errorf("got %s", got)
	}
	// A multi-byte rune cut at the window's end is still text.
	data = append(bytes.Repeat([]byte("a"), sniffLen-1), "é"...)
	if got := Detect(data, ""); got != Text {
		t.Errorf("cut rune: got %s", got)
	}
}

func TestDetectTextEncodings(t *testing.T) {
	prose := strings.Repeat("Some prose before the attachment.\n", 100)
	for _, tc := range []struct {
		name string
		data string
		want Type
	}{
		{"uue at start", "begin 644 a.exe\nM6#5/\n`\nend\n", UUE},
		{"uue after prose", prose + "begin 0755 run.sh\n`\nend\n", UUE},
		{"uue crlf", "Hi\r\nbegin 600 x\r\n", UUE},
		{"uue -m", "begin-base64 644 a.exe\nWDVP\n====\n", UUE},
		{"uue -m after prose", prose + "begin-base64 600 x\r\n", UUE},
		{"begin-base64 not octal", "begin-base64 9 x\n", Text},
		{"begin not octal", "begin 689 x\n", Text},
		{"begin in a sentence", "We begin 644 tasks\n", Text},
		{"begin without name", "begin 644 \n", Text},
		{"binhex banner", "(This file must be converted with BinHex 4.0)\n:abc:\n", BinHex},
		{"binhex macutils banner", prose + "(This file must be converted; you knew that already.)\n", BinHex},
		{"yenc", "=ybegin line=128 size=3 name=a\n", YEnc},
		{"yenc after prose", prose + "=ybegin part=1 line=128 size=3 name=a\n", YEnc},
		{"yenc mid-line", "x=ybegin line=1\n", Text},
		{"uue past 64 KiB", strings.Repeat("x", 70<<10) + "\nbegin 644 a\n", Text},
	} {
		if got := Detect([]byte(tc.data), ""); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

// yencOf encodes data as one yEnc file named name (line length 128).
func yencOf(name string, data []byte) []byte {
	out := fmt.Appendf(nil, "=ybegin line=128 size=%d name=%s\r\n", len(data), name)
	for i, c := range data {
		e := c + 42
		switch e {
		case 0, '\n', '\r', '=':
			out = append(out, '=', e+64)
		default:
			out = append(out, e)
		}
		if i%128 == 127 {
			out = append(out, "\r\n"...)
		}
	}
	return fmt.Appendf(out, "\r\n=yend size=%d\r\n", len(data))
}

func TestDetectYEncOfBinaryData(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bin := make([]byte, 8192)
	for i := range bin {
		bin[i] = byte(rng.Uint32())
	}
	enc := yencOf("a.exe", bin)
	if isText(enc[:sniffLen]) {
		t.Fatal("encoded binary data is text: the test proves nothing")
	}
	prose := []byte("Hello,\n\nthe file is attached below.\n\n")
	line := []byte("=ybegin line=128 size=3 name=a.exe\n")
	for _, tc := range []struct {
		name string
		data []byte
		want Type
	}{
		{"at the start", enc, YEnc},
		{"after prose", append(append([]byte(nil), prose...), enc...), YEnc},
		{"size only", append([]byte("=ybegin size=8192 name=x y.bin\n"), enc[bytes.IndexByte(enc, '\n')+1:]...), YEnc},
		// Not yEnc: the line inside binary data, or malformed.
		{"binary before the line", append(append(append([]byte(nil), bin[:300]...), '\n'), enc...), Binary},
		{"in the middle of a binary", append(append(append(append([]byte(nil), bin[:2000]...), '\n'), line...), bin[2000:]...), Binary},
		{"no name", append([]byte("=ybegin line=128 size=3\n"), bin...), Binary},
		{"empty name", append([]byte("=ybegin line=128 size=3 name=\n"), bin...), Binary},
		{"no size nor line", append([]byte("=ybegin part=1 name=a\n"), bin...), Binary},
		{"size not a number", append([]byte("=ybegin size=x name=a\n"), bin...), Binary},
		{"control character in the line", append([]byte("=ybegin size=3 \x01name=a\n"), bin...), Binary},
		{"line not ended in the head", append([]byte("=ybegin size=3 name="), bin...), Binary},
		{"ELF holding the line", append(append([]byte("\x7fELF\n"), line...), bin...), ELF},
	} {
		if got := Detect(tc.data, ""); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

// isHTMLLowered is what isHTML did before it folded only the bytes it
// compares: lower the whole head, then compare.
func isHTMLLowered(head []byte) bool {
	h := bytes.ToLower(bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf"))
	for _, p := range htmlStarts {
		if bytes.HasPrefix(h, []byte(p)) {
			return true
		}
	}
	return false
}

func TestIsHTMLFoldsLikeToLower(t *testing.T) {
	pieces := []string{"<", "!", "DOCTYPE", "doctype", " ", "HTML", "html", "<HtMl", "<head", "<BODY", "<Script", "<iframe",
		"\ufeff", "\xef\xbb", "\u212a", "\u0130", "İ", "\xff", "\t", "\n", "frame", "x"}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		for n := rng.IntN(6); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		h := []byte(b.String())
		if isHTML(h) != isHTMLLowered(h) {
			t.Fatalf("isHTML(%q) = %v", h, isHTML(h))
		}
	}
}
