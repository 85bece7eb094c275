package testkit

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"hash/crc32"
	"testing"
)

// FakePE is a harmless file that starts like a Windows executable ("MZ").
var FakePE = append([]byte("MZ\x90\x00"), bytes.Repeat([]byte{0}, 60)...)

// EncryptedZip makes a zip whose one stored member has the "encrypted"
// flag (bit 0) set; its bytes are plain, so only the flag says it is
// encrypted.
func EncryptedZip(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	fh := &zip.FileHeader{Name: name, Method: zip.Store, Flags: 0x1}
	fh.CRC32 = crc32.ChecksumIEEE(data)
	fh.CompressedSize64, fh.UncompressedSize64 = uint64(len(data)), uint64(len(data))
	w, err := zw.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Tar makes an uncompressed tar archive.
func Tar(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
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
	return buf.Bytes()
}
