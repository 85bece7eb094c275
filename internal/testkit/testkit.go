// Package testkit builds the harmless samples and signature databases the
// tests use: the EICAR test file and containers made in memory. No live
// malware: EICAR and generated patterns matched by test signatures only.
package testkit

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EICAR is the standard anti-virus test file.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// BodyPattern is matched by the test body signature "Test.Body.Pattern".
const BodyPattern = "AVE-TEST-BODY-PATTERN-0123"

// EICARRule is a YARA rule that reports EICAR as "EICAR-Test-File".
const EICARRule = `rule AVE_EICAR_Test_File {
  meta: name = "EICAR-Test-File"
  strings: $e = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
  condition: $e at 0
}
`

// WriteDB writes a small test database into dir: the EICAR rule, a body
// signature for BodyPattern, and any extra files given (name -> content).
func WriteDB(t testing.TB, dir string, extra map[string]string) {
	t.Helper()
	files := map[string]string{
		"test.yar": EICARRule,
		"test.ndb": "Test.Body.Pattern:0:*:" + fmt.Sprintf("%x", BodyPattern) + "\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// File is one entry of an archive made by Zip or TarGz.
type File struct {
	Name string
	Data []byte
}

// Zip makes a zip archive (deflated).
func Zip(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		fw, err := w.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TarGz makes a gzip-compressed tar archive.
func TarGz(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: 0o644, Size: int64(len(f.Data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Mail makes a multipart/mixed message with a text body and one base64
// attachment.
func Mail(attachName string, attach []byte) []byte {
	var b strings.Builder
	b.WriteString("From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: test\r\n")
	b.WriteString("Message-ID: <t1@example.org>\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n")
	b.WriteString("--BOUNDARY\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n")
	b.WriteString("--BOUNDARY\r\nContent-Type: application/octet-stream; name=\"" + attachName + "\"\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"" + attachName + "\"\r\n")
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(attach)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--BOUNDARY--\r\n")
	return []byte(b.String())
}
