package fmtwrite

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/richardlehane/mscfb"
)

// sevenZipCLI runs Debian's 7z (p7zip-full) in dir, or skips the test.
// With wantErr the command must fail.
func sevenZipCLI(t *testing.T, dir string, wantErr bool, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("7z"); err != nil {
		t.Skip("7z command not installed")
	}
	cmd := exec.Command("7z", append([]string{"-bd", "-y"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if (err != nil) != wantErr {
		t.Fatalf("7z %v: error %v, want error %v\n%s", args, err, wantErr, out)
	}
	return string(out)
}

// sevenZipExtracts writes the archive to dir, tests it and extracts it
// with 7z, and checks every extracted file against want (path -> data).
func sevenZipExtracts(t *testing.T, name string, archive []byte, want map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), archive, 0o644); err != nil {
		t.Fatal(err)
	}
	out := sevenZipCLI(t, dir, false, "t", name)
	if !strings.Contains(out, "Everything is Ok") {
		t.Fatalf("7z t %s:\n%s", name, out)
	}
	sevenZipCLI(t, dir, false, "x", "-oout", name)
	got := map[string][]byte{}
	err := filepath.WalkDir(filepath.Join(dir, "out"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(dir, "out"), p)
		got[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, data := range want {
		if g, ok := got[p]; !ok || !bytes.Equal(g, data) {
			t.Errorf("%s: %s extracted %v with %d bytes, want %d", name, p, ok, len(g), len(data))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: 7z extracted %d files, want %d", name, len(got), len(want))
	}
}

// stepBytes is n bytes that differ from sector to sector, so that a chain
// in the wrong order shows.
func stepBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/509) ^ byte(i) ^ seed
	}
	return b
}

// cfbTestDoc is a compound file and its streams (path -> data): mini
// streams, an empty stream, storages two deep, regular streams and one of
// 16 MiB, which needs more than the header's 109 FAT sectors and more than
// one DIFAT sector (a chain of them).
func cfbTestDoc(t *testing.T) (doc []byte, want map[string][]byte) {
	t.Helper()
	streams := []CFBStream{
		{"WordDocument", stepBytes(5000, 1)},
		{"1Table", []byte("table")},
		{"empty", nil},
		{"ObjectPool/_1234/Ole10Native", stepBytes(4095, 2)},
		{"dir0/file000.txt", stepBytes(4096, 3)},
		{"dir0/big.bin", stepBytes(16<<20, 4)},
		{"dir1/sub/last", stepBytes(70000, 5)},
	}
	doc, err := CFB(streams...)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string][]byte{}
	for _, s := range streams {
		want[s.Path] = s.Data
	}
	return doc, want
}

func TestCFBDIFATFields(t *testing.T) {
	doc, _ := cfbTestDoc(t)
	nFAT := binary.LittleEndian.Uint32(doc[0x2c:])
	difat := binary.LittleEndian.Uint32(doc[0x44:])
	nDIFAT := binary.LittleEndian.Uint32(doc[0x48:])
	if nFAT <= 109+127 || nDIFAT != (nFAT-109+126)/127 || difat != nFAT {
		t.Fatalf("%d FAT sectors, %d DIFAT sectors from %d", nFAT, nDIFAT, difat)
	}
	small, _ := CFB(CFBStream{"a", []byte("x")})
	if binary.LittleEndian.Uint32(small[0x44:]) != cfbEndOfCh || binary.LittleEndian.Uint32(small[0x48:]) != 0 {
		t.Fatal("a small file has a DIFAT sector")
	}
}

// TestCFBReadsBackWithMscfb reads the streams back with the library that
// pkg/unpack's reader uses.
func TestCFBReadsBackWithMscfb(t *testing.T) {
	doc, want := cfbTestDoc(t)
	r, err := mscfb.New(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for f, err := r.Next(); err == nil; f, err = r.Next() {
		if f.FileInfo().IsDir() {
			continue
		}
		p := strings.Join(append(append([]string(nil), f.Path...), f.Name), "/")
		got, err := io.ReadAll(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if w, ok := want[p]; !ok || !bytes.Equal(got, w) {
			t.Errorf("%s: known %v, %d bytes, want %d", p, ok, len(got), len(w))
		}
		n++
	}
	if n != len(want) {
		t.Errorf("read %d streams, want %d", n, len(want))
	}
}

func TestCFBRejectsBadNames(t *testing.T) {
	for _, p := range []string{"", "a//b", "a/", strings.Repeat("n", 32)} {
		if _, err := CFB(CFBStream{p, []byte("x")}); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
	if _, err := CFB(CFBStream{strings.Repeat("n", 31), []byte("x")}); err != nil {
		t.Error(err)
	}
}

// TestCFBMatches7z has 7-Zip test and extract the compound files.
func TestCFBMatches7z(t *testing.T) {
	doc, want := cfbTestDoc(t)
	sevenZipExtracts(t, "t.doc", doc, want)

	macro, err := MacroDoc("Sub AutoOpen()\r\nEnd Sub\r\n", true)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.doc"), macro, 0o644); err != nil {
		t.Fatal(err)
	}
	out := sevenZipCLI(t, dir, false, "t", "m.doc")
	if !strings.Contains(out, "Everything is Ok") || !strings.Contains(out, "Files: 6") || !strings.Contains(out, "Folders: 2") {
		t.Fatalf("7z t m.doc:\n%s", out)
	}
}
