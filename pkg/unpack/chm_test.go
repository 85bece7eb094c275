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
// directory entry, their offsets following each other in the compressed
// section (see makeCHMLZX).
func makeCHM(entries ...chmEntry) []byte {
	const chunkSize = 0x1000
	var content, list bytes.Buffer
	sec1 := uint64(0)
	for _, e := range entries {
		putEncint(&list, uint64(len(e.name)))
		list.WriteString(e.name)
		putEncint(&list, e.section)
		if e.section == 0 {
			putEncint(&list, uint64(content.Len()))
			content.Write(e.data)
		} else {
			putEncint(&list, sec1)
			sec1 += uint64(len(e.data))
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

// makeCHMLZX adds the MSCompressed section for the section 1 entries:
// their contents concatenated, compressed by the test LZX encoder as one
// independent stream per reset interval (resetFrames frames), with the
// control data (LZXC version 2) and the reset table of every frame's
// compressed offset. damage 1 breaks the stream after the first interval,
// damage 2 cuts the compressed content in half.
func makeCHMLZX(bits int, resetFrames int, damage int, entries ...chmEntry) []byte {
	var plain []byte
	for _, e := range entries {
		if e.section == 1 {
			plain = append(plain, e.data...)
		}
	}
	var comp []byte
	var frames []uint64
	step := resetFrames * lzxFrameSize
	for at := 0; at < len(plain); at += step {
		part := plain[at:min(at+step, len(plain))]
		enc, ends := lzxEncode(part, bits, 0, 20000, lzxBlockVerbatim, lzxBlockAligned, lzxBlockStored)
		base := uint64(len(comp))
		frames = append(frames, base)
		for _, e := range ends[:len(ends)-1] {
			frames = append(frames, base+uint64(e))
		}
		comp = append(comp, enc...)
		if damage == 1 && at == 0 {
			comp = append(comp, 0xff, 0xff) // breaks the next interval when read on
		}
	}
	if damage == 2 {
		comp = comp[:len(comp)/2]
	}
	ctl := make([]byte, 28)
	le := binary.LittleEndian
	le.PutUint32(ctl, 6)
	copy(ctl[4:], "LZXC")
	le.PutUint32(ctl[8:], 2)
	le.PutUint32(ctl[12:], uint32(resetFrames))
	le.PutUint32(ctl[16:], uint32(1<<bits/lzxFrameSize))
	le.PutUint32(ctl[20:], uint32(resetFrames))
	rt := make([]byte, 0x28)
	le.PutUint32(rt, 2)
	le.PutUint32(rt[4:], uint32(len(frames)))
	le.PutUint32(rt[8:], 8)
	le.PutUint32(rt[12:], 0x28)
	le.PutUint64(rt[0x10:], uint64(len(plain)))
	le.PutUint64(rt[0x18:], uint64(len(comp)))
	le.PutUint64(rt[0x20:], lzxFrameSize)
	for _, f := range frames {
		rt = le.AppendUint64(rt, f)
	}
	all := append([]chmEntry{
		{chmContentName, 0, comp},
		{chmControlName, 0, ctl},
		{chmResetName, 0, rt},
	}, entries...)
	return makeCHM(all...)
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
