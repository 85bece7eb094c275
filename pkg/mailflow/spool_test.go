package mailflow

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"ave/pkg/verdict"
)

// spoolOne spools data (read in pieces of at most piece bytes) and checks
// that the file and Reader both hold exactly data.
func spoolOne(t *testing.T, sp *Spool, data []byte, piece int) *Message {
	t.Helper()
	m, err := sp.Create()
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = bytes.NewReader(data)
	if piece > 0 {
		r = &pieceReader{r: r, n: piece}
	}
	n, err := m.ReadFrom(r)
	if err != nil || n != int64(len(data)) || m.Size() != int64(len(data)) {
		t.Fatalf("ReadFrom: %d %v (size %d), want %d", n, err, m.Size(), len(data))
	}
	if err := m.Synced(); err != nil {
		t.Fatalf("Synced: %v", err)
	}
	// The file: our header with the length, then the message (a reused
	// file may hold an earlier message's bytes after it).
	file, err := os.ReadFile(m.path)
	if err != nil || len(file) < headerSize+len(data) || string(file[:8]) != spoolMagic ||
		binary.BigEndian.Uint64(file[8:headerSize]) != uint64(len(data)) || !bytes.Equal(file[headerSize:headerSize+len(data)], data) {
		t.Fatalf("file: %d bytes (header %q), %v; want a header with %d and the message", len(file), file[:min(len(file), headerSize)], err, len(data))
	}
	for i := 0; i < 2; i++ { // each Reader starts at the beginning
		got, err := io.ReadAll(m.Reader())
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Reader: %d bytes, %v; want %d bytes", len(got), err, len(data))
		}
	}
	if br, ok := m.Reader().(interface{ Bytes() []byte }); ok {
		r := m.Reader()
		if !bytes.Equal(br.Bytes(), data) || m.mem == nil {
			t.Fatalf("Bytes: %d bytes, want %d (in memory %v)", len(br.Bytes()), len(data), m.mem != nil)
		}
		if len(data) > 10 {
			io.ReadFull(r, make([]byte, 10))
			if rest := r.(interface{ Bytes() []byte }).Bytes(); !bytes.Equal(rest, data[10:]) {
				t.Fatalf("Bytes after reading 10: %d bytes", len(rest))
			}
		}
	} else if m.mem != nil {
		t.Fatal("the reader of a message in memory has no Bytes")
	}
	return m
}

type pieceReader struct {
	r io.Reader
	n int
}

func (p *pieceReader) Read(b []byte) (int, error) {
	if len(b) > p.n {
		b = b[:p.n]
	}
	return p.r.Read(b)
}

func TestSpoolMessageSizes(t *testing.T) {
	sp, err := OpenSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sp.SetMemory(256<<10, 1<<20)
	rng := rand.New(rand.NewSource(1))
	for _, size := range []int{0, 1, minBuf - 1, minBuf, minBuf + 1, 3 * minBuf, 256 << 10, 256<<10 + 1, 1 << 20, 3<<20 + 17} {
		data := make([]byte, size)
		rng.Read(data)
		for _, piece := range []int{0, 1000, 70_000} {
			m := spoolOne(t, sp, data, piece)
			if inMem := m.mem != nil; inMem != (size <= 256<<10) {
				t.Errorf("size %d: in memory %v", size, inMem)
			}
			if err := m.Remove(); err != nil {
				t.Fatal(err)
			}
			if got := sp.budget.Load(); got != 1<<20 {
				t.Fatalf("size %d: budget %d after Remove", size, got)
			}
		}
	}
}

func TestSpoolMemoryBudget(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir())
	sp.SetMemory(256<<10, 300<<10)
	data := bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16)
	a := spoolOne(t, sp, data, 0) // takes 256 KiB of the 300
	b := spoolOne(t, sp, data, 0) // gets 64 KiB, then spills
	if a.mem == nil || b.mem != nil {
		t.Fatalf("in memory: first %v, second %v", a.mem != nil, b.mem != nil)
	}
	b.Remove()
	a.Remove()
	if got := sp.budget.Load(); got != 300<<10 {
		t.Fatalf("budget %d after Remove", got)
	}
	sp.SetMemory(0, 1<<30) // nothing in memory
	c := spoolOne(t, sp, data[:100], 0)
	if c.mem != nil {
		t.Fatal("kept in memory with MaxInMemory 0")
	}
	c.Remove()
}

func TestSpoolReadErrorIsReturnedAsIs(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir())
	boom := errors.New("client went away")
	for _, size := range []int{10, 200 << 10, 5 << 20} {
		m, _ := sp.Create()
		n, err := m.ReadFrom(io.MultiReader(bytes.NewReader(make([]byte, size)), iotest.ErrReader(boom)))
		if err != boom || n != int64(size) || errors.Is(err, ErrSpool) {
			t.Fatalf("size %d: %d %v", size, n, err)
		}
		m.Remove()
		if got := sp.budget.Load(); got != DefaultMemoryBudget {
			t.Fatalf("budget %d after a failed read", got)
		}
	}
}

func TestSpoolWriteErrorIsErrSpool(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir())
	for _, size := range []int{10, 5 << 20} { // one write at the end; writes while reading
		m, _ := sp.Create()
		m.f.Close() // every write fails
		_, err := m.ReadFrom(bytes.NewReader(make([]byte, size)))
		if !errors.Is(err, ErrSpool) {
			t.Fatalf("size %d: %v", size, err)
		}
		m.Remove()
	}
	if got := sp.budget.Load(); got != DefaultMemoryBudget {
		t.Fatalf("budget %d after failed writes", got)
	}
}

func TestSpoolSyncBehind(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir())
	sp.SetSyncBehind(true)
	data := bytes.Repeat([]byte("line\r\n"), 5000)
	m := spoolOne(t, sp, data, 0) // reads to the end: waits for the sync
	if m.synced == nil || m.Synced() != nil {
		t.Fatalf("no background sync, or it failed: %v", m.Synced())
	}
	m.Remove()

	// A failed background write: the scanner still gets the bytes, every
	// reader gets the ErrSpool error instead of the message's last bytes.
	m, _ = sp.Create()
	m.f.Close()
	if _, err := m.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	if b := m.Reader().(interface{ Bytes() []byte }).Bytes(); !bytes.Equal(b, data) {
		t.Fatal("Bytes")
	}
	if err := m.Synced(); !errors.Is(err, ErrSpool) {
		t.Fatalf("Synced: %v", err)
	}
	if got, err := io.ReadAll(m.Reader()); !errors.Is(err, ErrSpool) || len(got) >= len(data) {
		t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
	}
	if _, err := io.Copy(io.Discard, m.Reader()); !errors.Is(err, ErrSpool) {
		t.Fatalf("io.Copy: %v", err)
	}
	if _, err := io.Copy(io.Discard, io.MultiReader(strings.NewReader("X-Head: 1\r\n"), m.Reader())); !errors.Is(err, ErrSpool) {
		t.Fatalf("io.Copy of a MultiReader: %v", err)
	}
	// A reader that stops after Size bytes, never asking for EOF.
	if n, err := io.ReadFull(m.Reader(), make([]byte, m.Size())); !errors.Is(err, ErrSpool) || n == len(data) {
		t.Fatalf("ReadFull of Size bytes: %d, %v", n, err)
	}
	if n, err := io.CopyN(io.Discard, m.Reader(), m.Size()); !errors.Is(err, ErrSpool) || n == int64(len(data)) {
		t.Fatalf("CopyN of Size bytes: %d, %v", n, err)
	}
	m.Remove()
	if got := sp.budget.Load(); got != DefaultMemoryBudget {
		t.Fatalf("budget %d", got)
	}

	// A message too large for memory is synced by ReadFrom itself.
	sp.SetMemory(64<<10, DefaultMemoryBudget)
	m = spoolOne(t, sp, bytes.Repeat(data, 10), 0)
	if m.synced != nil || m.mem != nil {
		t.Fatal("large message synced in the background")
	}
	m.Remove()
}

// errForwarder reads each copy as the mailer does (to EOF) and records
// what it read and the error.
type errForwarder struct {
	got []byte
	err error
}

func (f *errForwarder) Forward(ctx context.Context, env *Envelope, size int64, open func() io.Reader) []Reply {
	f.got, f.err = io.ReadAll(open())
	out := make([]Reply, len(env.Rcpts))
	for i := range out {
		out[i] = Reply{Code: 250}
		if f.err != nil {
			out[i] = TempFail("4.4.2", "downstream: %v", f.err)
		}
	}
	return out
}

// TestSyncBehindFailureReachesNoForwarder: the background write fails
// while the message is scanned from memory; the forwarder never gets the
// whole message, Synced reports the failure, and Process answers 451 to
// every recipient before the policy's After (notifications, report).
func TestSyncBehindFailureReachesNoForwarder(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir())
	sp.SetSyncBehind(true)
	text := "Subject: x\r\n\r\n" + strings.Repeat("body\r\n", 1000)
	fw := &errForwarder{}
	f, _ := New(Options{Scanner: &bytesScanner{}, Forwarder: fw, Policy: BasicPolicy{ScannedHeader: "X-Scanned: yes"}})
	m, _ := sp.Create()
	m.f.Close()
	if _, err := m.ReadFrom(strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	defer m.Remove()
	o := f.Process(context.Background(), &Envelope{From: "a@x", Rcpts: []Recipient{{Addr: "b@x"}}}, m)
	if o.ScanErr != nil || o.Result == nil {
		t.Fatalf("scan: %v", o.ScanErr)
	}
	if !errors.Is(fw.err, ErrSpool) || len(fw.got) >= len(text) {
		t.Fatalf("forwarder read %d of %d bytes, error %v", len(fw.got), len(text), fw.err)
	}
	if err := m.Synced(); !errors.Is(err, ErrSpool) {
		t.Fatalf("Synced: %v", err)
	}
	// Process itself answers 451 (and its policy's After never ran).
	if o.Replies[0].Code != 451 || !errors.Is(o.PolicyErr, ErrSpool) {
		t.Fatalf("replies %v, error %v", o.Replies, o.PolicyErr)
	}
}

// bytesScanner scans through Bytes, as scanclient does with the memory
// copy: it does not wait for the sync.
type bytesScanner struct{}

func (bytesScanner) Scan(ctx context.Context, name string, size int64, r io.Reader) (*verdict.Result, error) {
	b := r.(interface{ Bytes() []byte }).Bytes()
	if int64(len(b)) != size {
		return nil, fmt.Errorf("%d bytes, size %d", len(b), size)
	}
	return &verdict.Result{}, nil
}

// spoolNames lists the spool directory: name -> size.
// spoolNames maps each spool file to the length of the message it holds
// (its header's; 0 for a free file) or, without our header, its size.
func spoolNames(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fi.Size()
		if f, err := os.Open(filepath.Join(dir, e.Name())); err == nil {
			if n, ok := readHeader(f); ok {
				out[e.Name()] = n
			}
			f.Close()
		}
	}
	return out
}

// fileSize is the size of the file at p.
func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestSpoolReusesEmptiedFiles: Remove empties the file and keeps it for
// the next message, which gets its own ID and exactly its own bytes (no
// tail of a longer earlier message); Close deletes the kept files.
func TestSpoolReusesEmptiedFiles(t *testing.T) {
	dir := t.TempDir()
	sp, _ := OpenSpool(dir)
	sp.SetSyncBehind(true)
	long := bytes.Repeat([]byte("long message line\r\n"), 20000) // over 64 KiB
	short := []byte("Subject: short\r\n\r\nx\r\n")
	m1 := spoolOne(t, sp, long, 0)
	path, id := m1.path, m1.ID
	if err := m1.Remove(); err != nil {
		t.Fatal(err)
	}
	if got := spoolNames(t, dir); len(got) != 1 || got[id+".msg"] != 0 {
		t.Fatalf("after Remove: %v, want one free %s.msg", got, id)
	}
	// Freed in place: the blocks stay allocated for the next message.
	if n := fileSize(t, path); n != headerSize+int64(len(long)) {
		t.Fatalf("freed file is %d bytes, want %d (kept, not truncated)", n, headerSize+len(long))
	}
	sp.SetMemory(0, 0) // read back from the file, not from memory
	m2 := spoolOne(t, sp, short, 0)
	if m2.path != path || m2.ID == id {
		t.Fatalf("second message: file %s id %s; want the file %s and a new id", m2.path, m2.ID, path)
	}
	if got := spoolNames(t, dir); got[id+".msg"] != int64(len(short)) {
		t.Fatalf("header of the reused file: %v, want length %d", got, len(short))
	}
	// Two at once: the second gets a new file.
	m3 := spoolOne(t, sp, long[:1000], 0)
	if m3.path == path {
		t.Fatal("one file for two messages in flight")
	}
	m2.Remove()
	m3.Remove()
	if got := spoolNames(t, dir); len(got) != 2 || got[id+".msg"] != 0 || got[m3.ID+".msg"] != 0 {
		t.Fatalf("after both: %v", got)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if got := spoolNames(t, dir); len(got) != 0 {
		t.Fatalf("after Close: %v", got)
	}
	// After Close, Remove deletes.
	m4 := spoolOne(t, sp, short, 0)
	m4.Remove()
	if got := spoolNames(t, dir); len(got) != 0 {
		t.Fatalf("Remove after Close: %v", got)
	}
}

// TestSpoolKeepsBoundedAndSoundFiles: at most maxFreeFiles are kept; a
// file whose write failed, or that left the directory, is not reused.
func TestSpoolKeepsBoundedAndSoundFiles(t *testing.T) {
	dir := t.TempDir()
	sp, _ := OpenSpool(dir)
	var ms []*Message
	for i := 0; i < maxFreeFiles+5; i++ {
		ms = append(ms, spoolOne(t, sp, []byte("x"), 0))
	}
	for _, m := range ms {
		m.Remove()
	}
	if got := spoolNames(t, dir); len(got) != maxFreeFiles {
		t.Fatalf("%d files kept, want %d", len(got), maxFreeFiles)
	}
	sp.Close()

	sp, _ = OpenSpool(dir)
	m, _ := sp.Create()
	m.f.Close()
	if _, err := m.ReadFrom(strings.NewReader("x")); !errors.Is(err, ErrSpool) {
		t.Fatalf("ReadFrom: %v", err)
	}
	m.Remove()
	if got := spoolNames(t, dir); len(got) != 0 {
		t.Fatalf("a failed file was kept: %v", got)
	}

	m = spoolOne(t, sp, []byte("x"), 0)
	gone := m.path
	m.Remove()
	os.Remove(gone) // someone removed the emptied file
	m = spoolOne(t, sp, []byte("y"), 0)
	if m.path == gone {
		t.Fatal("reused a file that left the directory")
	}
	m.Remove()
	sp.Close()
}

// TestSpoolFreesBigFilesByTruncating: a file a big message left over
// maxKeptFile is truncated when freed, so free files keep little disk.
func TestSpoolFreesBigFilesByTruncating(t *testing.T) {
	dir := t.TempDir()
	sp, _ := OpenSpool(dir)
	defer sp.Close()
	m := spoolOne(t, sp, bytes.Repeat([]byte("big message line\r\n"), maxKeptFile/16), 0)
	path := m.path
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	if n := fileSize(t, path); n != 0 {
		t.Fatalf("freed big file is %d bytes", n)
	}
	m = spoolOne(t, sp, []byte("Subject: next\r\n\r\n"), 0)
	if m.path != path {
		t.Fatal("the truncated file was not reused")
	}
	m.Remove()
}

// TestSpoolRecoverReportsFilesWithoutHeader: a file without our header
// (left by an older version, which wrote the bare message) is reported
// with its size, a free one with stale bytes is not.
func TestSpoolRecoverReportsFilesWithoutHeader(t *testing.T) {
	dir := t.TempDir()
	old := []byte("Subject: old\r\n\r\nbody\r\n")
	if err := os.WriteFile(filepath.Join(dir, "OLD000000001.msg"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	sp, _ := OpenSpool(dir)
	m := spoolOne(t, sp, []byte("Subject: answered\r\n\r\n"), 0)
	m.Remove()
	sp.free[0].f.Close() // the process died: its lock is gone
	sp2, _ := OpenSpool(dir)
	left, err := sp2.Recover()
	if err != nil || len(left) != 1 || left[0].Name != "OLD000000001.msg" || left[0].Size != int64(len(old)) {
		t.Fatalf("reported %+v, %v", left, err)
	}
}

// TestSpoolRecoverSkipsEmptyFiles: files freed for reuse by a process
// that died (their stale bytes still there) are removed at start-up but
// not reported as messages.
func TestSpoolRecoverSkipsEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	sp, _ := OpenSpool(dir)
	m := spoolOne(t, sp, []byte("done"), 0)
	m.Remove()
	sp.free[0].f.Close() // the process died: its lock is gone
	sp2, _ := OpenSpool(dir)
	left, err := sp2.Recover()
	if err != nil || len(left) != 0 {
		t.Fatalf("reported %v, %v", left, err)
	}
	if got := spoolNames(t, dir); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
}

// TestSpoolDeletesFileItCannotMarkFree: when the header of a delivered
// message cannot be rewritten to "free" (the write fails), the file is
// deleted, not kept: else a restart would report the delivered message as
// a leftover, or a later message would land in a file whose header lies.
func TestSpoolDeletesFileItCannotMarkFree(t *testing.T) {
	dir := t.TempDir()
	sp, _ := OpenSpool(dir)
	defer sp.Close()
	m := spoolOne(t, sp, []byte("Subject: delivered\r\n\r\nbody\r\n"), 0)
	path := m.path
	// Swap the descriptor for a read-only one of the same file: the
	// message is intact, but the header write of free() fails.
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m.f.Close()
	m.f = ro
	if err := m.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the file that could not be marked free is still there (%v)", err)
	}
	if held, err := Held(dir); err != nil || len(held) != 0 {
		t.Fatalf("Held after Remove: %v, %v; want none", held, err)
	}
	m2 := spoolOne(t, sp, []byte("Subject: next\r\n\r\n"), 0)
	if m2.path == path {
		t.Fatal("a new message went to the deleted file's path")
	}
	m2.Remove()
}
