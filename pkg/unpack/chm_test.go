package unpack

import (
	"bytes"
	"encoding/binary"
	"testing"

	"ave/pkg/verdict"
)

type chmEntry struct {
	name    string
	section uint64
	data    []byte
}

func putEncint(b *bytes.Buffer, v uint64) {
	var groups []byte
	for {
		groups = append([]byte{byte(v & 0x7f)}, groups...)
		v >>= 7
		if v == 0 {
			break
		}
	}
	for i, g := range groups {
		if i < len(groups)-1 {
			g |= 0x80
		}
		b.WriteByte(g)
	}
}

// makeCHM writes an ITSF version 3 file with one PMGL chunk; entries of
// section 0 are stored in the content area, those of section 1 only get a
// directory entry (their offsets point into a compressed section the
// reader does not decode).
func makeCHM(entries ...chmEntry) []byte {
	const chunkSize = 0x1000
	var content, list bytes.Buffer
	for _, e := range entries {
		putEncint(&list, uint64(len(e.name)))
		list.WriteString(e.name)
		putEncint(&list, e.section)
		if e.section == 0 {
			putEncint(&list, uint64(content.Len()))
			content.Write(e.data)
		} else {
			putEncint(&list, 0)
		}
		putEncint(&list, uint64(len(e.data)))
	}
	chunk := make([]byte, chunkSize)
	copy(chunk, "PMGL")
	binary.LittleEndian.PutUint32(chunk[4:], uint32(chunkSize-0x14-list.Len()))
	binary.LittleEndian.PutUint32(chunk[0x0c:], 0xffffffff)
	binary.LittleEndian.PutUint32(chunk[0x10:], 0xffffffff)
	copy(chunk[0x14:], list.Bytes())

	itsp := make([]byte, 0x54)
	copy(itsp, "ITSP")
	binary.LittleEndian.PutUint32(itsp[4:], 1)
	binary.LittleEndian.PutUint32(itsp[8:], 0x54)
	binary.LittleEndian.PutUint32(itsp[0x0c:], 10)
	binary.LittleEndian.PutUint32(itsp[0x10:], chunkSize)
	binary.LittleEndian.PutUint32(itsp[0x14:], 2)
	binary.LittleEndian.PutUint32(itsp[0x18:], 1)
	binary.LittleEndian.PutUint32(itsp[0x1c:], 0xffffffff)
	binary.LittleEndian.PutUint32(itsp[0x24:], 0)
	binary.LittleEndian.PutUint32(itsp[0x2c:], 1)

	const hdrLen, sec0Len = 0x60, 0x18
	dirOff := uint64(hdrLen + sec0Len)
	dirLen := uint64(len(itsp) + chunkSize)
	h := make([]byte, hdrLen+sec0Len)
	copy(h, "ITSF")
	binary.LittleEndian.PutUint32(h[4:], 3)
	binary.LittleEndian.PutUint32(h[8:], hdrLen)
	binary.LittleEndian.PutUint32(h[0x0c:], 1)
	binary.LittleEndian.PutUint64(h[0x38:], hdrLen)
	binary.LittleEndian.PutUint64(h[0x40:], sec0Len)
	binary.LittleEndian.PutUint64(h[0x48:], dirOff)
	binary.LittleEndian.PutUint64(h[0x50:], dirLen)
	binary.LittleEndian.PutUint64(h[0x58:], dirOff+dirLen)
	h[hdrLen] = 0xfe
	out := append(h, itsp...)
	out = append(out, chunk...)
	return append(out, content.Bytes()...)
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

func TestCHMSection0FilesAndLZXReported(t *testing.T) {
	res := walk("help.chm", chmSample(eicar), Limits{})
	d := wantDetection(t, res, "help.chm/html/run.exe", verdict.Infected, "")
	if d.Depth != 1 {
		t.Errorf("depth %d", d.Depth)
	}
	wantDetection(t, res, "help.chm/html/compressed.htm", verdict.Corrupted, "unsupported compression LZX")
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

func FuzzWalkCHM(f *testing.F) {
	f.Add(chmSample([]byte("harmless")))
	f.Add(makeCHM(chmEntry{"/a", 0, []byte("x")}, chmEntry{"/b", 2, []byte("y")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.chm", data)
	})
}
