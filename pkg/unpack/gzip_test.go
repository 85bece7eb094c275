package unpack

import (
	"bytes"
	"compress/gzip"
	"testing"

	"ave/pkg/verdict"
)

func gzipNamed(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name = name
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGzipFindsEICAR(t *testing.T) {
	res := walk("eicar.com.gz", makeGzip(t, eicar), Limits{})
	wantDetection(t, res, "eicar.com.gz/eicar.com", verdict.Infected, "")
}

func TestGzipFindsEICARInTarGz(t *testing.T) {
	tgz := makeGzip(t, makeTar(t, 0, tarEntry{name: "dir/eicar.com", data: eicar}))
	res := walk("x.tar.gz", tgz, Limits{})
	d := wantDetection(t, res, "x.tar.gz/x.tar/dir/eicar.com", verdict.Infected, "")
	if d.Depth != 2 {
		t.Errorf("depth %d", d.Depth)
	}
	res = walk("x.tgz", tgz, Limits{})
	wantDetection(t, res, "x.tgz/x.tar/dir/eicar.com", verdict.Infected, "")
}

func TestGzipCleanIsClean(t *testing.T) {
	res := walk("c.gz", makeGzip(t, []byte("clean")), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

func TestGzipMemberName(t *testing.T) {
	for _, tc := range []struct{ header, container, want string }{
		{"", "a.tar.gz", "a.tar"},
		{"", "a.tgz", "a.tar"},
		{"", "A.GZIP", "A"},
		{"", "a.Z", "a"},
		{"", "data", "data"},
		{"report.pdf", "x.gz", "report.pdf"},
		{"/tmp/dir/report.pdf", "x.gz", "report.pdf"},
		{`C:\dir\report.pdf`, "x.gz", "report.pdf"},
		{"/", "x.gz", "x"},
	} {
		if got := gzipMemberName(tc.header, tc.container); got != tc.want {
			t.Errorf("gzipMemberName(%q, %q) = %q, want %q", tc.header, tc.container, got, tc.want)
		}
	}
	res := walk("x.gz", gzipNamed(t, "orig.exe", eicar), Limits{})
	wantDetection(t, res, "x.gz/orig.exe", verdict.Infected, "")
}

func TestGzipMultistreamIsReadWhole(t *testing.T) {
	data := append(makeGzip(t, []byte("first member, ")), makeGzip(t, eicar)...)
	res := walk("m.gz", data, Limits{})
	wantDetection(t, res, "m.gz/m", verdict.Infected, "")
	if _, ok := detection(res, "m.gz/m", verdict.Corrupted); ok {
		t.Errorf("multistream reported corrupted:\n%s", dump(res))
	}
}

func TestGzipTrailingZerosAreIgnoredAndGarbageIsCorrupt(t *testing.T) {
	res := walk("p.gz", append(makeGzip(t, eicar), make([]byte, 512)...), Limits{})
	wantDetection(t, res, "p.gz/p", verdict.Infected, "")
	if res.Status != verdict.Infected || len(res.Detections) != 1 {
		t.Errorf("zero padding reported:\n%s", dump(res))
	}
	res = walk("g.gz", append(makeGzip(t, eicar), "garbage"...), Limits{})
	wantDetection(t, res, "g.gz/g", verdict.Infected, "")
	wantDetection(t, res, "g.gz/g", verdict.Corrupted, "7 bytes of trailing data after the last member")
}

func TestGzipTruncatedIsCorrupted(t *testing.T) {
	data := makeGzip(t, append(randomBytes(t, 4096), eicar...))
	res := walk("t.gz", data[:len(data)-100], Limits{})
	wantDetection(t, res, "t.gz/t", verdict.Corrupted, "unexpected EOF")

	res = walk("h.gz", data[:5], Limits{})
	wantDetection(t, res, "h.gz", verdict.Corrupted, "gzip header")
}

func TestGzipCorruptDataIsCorrupted(t *testing.T) {
	data := makeGzip(t, bytes.Repeat([]byte("abcdefgh"), 1000))
	bad := append([]byte(nil), data...)
	for i := 12; i < 40; i++ {
		bad[i] ^= 0x55
	}
	res := walk("c.gz", bad, Limits{})
	wantDetection(t, res, "c.gz/c", verdict.Corrupted, "")
}

func FuzzWalkGzip(f *testing.F) {
	f.Add(makeGzip(f, eicar))
	f.Add(gzipNamed(f, "name.tar", makeTar(f, 0, tarEntry{name: "a", data: []byte("a")})))
	two := append(makeGzip(f, []byte("one")), makeGzip(f, []byte("two"))...)
	f.Add(two)
	f.Add(two[:len(two)-3])
	f.Add([]byte{0x1f, 0x8b, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.tar.gz", data)
	})
}
