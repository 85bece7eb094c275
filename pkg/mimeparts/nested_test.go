package mimeparts

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"ave/pkg/unpack"
	"ave/pkg/verdict"
)

// Cross-format tests: mail encodings and documents nested in MIME, walked
// by the real Walker with every format registered.

// uuencode is a minimal uuencoder for the inline-attachment test.
func uuencode(name string, data []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "begin 644 %s\n", name)
	enc := func(v byte) byte {
		if v == 0 {
			return '`'
		}
		return v + 0x20
	}
	for len(data) > 0 {
		n := min(45, len(data))
		line := data[:n]
		data = data[n:]
		b.WriteByte(enc(byte(n)))
		for i := 0; i < n; i += 3 {
			var g [3]byte
			copy(g[:], line[i:min(i+3, n)])
			b.WriteByte(enc(g[0] >> 2))
			b.WriteByte(enc((g[0]<<4 | g[1]>>4) & 0x3f))
			b.WriteByte(enc((g[1]<<2 | g[2]>>6) & 0x3f))
			b.WriteByte(enc(g[2] & 0x3f))
		}
		b.WriteByte('\n')
	}
	b.WriteString("`\nend\n")
	return b.String()
}

func zipOf(t *testing.T, name string, data []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func base64Lines(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return b.String() + s + "\r\n"
}

// multipartMail is a message with a text part and one base64 attachment.
func multipartMail(text, name, ctype string, data []byte) string {
	return "From: a@example.com\r\nTo: b@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\n" + text + "\r\n" +
		"--XX\r\nContent-Type: " + ctype + "; name=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"" + name + "\"\r\n\r\n" + base64Lines(data) + "--XX--\r\n"
}

func TestNestedUUEncodedZipInMailBody(t *testing.T) {
	body := "Hi,\r\n\r\nthe archive is below.\r\n\r\n" + uuencode("docs.zip", zipOf(t, "docs/eicar.com", eicar)) + "\r\nBye\r\n"
	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: old school\r\n\r\n" + body
	res := scan("m.eml", msg, unpack.Limits{})
	d := wantDetection(t, res, "m.eml/1/docs.zip/docs/eicar.com", verdict.Infected, "")
	if d.Depth != 3 {
		t.Errorf("depth %d", d.Depth)
	}
}

func TestNestedRTFWithOLEMacroInBase64Part(t *testing.T) {
	rtf, err := os.ReadFile("testdata/macro.rtf")
	if err != nil {
		t.Fatal(err)
	}
	msg := multipartMail("See the attached order.", "order.rtf", "application/rtf", rtf)
	res := scan("m.eml", msg, unpack.Limits{})
	d := wantDetection(t, res, "m.eml/order.rtf/object-1.Word.Document.8/Macros/VBA/Module1.vba", verdict.Infected, "")
	if d.Depth != 3 { // mail, rtf, ole2, macro source
		t.Errorf("depth %d", d.Depth)
	}
	if len(res.Detections) != 1 {
		t.Errorf("want only the macro source detected:\n%s", dump(res))
	}
}

// tnefWithAttachment is a winmail.dat holding one attachment.
func tnefWithAttachment(name string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(0x223e9f78))
	binary.Write(&b, binary.LittleEndian, uint16(1))
	attr := func(level byte, id uint32, v []byte) {
		b.WriteByte(level)
		binary.Write(&b, binary.LittleEndian, id)
		binary.Write(&b, binary.LittleEndian, uint32(len(v)))
		b.Write(v)
		var sum uint16
		for _, c := range v {
			sum += uint16(c)
		}
		binary.Write(&b, binary.LittleEndian, sum)
	}
	attr(1, 0x0002800c, []byte("body"))
	attr(2, 0x00069002, make([]byte, 14))
	attr(2, 0x00018010, []byte(name+"\x00"))
	attr(2, 0x0006800f, data)
	return b.Bytes()
}

func TestNestedPDFInTNEFInBase64Part(t *testing.T) {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(eicar)
	zw.Close()
	pdf := fmt.Sprintf("%%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n2 0 obj << /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n", z.Len(), z.Bytes())
	msg := multipartMail("Outlook sent this.", "winmail.dat", "application/ms-tnef", tnefWithAttachment("report.pdf", []byte(pdf)))
	res := scan("m.eml", msg, unpack.Limits{})
	wantDetection(t, res, "m.eml/winmail.dat/report.pdf/obj2", verdict.Infected, "")
}

func TestNestedHTMLPartDataURI(t *testing.T) {
	html := `<div>Click <a href="data:application/x-msdownload;base64,` + base64.StdEncoding.EncodeToString(eicar) + `">here</a></div>`
	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n" + html
	res := scan("m.eml", msg, unpack.Limits{})
	wantDetection(t, res, "m.eml/1/data-uri-1", verdict.Infected, "")
}
