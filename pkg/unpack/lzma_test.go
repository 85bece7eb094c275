package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/ulikunitz/xz/lzma"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// makeLzma compresses data in the LZMA alone format (unknown size, with an
// end marker) with ulikunitz/xz's writer.
func makeLzma(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := lzma.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLzmaIsDetectedByContent(t *testing.T) {
	if got := filetype.Detect(makeLzma(t, eicar), ""); got != filetype.Lzma {
		t.Errorf("Go writer: detected %s", got)
	}
	for _, b := range [][]byte{
		[]byte("]\x00\x00\x80\x00 not lzma at all"),
		append([]byte{0x5d, 0, 0x10, 0, 0x07}, make([]byte, 9)...), // dictionary 0x07001000
	} {
		if got := filetype.Detect(b, ""); got == filetype.Lzma {
			t.Errorf("% x detected as lzma", b)
		}
	}
}

func TestLzmaFindsEICAR(t *testing.T) {
	res := walk("e.com.lzma", makeLzma(t, eicar), Limits{})
	wantDetection(t, res, "e.com.lzma/e.com", verdict.Infected, "")
}

func TestLzmaFindsEICARCompressedByXzCLI(t *testing.T) {
	data := compressCLI(t, append(randomBytes(t, 5000), eicar...), "xz", "-c", "--format=lzma")
	if got := filetype.Detect(data, ""); got != filetype.Lzma {
		t.Fatalf("detected %s", got)
	}
	res := walk("a.tlz", data, Limits{})
	wantDetection(t, res, "a.tlz/a.tar", verdict.Infected, "")
}

func TestLzmaKnownSizeAndCleanContent(t *testing.T) {
	var buf bytes.Buffer
	content := bytes.Repeat([]byte("clean "), 500)
	zw, err := lzma.WriterConfig{Size: int64(len(content)), EOSMarker: false}.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(content)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	res := walk("c.lzma", buf.Bytes(), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

func TestLzmaTruncatedIsCorrupted(t *testing.T) {
	data := makeLzma(t, append(append([]byte(nil), eicar...), randomBytes(t, 8192)...))
	res := walkQuiet("t.lzma", data[:len(data)/2])
	wantDetection(t, res, "t.lzma/t", verdict.Corrupted, "")
	wantDetection(t, res, "t.lzma/t", verdict.Infected, "")

	res = walkHint("h.lzma", data[:10], filetype.Lzma, Limits{})
	wantDetection(t, res, "h.lzma", verdict.Corrupted, "lzma header truncated")
}

func TestLzmaHugeDictionaryIsLowered(t *testing.T) {
	data := makeLzma(t, eicar)
	binary.LittleEndian.PutUint32(data[1:], 3<<29) // 1.5 GiB
	var res verdict.Result
	grew := heapGrowth(func() { res = walk("d.lzma", data, Limits{}) })
	wantDetection(t, res, "d.lzma/d", verdict.Infected, "")
	if grew > 256<<20 {
		t.Errorf("heap grew by %d bytes", grew)
	}
}

func FuzzWalkLzma(f *testing.F) {
	f.Add(makeLzma(f, eicar))
	d := makeLzma(f, bytes.Repeat([]byte("abc"), 300))
	f.Add(d)
	f.Add(d[:len(d)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 14 || filetype.Detect(data, "") != filetype.Lzma {
			// Most mutations break the header heuristics; walk them as lzma anyway.
			w := &Walker{Limits: Limits{MaxObjectSize: 1 << 20, MaxScanBytes: 4 << 20, MaxDepth: 4, MaxFiles: 64, MaxRatio: 100, RatioFloor: 64 << 10}, Inspect: inspectEICAR}
			w.Walk(context.Background(), "f.lzma", data, filetype.Lzma, false)
			return
		}
		fuzzWalk(t, "f.lzma", data)
	})
}
