package unpack

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"testing"

	"ave/internal/fmtwrite"
	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// cabTestFolder and cabTestFile are fmtwrite.CabFolder and CabFile for
// literals without field names (go vet wants them named for another
// package's types).
type cabTestFolder struct {
	comp  uint16
	files []cabTestFile
}

type cabTestFile struct {
	name string
	data []byte
}

func cabFiles(files []cabTestFile) []fmtwrite.CabFile {
	out := make([]fmtwrite.CabFile, len(files))
	for i, f := range files {
		out[i] = fmtwrite.CabFile{Name: f.name, Data: f.data}
	}
	return out
}

// makeCab builds a cabinet with fmtwrite.Cab: one folder per element,
// stored, MSZIP, LZX (window 2^15-2^21, E8 translation) or Quantum (2^10-
// 2^21), one CFDATA block per 32 KiB frame. Other compression types, and
// LZX or Quantum with another window, get the stored bytes: the parser
// must refuse them, not decode them.
func makeCab(t testing.TB, folders ...cabTestFolder) []byte {
	t.Helper()
	fs := make([]fmtwrite.CabFolder, len(folders))
	for i, f := range folders {
		fs[i] = fmtwrite.CabFolder{Comp: f.comp, Files: cabFiles(f.files)}
	}
	data, err := fmtwrite.Cab(fs...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCabFindsEICARMadeByGo(t *testing.T) {
	big := randomBytes(t, 70000) // spans three blocks
	for _, comp := range []uint16{cabCompNone, cabCompMSZIP} {
		data := makeCab(t, cabTestFolder{comp, []cabTestFile{
			{"readme.txt", []byte("hello")},
			{"big.bin", big},
			{`sub\eicar.com`, eicar},
		}})
		if got := filetype.Detect(data, ""); got != filetype.Cab {
			t.Fatalf("detected %s", got)
		}
		res := walkQuiet("a.cab", data)
		d := wantDetection(t, res, "a.cab/sub/eicar.com", verdict.Infected, "")
		if d.Depth != 1 || res.Objects != 4 || len(res.Detections) != 1 {
			t.Errorf("comp %d: want the cabinet, three files and one detection:\n%s", comp, dump(res))
		}
	}
}

// gcabCLI makes a cabinet with Debian's gcab, or skips the test.
func gcabCLI(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("gcab"); err != nil {
		t.Skip("gcab command not installed")
	}
	cmd := exec.Command("gcab", append([]string{"-c", "--nopath", "out.cab"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcab %v: %v\n%s", args, err, out)
	}
	return readFile(t, filepath.Join(dir, "out.cab"))
}

func TestCabFindsEICARMadeByGcab(t *testing.T) {
	for _, z := range []bool{false, true} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "notes.txt"), bytes.Repeat([]byte("compressible notes "), 5000))
		writeFile(t, filepath.Join(dir, "eicar.com"), eicar)
		args := []string{"notes.txt", "eicar.com"}
		if z {
			args = append([]string{"-z"}, args...)
		}
		res := walkQuiet("g.cab", gcabCLI(t, dir, args...))
		wantDetection(t, res, "g.cab/eicar.com", verdict.Infected, "")
		if res.Objects != 3 || len(res.Detections) != 1 {
			t.Errorf("mszip %v: want the cabinet, two files and one detection:\n%s", z, dump(res))
		}
	}
}

func TestCabOtherDataLabelledQuantumIsCorrupted(t *testing.T) {
	// MSZIP blocks relabelled Quantum: garbage to the Quantum decoder,
	// which must say so for each file of the folder, not panic or loop.
	data := makeCab(t, cabTestFolder{cabCompMSZIP, []cabTestFile{{"eicar.com", eicar}, {"b.txt", []byte("beta")}}})
	// [MS-CAB] 2.3: typeCompress, the CFFOLDER's last field; Quantum is 2
	// in its low nibble, with the level (bits 4-7) and window (8-12).
	binary.LittleEndian.PutUint16(data[cabHeaderLen+6:], cabCompQuantum|4<<4|21<<8)
	res := walkQuiet("q.cab", data)
	wantDetection(t, res, "q.cab/eicar.com", verdict.Corrupted, "cab: Quantum: ")
	wantDetection(t, res, "q.cab/b.txt", verdict.Corrupted, "cab: Quantum: ")
	wantNoDetection(t, res, verdict.Infected)
	if len(res.Detections) != 2 {
		t.Errorf("want the two files corrupted and nothing else:\n%s", dump(res))
	}
}

func TestCabCleanIsClean(t *testing.T) {
	res := walk("c.cab", makeCab(t, cabTestFolder{cabCompMSZIP, []cabTestFile{{"a.txt", []byte("alpha")}, {"empty", nil}}}), Limits{})
	if res.Status != verdict.Clean || res.Objects != 3 {
		t.Fatalf("want 3 clean objects:\n%s", dump(res))
	}
}

func TestCabBadLZXAndQuantumFoldersAreReportedAndWalkContinues(t *testing.T) {
	data := makeCab(t,
		cabTestFolder{cabCompLZX | 21<<8, []cabTestFile{{"lzx.exe", eicar}}},
		cabTestFolder{cabCompLZX | 22<<8, []cabTestFile{{"lzx22.exe", eicar}}},
		cabTestFolder{cabCompQuantum | 15<<8, []cabTestFile{{"q.exe", eicar}}},
		cabTestFolder{cabCompQuantum | 22<<8, []cabTestFile{{"q22.exe", eicar}}},
		cabTestFolder{cabCompMSZIP, []cabTestFile{{"eicar.com", eicar}}})
	res := walkQuiet("l.cab", data)
	wantDetection(t, res, "l.cab/lzx.exe", verdict.Infected, "")
	wantDetection(t, res, "l.cab/lzx22.exe", verdict.Corrupted, "window size 2^22 not supported")
	wantDetection(t, res, "l.cab/q.exe", verdict.Infected, "")
	wantDetection(t, res, "l.cab/q22.exe", verdict.Corrupted, "cab: Quantum: window size 2^22 not supported")
	wantDetection(t, res, "l.cab/eicar.com", verdict.Infected, "")
	wantNoDetection(t, res, verdict.Unchecked)
}

func TestCabTruncatedIsCorruptedAndEarlierMembersScanned(t *testing.T) {
	for _, comp := range []uint16{cabCompNone, cabCompMSZIP} {
		big := randomBytes(t, 70000)
		data := makeCab(t, cabTestFolder{comp, []cabTestFile{{"eicar.com", eicar}, {"big.bin", big}, {"last.txt", []byte("last")}}})
		res := walkQuiet("t.cab", data[:len(data)-20000])
		wantDetection(t, res, "t.cab/eicar.com", verdict.Infected, "")
		wantDetection(t, res, "t.cab/big.bin", verdict.Corrupted, "truncated")
		wantDetection(t, res, "t.cab/last.txt", verdict.Corrupted, "")

		// Cut inside the file table.
		res = walkQuiet("f.cab", data[:cabHeaderLen+cabFolderLen+30])
		wantDetection(t, res, "f.cab", verdict.Corrupted, "file table truncated after 1 of 3 files")
		res = walkQuiet("h.cab", data[:30])
		wantDetection(t, res, "h.cab", verdict.Corrupted, "header truncated")
	}
}

func TestCabFilesOutOfOrderAreRead(t *testing.T) {
	// Reverse the file table: each file restarts the folder.
	data := makeCab(t, cabTestFolder{cabCompMSZIP, []cabTestFile{{"a.txt", []byte("alpha")}, {"eicar.com", eicar}}})
	cab, err := parseCab(data)
	if err != nil || len(cab.files) != 2 {
		t.Fatal(err)
	}
	first := cabHeaderLen + cabFolderLen
	second := first + cabFileLen + len("a.txt") + 1
	end := second + cabFileLen + len("eicar.com") + 1
	table := append(append([]byte(nil), data[second:end]...), data[first:second]...)
	copy(data[first:end], table)
	res := walkQuiet("r.cab", data)
	wantDetection(t, res, "r.cab/eicar.com", verdict.Infected, "")
	if res.Objects != 3 || len(res.Detections) != 1 {
		t.Errorf("%s", dump(res))
	}
}

// TestCabNestedThreeLevels: a cpio inside a cab inside an xz, all made in Go.
func TestCabNestedThreeLevels(t *testing.T) {
	cp := makeCpio(t, "newc", cpioFile{"bin/eicar.com", 0o100755, eicar})
	cab := makeCab(t, cabTestFolder{cabCompMSZIP, []cabTestFile{{`pkg\payload.cpio`, cp}}})
	res := walk("setup.cab.xz", makeXz(t, cab), Limits{})
	d := wantDetection(t, res, "setup.cab.xz/setup.cab/pkg/payload.cpio/bin/eicar.com", verdict.Infected, "")
	if d.Depth != 3 {
		t.Errorf("depth %d", d.Depth)
	}
}

func FuzzWalkCab(f *testing.F) {
	for _, comp := range []uint16{cabCompNone, cabCompMSZIP, cabCompLZX, cabCompQuantum | 15<<8} {
		d := makeCab(f, cabTestFolder{comp, []cabTestFile{{"a", []byte("abc")}, {"b.gz", makeGzip(f, eicar)}}},
			cabTestFolder{cabCompMSZIP, []cabTestFile{{"c", bytes.Repeat([]byte("c"), 40000)}}})
		f.Add(d)
		f.Add(d[:len(d)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.cab", data)
	})
}
