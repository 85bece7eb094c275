package unpack

import (
	"testing"

	"ave/internal/fmtwrite"
	"ave/pkg/verdict"
)

// chmEntry is fmtwrite.CHMEntry for literals without field names.
type chmEntry struct {
	name    string
	section uint64
	data    []byte
}

func chmEntries(entries []chmEntry) []fmtwrite.CHMEntry {
	out := make([]fmtwrite.CHMEntry, len(entries))
	for i, e := range entries {
		out[i] = fmtwrite.CHMEntry{Name: e.name, Section: e.section, Data: e.data}
	}
	return out
}

// makeCHM writes an ITSF version 3 file with one PMGL chunk
// (fmtwrite.CHM); entries of section 0 are stored in the content area,
// those of section 1 only get a directory entry, their offsets following
// each other in the compressed section (see makeCHMLZX). It panics if
// the directory does not fit in the chunk, which a test's few entries
// always do.
func makeCHM(entries ...chmEntry) []byte {
	data, err := fmtwrite.CHM(chmEntries(entries)...)
	if err != nil {
		panic(err)
	}
	return data
}

func chmSample(payload []byte) []byte {
	return makeCHM(
		chmEntry{"/", 0, nil},
		chmEntry{"/#SYSTEM", 0, []byte("system data")},
		chmEntry{"::DataSpace/NameList", 0, []byte("names")},
		chmEntry{"/html/", 0, nil},
		chmEntry{"/html/index.htm", 0, []byte("<html><body>help</body></html>")},
		chmEntry{"/html/run.exe", 0, payload},
		chmEntry{"/html/compressed.htm", 1, []byte("not really here")},
	)
}

func TestCHMSection0FilesAndMissingLZXSectionReported(t *testing.T) {
	res := walk("help.chm", chmSample(eicar), Limits{})
	d := wantDetection(t, res, "help.chm/html/run.exe", verdict.Infected, "")
	if d.Depth != 1 {
		t.Errorf("depth %d", d.Depth)
	}
	wantDetection(t, res, "help.chm/html/compressed.htm", verdict.Corrupted, "LZX section without its content or control data")
	if res.Objects != 3 {
		t.Errorf("want the file and 2 stored members:\n%s", dump(res))
	}
}

func TestCHMTruncatedIsCorrupted(t *testing.T) {
	data := chmSample(append(append([]byte{}, eicar...), make([]byte, 100)...))
	res := walk("t.chm", data[:len(data)-50], Limits{})
	wantDetection(t, res, "t.chm/html/run.exe", verdict.Infected, "")
	wantDetection(t, res, "t.chm/html/run.exe", verdict.Corrupted, "truncated")
	res = walk("t.chm", data[:0x200], Limits{})
	wantDetection(t, res, "t.chm", verdict.Corrupted, "directory truncated")
}

func TestCHMCleanIsClean(t *testing.T) {
	res := walk("c.chm", makeCHM(chmEntry{"/a.htm", 0, []byte("<p>a</p>")}), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

// makeCHMLZX adds the MSCompressed section for the section 1 entries
// (fmtwrite.CHMLZX): their contents concatenated, compressed by the LZX
// encoder as one independent stream per reset interval (resetFrames
// frames) in blocks of every kind, with the control data and the reset
// table. damage 1 (fmtwrite.CHMBrokenAfterFirst) breaks the stream
// after the first interval, damage 2 (CHMContentCutInHalf) cuts the
// compressed content in half. It panics like makeCHM.
func makeCHMLZX(bits int, resetFrames int, damage fmtwrite.CHMDamage, entries ...chmEntry) []byte {
	data, err := fmtwrite.CHMLZX(fmtwrite.CHMSection{Bits: bits, ResetFrames: resetFrames, Damage: damage}, chmEntries(entries)...)
	if err != nil {
		panic(err)
	}
	return data
}

func TestCHMLZXSectionFilesAreDecoded(t *testing.T) {
	big := lzxSample(150000)
	entries := []chmEntry{
		{"/#SYSTEM", 0, []byte("system data")},
		{"/index.htm", 1, []byte("<html><body>help</body></html>")},
		{"/big.bin", 1, big},
		{"/html/run.exe", 1, eicar},
		{"/html/stored.exe", 0, eicar},
		{"/late.htm", 1, append(append([]byte(nil), big[1000:90000]...), eicar...)},
	}
	for _, bits := range []int{15, 16, 17} {
		for _, reset := range []int{1, 2, 4} {
			res := walk("help.chm", makeCHMLZX(bits, reset, 0, entries...), Limits{})
			wantDetection(t, res, "help.chm/html/run.exe", verdict.Infected, "")
			wantDetection(t, res, "help.chm/html/stored.exe", verdict.Infected, "")
			wantDetection(t, res, "help.chm/late.htm", verdict.Infected, "")
			if res.Objects != 6 || len(res.Detections) != 4 {
				t.Errorf("bits %d reset %d: want the file, five members and four detections (the file holds a stored EICAR):\n%s", bits, reset, dump(res))
			}
		}
	}
}

func TestCHMLZXDamagedIsCorruptedAndEarlierFilesScanned(t *testing.T) {
	big := lzxSample(100000)
	entries := []chmEntry{
		{"/a/run.exe", 1, eicar},
		{"/b/big.bin", 1, big},
		{"/c/late.exe", 1, eicar},
	}
	data := makeCHMLZX(16, 1, 1, entries...)
	res := walk("d.chm", data, Limits{})
	wantDetection(t, res, "d.chm/a/run.exe", verdict.Infected, "")
	wantDetection(t, res, "d.chm/b/big.bin", verdict.Corrupted, "lzx")
	// late.exe starts after a reset point: it is found from there.
	wantDetection(t, res, "d.chm/c/late.exe", verdict.Infected, "")

	// The compressed content cut in half.
	res = walk("t.chm", makeCHMLZX(16, 1, 2, entries...), Limits{})
	wantDetection(t, res, "t.chm/a/run.exe", verdict.Infected, "")
	wantDetection(t, res, "t.chm/b/big.bin", verdict.Corrupted, "truncated")
	wantDetection(t, res, "t.chm/c/late.exe", verdict.Corrupted, "")
}

func FuzzWalkCHM(f *testing.F) {
	f.Add(chmSample([]byte("harmless")))
	f.Add(makeCHMLZX(15, 1, 0, chmEntry{"/a", 1, lzxSample(40000)}, chmEntry{"/b", 1, eicar}))
	f.Add(makeCHM(chmEntry{"/a", 0, []byte("x")}, chmEntry{"/b", 2, []byte("y")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.chm", data)
	})
}
