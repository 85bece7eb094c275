package unpack

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"testing"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// makeSZDD compresses data into an SZDD file with a simple greedy LZSS
// encoder (the ring buffer as COMPRESS.EXE sets it up; matches are looked
// for among the positions already written).
func makeSZDD(data []byte, last byte) []byte {
	out := append([]byte(nil), szddMagic...)
	out = append(out, 'A', last)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	var win [szddWindow]byte
	for i := range win {
		win[i] = ' '
	}
	pos := szddWindow - 16
	written := 0 // ring positions holding our output (besides the spaces)
	var group []byte
	flags, nitems, flagAt := byte(0), 0, 0
	flush := func() {
		out[flagAt] = flags
		out = append(out, group...)
		group, flags, nitems = group[:0], 0, 0
	}
	for i := 0; i < len(data); {
		if nitems == 0 {
			flagAt = len(out)
			out = append(out, 0)
		}
		bestLen, bestAt := 0, 0
		for back := 1; back <= min(written, szddWindow-18); back++ {
			at := (pos - back) & (szddWindow - 1)
			l := 0
			for l < 18 && i+l < len(data) && win[(at+l)&(szddWindow-1)] == data[i+l] && l < back {
				l++
			}
			if l > bestLen {
				bestLen, bestAt = l, at
			}
		}
		n := 1
		if bestLen >= 3 {
			group = append(group, byte(bestAt), byte(bestAt>>4&0xf0)|byte(bestLen-3))
			n = bestLen
		} else {
			flags |= 1 << nitems
			group = append(group, data[i])
		}
		for k := 0; k < n; k++ {
			win[pos] = data[i+k]
			pos = (pos + 1) & (szddWindow - 1)
		}
		written += n
		i += n
		if nitems++; nitems == 8 {
			flush()
		}
	}
	if nitems > 0 {
		flush()
	}
	return out
}

func TestSZDDFindsEICAR(t *testing.T) {
	payload := append(bytes.Repeat([]byte("abcabcabc "), 50), eicar...)
	data := makeSZDD(payload, 'm')
	if len(data) >= len(payload) {
		t.Fatalf("encoder did not compress: %d bytes", len(data))
	}
	if got := filetype.Detect(data, ""); got != filetype.SZDD {
		t.Fatalf("detected %s", got)
	}
	res := walk("EICAR.CO_", data, Limits{})
	d := wantDetection(t, res, "EICAR.CO_/EICAR.COm", verdict.Infected, "")
	if d.Depth != 1 {
		t.Errorf("depth %d", d.Depth)
	}
	// The reader reproduces the input exactly.
	got, err := readAllSZDD(data)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("round trip: %v", err)
	}
}

func readAllSZDD(data []byte) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(newSZDDReader(data[szddHeaderLen:], int64(binary.LittleEndian.Uint32(data[10:]))))
	return b.Bytes(), err
}

func TestSZDDFindsEICARCompressedByMscompress(t *testing.T) {
	if _, err := exec.LookPath("mscompress"); err != nil {
		t.Skip("mscompress command not installed")
	}
	dir := t.TempDir()
	payload := append(bytes.Repeat([]byte("hello world "), 300), eicar...)
	writeFile(t, filepath.Join(dir, "eicar.com"), payload)
	cmd := exec.Command("mscompress", "eicar.com")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mscompress: %v\n%s", err, out)
	}
	data := readFile(t, filepath.Join(dir, "eicar.com_"))
	res := walkQuiet("eicar.com_", data)
	wantDetection(t, res, "eicar.com_/eicar.com", verdict.Infected, "")
	got, err := readAllSZDD(data)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestSZDDCleanAndLiteralOnly(t *testing.T) {
	// Literal-only encoding: flag byte 0xff and eight bytes.
	d := append(append([]byte(nil), szddMagic...), 'A', 0, 8, 0, 0, 0, 0xff)
	d = append(d, "clean!!\n"...)
	res := walk("c.tx_", d, Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
	got, err := readAllSZDD(d)
	if err != nil || string(got) != "clean!!\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestSZDDTruncatedIsCorrupted(t *testing.T) {
	data := makeSZDD(append(append([]byte(nil), eicar...), randomBytes(t, 3000)...), 'e')
	res := walkQuiet("t.ex_", data[:len(data)/2])
	wantDetection(t, res, "t.ex_/t.exe", verdict.Corrupted, "unexpected EOF")
	wantDetection(t, res, "t.ex_/t.exe", verdict.Infected, "")

	res = walk("h.ex_", data[:12], Limits{})
	wantDetection(t, res, "h.ex_", verdict.Corrupted, "szdd header truncated")
}

func TestSZDDName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		last byte
		want string
	}{{"SETUP.EX_", 'E', "SETUP.EXE"}, {"a.txt_", 0, "a.txt"}, {"plain", 'x', "plain"}, {"x_", '/', "x"}} {
		if got := szddName(tc.in, tc.last); got != tc.want {
			t.Errorf("szddName(%q, %q) = %q, want %q", tc.in, tc.last, got, tc.want)
		}
	}
}

func FuzzWalkSZDD(f *testing.F) {
	d := makeSZDD(append(bytes.Repeat([]byte("abc"), 100), eicar...), 'e')
	f.Add(d)
	f.Add(d[:len(d)/2])
	f.Add(makeSZDD(makeGzip(f, []byte("inner")), 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.ex_", data)
	})
}
