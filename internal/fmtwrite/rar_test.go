package fmtwrite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rarWriters are the two writers, with Rar5 given Rar4's signature.
var rarWriters = map[string]func([]RarFile, bool) ([]byte, error){
	"rar4": Rar4,
	"rar5": func(fs []RarFile, enc bool) ([]byte, error) { return Rar5(fs, enc), nil },
}

func TestRarVint(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		want string
	}{{0, "\x00"}, {0x7f, "\x7f"}, {0x80, "\x80\x01"}, {300, "\xac\x02"}, {1 << 21, "\x80\x80\x80\x01"}} {
		if got := string(RarVint(nil, c.v)); got != c.want {
			t.Errorf("%d: %q, want %q", c.v, got, c.want)
		}
	}
}

// TestRarMatches7z has 7-Zip (which, without Debian's non-free rar codec,
// reads stored members only: all these writers make) test and extract the
// archives byte for byte, and report a wrong CRC32.
func TestRarMatches7z(t *testing.T) {
	files := []RarFile{
		{Name: "readme.txt", Data: []byte("hello")},
		{Name: "dir0/file000.bin", Data: stepBytes(300000, 7)},
		{Name: "dir1/sub/empty", Data: nil},
		{Name: "dir1/last.log", Data: stepBytes(70000, 8)},
	}
	want := map[string][]byte{}
	for _, f := range files {
		want[f.Name] = f.Data
	}
	for v, write := range rarWriters {
		t.Run(v, func(t *testing.T) {
			data, err := write(files, false)
			if err != nil {
				t.Fatal(err)
			}
			sevenZipExtracts(t, "a.rar", data, want)

			bad, err := write([]RarFile{{Name: "a.txt", Data: []byte("alpha"), BadCRC: true}}, false)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "c.rar"), bad, 0o644); err != nil {
				t.Fatal(err)
			}
			if out := sevenZipCLI(t, dir, true, "t", "c.rar"); !strings.Contains(out, "CRC Failed") {
				t.Errorf("7z t of a wrong CRC32:\n%s", out)
			}
		})
	}
}

func TestRar4RejectsLongNames(t *testing.T) {
	if _, err := Rar4([]RarFile{{Name: strings.Repeat("n", 70000)}}, false); err == nil {
		t.Fatal("a 70000-byte name accepted")
	}
}
