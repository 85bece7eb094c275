package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os/exec"
	"testing"

	"github.com/ulikunitz/xz"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// makeXz compresses data with ulikunitz/xz's writer.
func makeXz(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := xz.NewWriter(&buf)
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

// compressCLI pipes data through a compression command, or skips the test.
func compressCLI(t *testing.T, data []byte, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s command not installed", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out
}

// quiet inspects members only: the raw container may hold EICAR stored.
func quietTop(top string) InspectFunc {
	return func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Path == top {
			return nil, false, nil
		}
		return inspectEICAR(ctx, o)
	}
}

func walkQuiet(name string, data []byte) verdict.Result {
	w := &Walker{Inspect: quietTop(name)}
	return w.Walk(context.Background(), name, data, "", false)
}

func TestXzFindsEICAR(t *testing.T) {
	res := walk("e.txt.xz", makeXz(t, eicar), Limits{})
	d := wantDetection(t, res, "e.txt.xz/e.txt", verdict.Infected, "")
	if d.Type != "text" || d.Depth != 1 {
		t.Errorf("detection %+v", d)
	}
}

func TestXzFindsEICARCompressedByXzCLI(t *testing.T) {
	// Several blocks and two concatenated streams with padding between.
	payload := append(randomBytes(t, 20000), eicar...)
	one := compressCLI(t, payload, "xz", "-c", "--block-size=4096", "--check=sha256")
	two := compressCLI(t, []byte("second stream"), "xz", "-c", "--check=crc32")
	data := append(append(append([]byte(nil), one...), 0, 0, 0, 0), two...)
	res := walk("m.xz", data, Limits{})
	wantDetection(t, res, "m.xz/m", verdict.Infected, "")
	if _, ok := detection(res, "m.xz", verdict.Corrupted); ok {
		t.Errorf("well-formed file reported corrupt:\n%s", dump(res))
	}
	if bound, err := xzBound(data); err != nil || len(bound) != len(data) {
		t.Errorf("xzBound: %d of %d bytes, %v", len(bound), len(data), err)
	}
}

func TestXzTarXzHoldsATar(t *testing.T) {
	tr := makeTar(t, 0, tarEntry{name: "dir/eicar.com", data: eicar})
	res := walk("a.txz", makeXz(t, tr), Limits{})
	wantDetection(t, res, "a.txz/a.tar/dir/eicar.com", verdict.Infected, "")
}

func TestXzCleanIsClean(t *testing.T) {
	res := walk("c.xz", makeXz(t, bytes.Repeat([]byte("clean "), 1000)), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

func TestXzTruncatedIsCorrupted(t *testing.T) {
	data := makeXz(t, append(eicar, randomBytes(t, 8192)...))
	res := walkQuiet("t.xz", data[:len(data)/2])
	wantDetection(t, res, "t.xz/t", verdict.Corrupted, "")
	// The EICAR prefix came out before the cut.
	wantDetection(t, res, "t.xz/t", verdict.Infected, "")

	res = walk("h.xz", data[:8], Limits{})
	wantDetection(t, res, "h.xz", verdict.Corrupted, "xz header")
}

// TestXzHugeDictionaryIsLowered declares a 4 GiB dictionary for a tiny
// block: the decoder must not allocate it.
func TestXzHugeDictionaryIsLowered(t *testing.T) {
	data := makeXz(t, eicar)
	// The first block header follows the 12-byte stream header; the
	// ulikunitz writer puts one LZMA2 filter with no optional sizes.
	h := data[12:]
	hsize := (int(h[0]) + 1) * 4
	if h[2] != 0x21 || h[3] != 1 {
		t.Fatalf("unexpected block header % x", h[:hsize])
	}
	h[4] = 40
	binary.LittleEndian.PutUint32(h[hsize-4:], crc32.ChecksumIEEE(h[:hsize-4]))
	bound, err := xzBound(data)
	if err != nil || bound[12+4] != 0 {
		t.Fatalf("dictionary byte %d, err %v", bound[12+4], err)
	}
	if data[12+4] != 40 {
		t.Fatal("xzBound changed its input")
	}
	var res verdict.Result
	grew := heapGrowth(func() { res = walk("d.xz", data, Limits{}) })
	wantDetection(t, res, "d.xz/d", verdict.Infected, "")
	if grew > 64<<20 {
		t.Errorf("heap grew by %d bytes", grew)
	}
}

func TestXzBoundCutsBrokenStructure(t *testing.T) {
	data := makeXz(t, eicar)
	for _, tc := range []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"bad header crc", func(d []byte) []byte { d[12+1] ^= 0xff; return d }},
		{"truncated chunk", func(d []byte) []byte { return d[:20] }},
		{"garbage after", func(d []byte) []byte { return append(d, "junk"...) }},
	} {
		d := tc.mod(append([]byte(nil), data...))
		bound, err := xzBound(d)
		if err == nil || len(bound) >= len(d) {
			t.Errorf("%s: %d of %d bytes kept, err %v", tc.name, len(bound), len(d), err)
		}
		res := walk("b.xz", d, Limits{})
		if res.Status == verdict.Clean {
			t.Errorf("%s: clean:\n%s", tc.name, dump(res))
		}
	}
}

func FuzzWalkXz(f *testing.F) {
	f.Add(makeXz(f, eicar))
	f.Add(makeXz(f, makeTar(f, 0, tarEntry{name: "a", data: []byte("a")})))
	two := append(makeXz(f, []byte("one")), makeXz(f, []byte("two"))...)
	f.Add(two)
	f.Add(two[:len(two)-7])
	f.Add([]byte("\xfd7zXZ\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.txz", data)
	})
}

func TestArchiveFormatsAreRegistered(t *testing.T) {
	for tt, name := range map[filetype.Type]string{
		filetype.Xz: "xz", filetype.Lzma: "lzma", filetype.SevenZ: "7z", filetype.Rar: "rar",
		filetype.Cab: "cab", filetype.Cpio: "cpio", filetype.Arj: "arj", filetype.SZDD: "szdd",
	} {
		if f := Lookup(tt); f == nil || f.Name != name {
			t.Errorf("type %s: format %+v, want %s", tt, f, name)
		}
	}
}
