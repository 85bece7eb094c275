package unpack

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// eicar is the EICAR anti-virus test file: harmless, detected by design.
var eicar = []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`)

// inspectEICAR is the test signature engine: EICAR anywhere in an object.
func inspectEICAR(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
	if bytes.Contains(o.Data, eicar) {
		return []verdict.Detection{{Status: verdict.Infected, Name: "EICAR", Engine: verdict.EngineBody}}, false, nil
	}
	return nil, false, nil
}

func walk(name string, data []byte, l Limits) verdict.Result {
	w := &Walker{Limits: l, Inspect: inspectEICAR}
	return w.Walk(context.Background(), name, data, "", false)
}

// detection returns the detection recorded for path with the given status.
func detection(res verdict.Result, path string, st verdict.Status) (verdict.Detection, bool) {
	for _, d := range res.Detections {
		if d.Path == path && d.Status == st {
			return d, true
		}
	}
	return verdict.Detection{}, false
}

func dump(res verdict.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %s, %d objects, %d bytes\n", res.Status, res.Objects, res.Bytes)
	for _, d := range res.Detections {
		fmt.Fprintf(&b, "  %s %s %q %s\n", d.Path, d.Status, d.Reason, d.Name)
	}
	return b.String()
}

// wantDetection fails unless path has a detection with status st whose
// reason contains reason; it returns that detection.
func wantDetection(t *testing.T, res verdict.Result, path string, st verdict.Status, reason string) verdict.Detection {
	t.Helper()
	d, ok := detection(res, path, st)
	if !ok {
		t.Fatalf("no %s detection for %q in:\n%s", st, path, dump(res))
	}
	if !strings.Contains(d.Reason, reason) {
		t.Fatalf("%s %s: reason %q does not contain %q", path, st, d.Reason, reason)
	}
	return d
}

func wantNoDetection(t *testing.T, res verdict.Result, st verdict.Status) {
	t.Helper()
	for _, d := range res.Detections {
		if d.Status == st {
			t.Fatalf("unexpected %s detection in:\n%s", st, dump(res))
		}
	}
}

type zipEntry struct {
	name   string
	data   []byte
	method uint16
}

// makeZip builds a zip with Go's archive/zip.
func makeZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeGzip(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// zeroDeflate writes a raw deflate stream of mib MiB of zeros to w without
// ever holding them: one MiB is compressed once, ending on a sync flush,
// and that byte-aligned run of blocks is repeated (each run starts with a
// literal zero, so it is valid after any other), then a final empty block.
// It returns the stream's CRC-32 and compressed size.
func zeroDeflate(t testing.TB, w io.Writer, mib int) (crc uint32, packed int64) {
	t.Helper()
	zeros := make([]byte, 1<<20)
	var chunk bytes.Buffer
	fw, err := flate.NewWriter(&chunk, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(zeros); err != nil {
		t.Fatal(err)
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < mib; i++ {
		if _, err := w.Write(chunk.Bytes()); err != nil {
			t.Fatal(err)
		}
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
		packed += int64(chunk.Len())
	}
	// A final fixed-Huffman block holding only the end-of-block code.
	if _, err := w.Write([]byte{0x03, 0x00}); err != nil {
		t.Fatal(err)
	}
	return crc, packed + 2
}

// zipBomb is a zip with one member of mib MiB of zeros (about 1 KiB per MiB).
func zipBomb(t testing.TB, mib int) []byte {
	t.Helper()
	var body bytes.Buffer
	crc, packed := zeroDeflate(t, &body, mib)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: "zeros.bin", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(packed), UncompressedSize64: uint64(mib) << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := body.WriteTo(w); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipBomb is a gzip file of mib MiB of zeros.
func gzipBomb(t testing.TB, mib int) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	crc, _ := zeroDeflate(t, &buf, mib)
	var trailer [8]byte
	for i := 0; i < 4; i++ {
		trailer[i] = byte(crc >> (8 * i))
		trailer[4+i] = byte(uint32(mib<<20) >> (8 * i))
	}
	buf.Write(trailer[:])
	return buf.Bytes()
}

// heapGrowth runs f and returns the largest heap growth seen while it ran,
// sampled every few milliseconds.
func heapGrowth(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	record := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > peak.Load() {
			peak.Store(ms.HeapAlloc)
		}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				record()
			}
		}
	}()
	f()
	close(done)
	<-stopped
	record()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

const heapBound = 200 << 20

func TestWalkFindsEICARInPlainFile(t *testing.T) {
	res := walk("eicar.com", eicar, Limits{})
	if res.Status != verdict.Infected {
		t.Fatalf("status %s, want INFECTED:\n%s", res.Status, dump(res))
	}
	d := wantDetection(t, res, "eicar.com", verdict.Infected, "")
	if d.Name != "EICAR" || d.Type != string(filetype.Text) || d.Depth != 0 {
		t.Errorf("detection %+v", d)
	}
	if res.Objects != 1 || res.Bytes != int64(len(eicar)) {
		t.Errorf("objects %d bytes %d", res.Objects, res.Bytes)
	}
}

func TestWalkCleanFileIsClean(t *testing.T) {
	res := walk("readme.txt", []byte("nothing to see here\n"), Limits{})
	if res.Status != verdict.Clean || len(res.Detections) != 0 {
		t.Fatalf("want CLEAN:\n%s", dump(res))
	}
}

func TestWalkEmptyObjectIsClean(t *testing.T) {
	res := walk("", nil, Limits{})
	if res.Status != verdict.Clean || res.Objects != 1 {
		t.Fatalf("want one clean object:\n%s", dump(res))
	}
}

func TestWalkStopsAtMaxDepth(t *testing.T) {
	data := makeZip(t, zipEntry{"eicar.com", eicar, zip.Deflate})
	var names []string
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("l%02d.zip", i)
		names = append([]string{name}, names...)
		if i < 19 {
			data = makeZip(t, zipEntry{name, data, zip.Deflate})
		}
	}
	// names[0] is the top object; the object at depth 16 is names[16].
	res := walk(names[0], data, Limits{MaxDepth: 16})
	path := strings.Join(names[:17], "/")
	d := wantDetection(t, res, path, verdict.Unchecked, "nesting deeper than MaxDepth 16")
	if d.Depth != 16 || d.Type != string(filetype.Zip) {
		t.Errorf("detection %+v", d)
	}
	wantNoDetection(t, res, verdict.Infected)
	if res.Status != verdict.Unchecked {
		t.Errorf("status %s", res.Status)
	}

	// With room for every level, the EICAR at the bottom is found.
	res = walk(names[0], data, Limits{MaxDepth: 24})
	wantDetection(t, res, strings.Join(names, "/")+"/eicar.com", verdict.Infected, "")
}

func TestWalkStopsAtMaxFilesWithBoundedMemory(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < 100000; i++ {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%06d", i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	var res verdict.Result
	grew := heapGrowth(func() { res = walk("many.zip", data, Limits{MaxFiles: 10000}) })
	wantDetection(t, res, "many.zip", verdict.Unchecked, "more than MaxFiles 10000 members")
	if res.Objects != 10001 {
		t.Errorf("%d objects scanned, want the archive and 10000 members", res.Objects)
	}
	t.Logf("heap growth %d MiB", grew>>20)
	if grew > heapBound {
		t.Errorf("heap grew by %d MiB walking 100,000 entries", grew>>20)
	}
}

func TestWalkStopsAtMaxScanBytes(t *testing.T) {
	var entries []zipEntry
	for i := 0; i < 5; i++ {
		entries = append(entries, zipEntry{fmt.Sprintf("r%d.bin", i), randomBytes(t, 1000), zip.Store})
	}
	entries = append(entries, zipEntry{"eicar.com", eicar, zip.Deflate})
	data := makeZip(t, entries...)
	res := walk("big.zip", data, Limits{MaxScanBytes: int64(len(data)) + 2500})
	found := false
	for _, d := range res.Detections {
		if d.Status == verdict.Unchecked && strings.Contains(d.Reason, "total bytes scanned over MaxScanBytes") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no MaxScanBytes detection:\n%s", dump(res))
	}
	if res.Bytes > int64(len(data))+2500 {
		t.Errorf("scanned %d bytes, over the limit", res.Bytes)
	}
	// The walk stopped: the member after the limit was not scanned.
	wantNoDetection(t, res, verdict.Infected)
}

func TestWalkStopsAtMaxObjectSize(t *testing.T) {
	zeros := make([]byte, 2<<20)
	l := Limits{MaxObjectSize: 1 << 20}

	// A zip declares the size: the member is refused before it is read.
	res := walk("a.zip", makeZip(t, zipEntry{"zeros.bin", zeros, zip.Deflate}, zipEntry{"eicar.com", eicar, zip.Store}), l)
	wantDetection(t, res, "a.zip/zeros.bin", verdict.Unchecked, "member of 2097152 bytes larger than MaxObjectSize 1048576")
	wantDetection(t, res, "a.zip/eicar.com", verdict.Infected, "")

	// gzip does not: reading stops at the limit.
	res = walk("z.gz", makeGzip(t, zeros), l)
	wantDetection(t, res, "z.gz/z", verdict.Unchecked, "member larger than MaxObjectSize 1048576")

	// A top object that the caller cut at the limit is inspected, not opened.
	w := &Walker{Limits: l, Inspect: inspectEICAR}
	res = w.Walk(context.Background(), "cut.zip", makeZip(t, zipEntry{"eicar.com", eicar, zip.Deflate}), "", true)
	wantDetection(t, res, "cut.zip", verdict.Unchecked, "object larger than MaxObjectSize")
	wantNoDetection(t, res, verdict.Infected)
}

func TestWalkStopsAtCompressionRatio(t *testing.T) {
	data := gzipBomb(t, 50)
	res := walk("bomb.gz", data, Limits{MaxRatio: 100})
	wantDetection(t, res, "bomb.gz/bomb", verdict.Unchecked, "compression ratio over MaxCompressionRatio 100")
}

func TestWalkZipBombIsUncheckedWithBoundedMemory(t *testing.T) {
	data := zipBomb(t, 1024)
	if len(data) > 4<<20 {
		t.Fatalf("bomb is %d bytes", len(data))
	}
	var res verdict.Result
	grew := heapGrowth(func() { res = walk("bomb.zip", data, Limits{}) })
	wantDetection(t, res, "bomb.zip/zeros.bin", verdict.Unchecked, "larger than MaxObjectSize")
	t.Logf("heap growth %d MiB", grew>>20)
	if grew > heapBound {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}
}

func TestWalkGzipBombIsUncheckedWithBoundedMemory(t *testing.T) {
	data := gzipBomb(t, 1024)
	var res verdict.Result
	grew := heapGrowth(func() { res = walk("bomb.gz", data, Limits{}) })
	// 1 MiB packed: the ratio would allow 250 MiB, so the size limit is first.
	wantDetection(t, res, "bomb.gz/bomb", verdict.Unchecked, "member larger than MaxObjectSize")
	t.Logf("heap growth %d MiB", grew>>20)
	if grew > heapBound {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}
}

func TestWalkStopsAtDeadline(t *testing.T) {
	data := makeZip(t, zipEntry{"slow.txt", []byte("slow"), zip.Deflate}, zipEntry{"eicar.com", eicar, zip.Deflate})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Name == "slow.txt" {
			<-ctx.Done() // a matcher that takes the whole budget
		}
		return inspectEICAR(ctx, o)
	}}
	res := w.Walk(ctx, "t.zip", data, "", false)
	wantDetection(t, res, "t.zip", verdict.Unchecked, "limit: scan time exceeded MaxScanTime")
	wantNoDetection(t, res, verdict.Infected)

	// A context that is already over stops before anything is read.
	res = w.Walk(ctx, "t.zip", data, "", false)
	wantDetection(t, res, "t.zip", verdict.Unchecked, "scan time exceeded")
	if res.Objects != 0 {
		t.Errorf("%d objects scanned after the deadline", res.Objects)
	}
}

func TestWalkReportsCancelledScan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := &Walker{Inspect: inspectEICAR}
	res := w.Walk(ctx, "x", eicar, "", false)
	wantDetection(t, res, "x", verdict.Unchecked, "scan cancelled")
}

// Test formats, reachable only through a hint.
const (
	typeOpenPanic   filetype.Type = "test-open-panic"
	typeFormatPanic filetype.Type = "test-format-panic"
	typeOuter       filetype.Type = "test-outer"
	typeEncrypted   filetype.Type = "test-encrypted"
	typeAnomaly     filetype.Type = "test-anomaly"
)

func init() {
	Register(Format{Name: "test-open-panic", Types: []filetype.Type{typeOpenPanic}, Walk: func(ctx context.Context, c *Container, yield func(Member) error) error {
		if err := yield(Member{Name: "boom", Size: -1, Packed: -1, Open: func() (io.Reader, error) { panic("reader exploded") }}); err != nil {
			return err
		}
		return yield(Member{Name: "eicar.com", Size: -1, Packed: -1, Data: eicar})
	}})
	Register(Format{Name: "test-format-panic", Types: []filetype.Type{typeFormatPanic}, Walk: func(ctx context.Context, c *Container, yield func(Member) error) error {
		if err := yield(Member{Name: "first.txt", Size: -1, Packed: -1, Data: []byte("fine")}); err != nil {
			return err
		}
		var m map[string]int
		m["x"]++ // a decoder bug: assignment to a nil map
		return nil
	}})
	Register(Format{Name: "test-outer", Types: []filetype.Type{typeOuter}, Walk: func(ctx context.Context, c *Container, yield func(Member) error) error {
		if err := yield(Member{Name: "inner", Size: -1, Packed: -1, Data: []byte{1, 2, 3}, Hint: typeFormatPanic}); err != nil {
			return err
		}
		return yield(Member{Name: "eicar.com", Size: -1, Packed: -1, Data: eicar})
	}})
	Register(Format{Name: "test-encrypted", Types: []filetype.Type{typeEncrypted}, Walk: func(ctx context.Context, c *Container, yield func(Member) error) error {
		if err := yield(Member{Name: "secret.doc", Size: 10, Packed: 10, Encrypted: true}); err != nil {
			return err
		}
		return fmt.Errorf("%w: header encrypted", ErrEncrypted)
	}})
	Register(Format{Name: "test-anomaly", Types: []filetype.Type{typeAnomaly}, Walk: func(ctx context.Context, c *Container, yield func(Member) error) error {
		if err := yield(Member{Name: "odd.txt", Size: -1, Packed: -1, Data: []byte("odd"), Anomaly: "declared base64, is not"}); err != nil {
			return err
		}
		if err := yield(Member{Name: "", Size: -1, Packed: -1, Data: eicar}); err != nil {
			return err
		}
		return yield(Member{Name: "big", Size: -1, Packed: -1, Data: make([]byte, 2000)})
	}})
}

func walkHint(name string, data []byte, hint filetype.Type, l Limits) verdict.Result {
	w := &Walker{Limits: l, Inspect: inspectEICAR}
	return w.Walk(context.Background(), name, data, hint, false)
}

func TestWalkIsolatesPanicInMemberOpen(t *testing.T) {
	res := walkHint("x", []byte{0}, typeOpenPanic, Limits{})
	wantDetection(t, res, "x/boom", verdict.Unchecked, "internal error: panic while reading member: reader exploded")
	wantDetection(t, res, "x/eicar.com", verdict.Infected, "")
}

func TestWalkIsolatesPanicInFormat(t *testing.T) {
	res := walkHint("x", []byte{0}, typeOuter, Limits{})
	d := wantDetection(t, res, "x/inner", verdict.Unchecked, "internal error: panic in test-format-panic decoder")
	if d.Type != string(typeFormatPanic) {
		t.Errorf("type %q", d.Type)
	}
	wantDetection(t, res, "x/eicar.com", verdict.Infected, "")
	if _, ok := detection(res, "x/inner", verdict.Corrupted); ok {
		t.Errorf("a panic is not corruption:\n%s", dump(res))
	}
}

func TestWalkIsolatesPanicInInspect(t *testing.T) {
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Name == "boom" {
			panic("matcher exploded")
		}
		return inspectEICAR(ctx, o)
	}}
	data := makeZip(t, zipEntry{"boom", []byte("x"), zip.Store}, zipEntry{"eicar.com", eicar, zip.Deflate})
	res := w.Walk(context.Background(), "a.zip", data, "", false)
	wantDetection(t, res, "a.zip/boom", verdict.Unchecked, "internal error: panic while matching")
	wantDetection(t, res, "a.zip/eicar.com", verdict.Infected, "")
}

func TestWalkReportsInspectErrorAsUnchecked(t *testing.T) {
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		return nil, false, errors.New("matcher unavailable")
	}}
	res := w.Walk(context.Background(), "x", eicar, "", false)
	wantDetection(t, res, "x", verdict.Unchecked, "error: matcher unavailable")
}

func TestWalkDoesNotOpenSkippedObjects(t *testing.T) {
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		dets, _, err := inspectEICAR(ctx, o)
		return dets, o.Type == filetype.Zip, err // the allow-list knows this archive
	}}
	res := w.Walk(context.Background(), "a.zip", makeZip(t, zipEntry{"eicar.com", eicar, zip.Deflate}), "", false)
	if res.Status != verdict.Clean || res.Objects != 1 {
		t.Fatalf("skipped archive was opened:\n%s", dump(res))
	}
}

func TestWalkReportsEncryptedMembersAndContainers(t *testing.T) {
	res := walkHint("x", []byte{0}, typeEncrypted, Limits{})
	wantDetection(t, res, "x/secret.doc", verdict.Protected, "encrypted")
	wantDetection(t, res, "x", verdict.Protected, "header encrypted")
	if res.Status != verdict.Protected {
		t.Errorf("status %s", res.Status)
	}
}

func TestWalkReportsMemberAnomaliesAndNamesUnnamedMembers(t *testing.T) {
	res := walkHint("x", []byte{0}, typeAnomaly, Limits{MaxObjectSize: 1000})
	wantDetection(t, res, "x/odd.txt", verdict.Corrupted, "declared base64, is not")
	wantDetection(t, res, "x/2", verdict.Infected, "") // an empty name becomes the ordinal
	wantDetection(t, res, "x/big", verdict.Unchecked, "member of 2000 bytes larger than MaxObjectSize 1000")
}

func TestCleanName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a.txt", "a.txt"},
		{"./a.txt", "a.txt"},
		{"/etc/passwd", "etc/passwd"},
		{"docs//./a.exe", "docs/a.exe"},
		{"../x", "../x"},
		{".", ""},
		{"./", ""},
		{"", ""},
		{"a\x00b\nc", "a_b_c"},
	} {
		if got := CleanName(tc.in); got != tc.want {
			t.Errorf("CleanName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLimitsNormalizeFillsDefaults(t *testing.T) {
	if got := (Limits{}).Normalize(); got != DefaultLimits {
		t.Errorf("Normalize() = %+v", got)
	}
	l := Limits{MaxDepth: 3}.Normalize()
	if l.MaxDepth != 3 || l.MaxFiles != DefaultLimits.MaxFiles {
		t.Errorf("Normalize() = %+v", l)
	}
}

func TestFormatsAreRegistered(t *testing.T) {
	for _, tt := range []filetype.Type{filetype.Zip, filetype.Gzip, filetype.Bzip2, filetype.Tar} {
		if Lookup(tt) == nil {
			t.Errorf("no format for %s", tt)
		}
	}
	if Lookup(filetype.PNG) != nil {
		t.Errorf("png is a leaf")
	}
	names := strings.Join(Formats(), ",")
	for _, n := range []string{"zip", "gzip", "bzip2", "tar"} {
		if !strings.Contains(names, n) {
			t.Errorf("Formats() = %s, missing %s", names, n)
		}
	}
}

// fuzzWalk walks arbitrary input under small limits and checks that the
// result is well formed. Hangs show as the fuzzer's own time-outs.
func fuzzWalk(t *testing.T, name string, data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := &Walker{
		Limits:  Limits{MaxObjectSize: 1 << 20, MaxScanBytes: 4 << 20, MaxDepth: 4, MaxFiles: 64, MaxRatio: 100, RatioFloor: 64 << 10},
		Inspect: inspectEICAR,
	}
	res := w.Walk(ctx, name, data, "", false)
	if res.Status < verdict.Clean || res.Status > verdict.Infected {
		t.Fatalf("invalid status %d", res.Status)
	}
	for _, d := range res.Detections {
		if d.Path == "" || d.Status > res.Status {
			t.Fatalf("bad detection %+v (roll-up %s)", d, res.Status)
		}
		if d.Status != verdict.Infected && d.Reason == "" {
			t.Fatalf("detection without a reason: %+v", d)
		}
		if d.Status == verdict.Unchecked && strings.Contains(d.Reason, "internal error") {
			t.Fatalf("decoder panic: %+v", d)
		}
	}
	if res.Bytes > w.Limits.MaxScanBytes {
		t.Fatalf("scanned %d bytes", res.Bytes)
	}
}
