package unpack

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"ave/pkg/verdict"
)

// marker is a harmless payload that the committed fixtures under testdata
// hold instead of EICAR; inspectMarker flags it as well as EICAR.
var marker = []byte("AVE-HARMLESS-TEST-PAYLOAD-7f3a")

func inspectMarker(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
	if bytes.Contains(o.Data, marker) {
		return []verdict.Detection{{Status: verdict.Infected, Name: "Marker", Engine: verdict.EngineBody}}, false, nil
	}
	return inspectEICAR(ctx, o)
}

// walkMarker walks with inspectMarker on the members only (the raw
// container may hold its payload stored).
func walkMarker(name string, data []byte) verdict.Result {
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Path == name {
			return nil, false, nil
		}
		return inspectMarker(ctx, o)
	}}
	return w.Walk(context.Background(), name, data, "", false)
}

// sevenZipCLI runs Debian's 7z (p7zip-full) in dir, or skips the test.
func sevenZipCLI(t *testing.T, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("7z"); err != nil {
		t.Skip("7z command not installed")
	}
	cmd := exec.Command("7z", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("7z %v: %v\n%s", args, err, out)
	}
}

// sevenZipDir is a directory with sub/eicar.com and notes.txt.
func sevenZipDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "eicar.com"), eicar)
	writeFile(t, filepath.Join(dir, "notes.txt"), bytes.Repeat([]byte("notes "), 2000))
	return dir
}

func TestSevenZipFindsEICAR(t *testing.T) {
	for _, method := range []string{"-m0=lzma2", "-m0=lzma", "-m0=copy", "-m0=bzip2", "-m0=deflate", "-m0=ppmd"} {
		t.Run(method, func(t *testing.T) {
			dir := sevenZipDir(t)
			sevenZipCLI(t, dir, "a", "-bd", "-t7z", method, "a.7z", "notes.txt", "sub")
			res := walkQuiet("a.7z", readFile(t, filepath.Join(dir, "a.7z")))
			d := wantDetection(t, res, "a.7z/sub/eicar.com", verdict.Infected, "")
			if d.Depth != 1 || d.Type != "text" {
				t.Errorf("detection %+v", d)
			}
			if res.Objects != 3 || len(res.Detections) != 1 {
				t.Errorf("want the archive, two files and one detection:\n%s", dump(res))
			}
		})
	}
}

func TestSevenZipFixtures(t *testing.T) {
	// Made by 7z from a file holding marker (see testdata/7z/README).
	for _, tc := range []struct {
		file, path string
		st         verdict.Status
		reason     string
	}{
		{"plain.7z", "plain.7z/dir/payload.txt", verdict.Infected, ""},
		{"encrypted.7z", "encrypted.7z/dir/payload.txt", verdict.Protected, "encrypted"},
		{"encrypted-headers.7z", "encrypted-headers.7z", verdict.Protected, "7z: headers encrypted"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			res := walkMarker(tc.file, readFile(t, filepath.Join("testdata", "7z", tc.file)))
			wantDetection(t, res, tc.path, tc.st, tc.reason)
			if tc.st != verdict.Infected {
				wantNoDetection(t, res, verdict.Infected)
			}
		})
	}
}

func TestSevenZipEncryptedIsProtected(t *testing.T) {
	dir := sevenZipDir(t)
	sevenZipCLI(t, dir, "a", "-bd", "-t7z", "-psecret", "enc.7z", "notes.txt", "sub")
	sevenZipCLI(t, dir, "a", "-bd", "-t7z", "-psecret", "-mhe=on", "hdr.7z", "notes.txt", "sub")
	res := walkQuiet("enc.7z", readFile(t, filepath.Join(dir, "enc.7z")))
	wantDetection(t, res, "enc.7z/sub/eicar.com", verdict.Protected, "encrypted")
	wantDetection(t, res, "enc.7z/notes.txt", verdict.Protected, "encrypted")
	wantNoDetection(t, res, verdict.Infected)
	if res.Status != verdict.Protected {
		t.Errorf("status %s", res.Status)
	}

	res = walkQuiet("hdr.7z", readFile(t, filepath.Join(dir, "hdr.7z")))
	wantDetection(t, res, "hdr.7z", verdict.Protected, "headers encrypted")
	wantNoDetection(t, res, verdict.Infected)
}

func TestSevenZipTruncatedAndDamagedAreCorrupted(t *testing.T) {
	dir := sevenZipDir(t)
	writeFile(t, filepath.Join(dir, "rand.bin"), randomBytes(t, 20000))
	// Not solid: each file is its own folder.
	sevenZipCLI(t, dir, "a", "-bd", "-t7z", "-ms=off", "-m0=lzma", "t.7z", "sub", "rand.bin")
	data := readFile(t, filepath.Join(dir, "t.7z"))

	res := walkQuiet("t.7z", data[:len(data)-40])
	wantDetection(t, res, "t.7z", verdict.Corrupted, "7z:")

	// Damage rand.bin's folder; eicar.com's is before it.
	bad := append([]byte(nil), data...)
	for i := 32 + 200; i < 32+2000; i++ {
		bad[i] ^= 0xa5
	}
	res = walkQuiet("t.7z", bad)
	wantDetection(t, res, "t.7z/sub/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "t.7z/rand.bin", verdict.Corrupted, "")
}

func TestSevenZipCleanIsClean(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("alpha"))
	writeFile(t, filepath.Join(dir, "empty"), nil)
	sevenZipCLI(t, dir, "a", "-bd", "-t7z", "c.7z", "a.txt", "empty")
	res := walk("c.7z", readFile(t, filepath.Join(dir, "c.7z")), Limits{})
	if res.Status != verdict.Clean || res.Objects != 3 {
		t.Fatalf("want 3 clean objects:\n%s", dump(res))
	}
}

// TestSevenZipNestedThreeLevels: a zip inside a 7z inside an xz.
func TestSevenZipNestedThreeLevels(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "inner.zip"), makeZip(t, zipEntry{"docs/eicar.com", eicar, 8}))
	sevenZipCLI(t, dir, "a", "-bd", "-t7z", "mid.7z", "inner.zip")
	data := makeXz(t, readFile(t, filepath.Join(dir, "mid.7z")))
	res := walk("mid.7z.xz", data, Limits{})
	d := wantDetection(t, res, "mid.7z.xz/mid.7z/inner.zip/docs/eicar.com", verdict.Infected, "")
	if d.Depth != 3 {
		t.Errorf("depth %d", d.Depth)
	}
}

func FuzzWalk7z(f *testing.F) {
	for _, name := range []string{"plain.7z", "encrypted.7z", "encrypted-headers.7z"} {
		d, err := os.ReadFile(filepath.Join("testdata", "7z", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(d)
		f.Add(d[:len(d)-10])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.7z", data)
	})
}

// TestSevenZipSolidFolderPastSkippedMember: in a solid folder, a member
// refused by a limit is decoded past (not scanned) and the next is found.
func TestSevenZipSolidFolderPastSkippedMember(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a-big.bin"), make([]byte, 3<<20))
	writeFile(t, filepath.Join(dir, "b-eicar.com"), eicar)
	sevenZipCLI(t, dir, "a", "-bd", "-t7z", "-ms=on", "s.7z", "a-big.bin", "b-eicar.com")
	w := &Walker{Limits: Limits{MaxObjectSize: 1 << 20}, Inspect: quietTop("s.7z")}
	res := w.Walk(context.Background(), "s.7z", readFile(t, filepath.Join(dir, "s.7z")), "", false)
	wantDetection(t, res, "s.7z/a-big.bin", verdict.Unchecked, "larger than MaxObjectSize")
	wantDetection(t, res, "s.7z/b-eicar.com", verdict.Infected, "")
}
