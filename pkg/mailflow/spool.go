package mailflow

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrSpool wraps every failure to write or sync a spool file; the flow
// answers it with 451 4.3.0 so the MTA keeps the message.
var ErrSpool = errors.New("mailflow: spool")

const spoolSuffix = ".msg"

// Spool is the directory holding messages in flight. A message is in a
// file from Create until its outcome is final (Message.Remove); every
// file is flock(2)ed while this process has it open.
//
// A spool file is a 16-byte header, "AVESPOOL" and the message's length
// (big-endian uint64), then the message's bytes. Length 0 marks a free
// file. Remove only zeroes the length: the file stays open, locked and
// allocated for a later message (up to maxFreeFiles of them, until
// Close), which overwrites the blocks in place, so that its sync
// (fdatasync) writes the data alone. Creating and unlinking a file per
// message (inode and directory updates), then truncating a kept one
// (freeing its blocks, allocating them again at the next write, the
// inode written at every sync), cost about 0.4 ms of latency and
// 0.15 ms of CPU per message. A file left larger than maxKeptFile by a
// big message is truncated when it is freed.
//
// An unlocked file found there belongs to a process that died: if it
// holds a message (a length, or bytes without our header from an older
// version), to a session that died before it answered, so the MTA still
// owns that message and the file is only reported and removed (Recover).
// Files locked by other live processes sharing the directory (--stdio
// instances) are left alone. Safe for concurrent use.
type Spool struct {
	dir    string
	maxMem int64
	budget atomic.Int64 // bytes of memory copies left
	behind bool         // SetSyncBehind

	mu     sync.Mutex
	free   []spoolFile // free files kept for reuse
	closed bool        // Close was called: no more reuse
}

// spoolFile is an open, locked spool file.
type spoolFile struct {
	f    *os.File
	path string
}

// maxFreeFiles bounds the free files a Spool keeps open for reuse.
const maxFreeFiles = 32

// maxKeptFile: a freed file larger than this is truncated, so that big
// messages do not keep their disk space in the free files.
const maxKeptFile = 1 << 20

// The spool file header: magic, then the message length (0 = free).
const (
	spoolMagic = "AVESPOOL"
	headerSize = 16
)

// readHeader returns the message length recorded in the header of f:
// ok is false when the file has no header of ours (empty, short, or
// written by an older version without one).
func readHeader(f *os.File) (length int64, ok bool) {
	var h [headerSize]byte
	if n, _ := f.ReadAt(h[:], 0); n < headerSize || string(h[:8]) != spoolMagic {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(h[8:])), true
}

// SetSyncBehind makes ReadFrom return as soon as a message held in
// memory is received, while its file is written and synced in the
// background: it can be scanned meanwhile (through the Bytes of its
// Reader, which do not wait). The caller must then treat the message as
// spooled only once Synced returned nil. A Reader gives the last bytes
// of the message (and io.EOF) only after the sync succeeded, else the
// ErrSpool error: a forwarder, a quarantine copy, anything that reads
// the whole message through Read, waits for the sync and fails with it,
// so no final dot is sent before the message is durable. A reply that
// forwards nothing (a discard, a reject) must wait for Synced. Call it
// before the first Create.
func (s *Spool) SetSyncBehind(on bool) { s.behind = on }

// OpenSpool creates dir (0700) if needed. Messages of up to
// DefaultMaxInMemory bytes are kept in memory too, DefaultMemoryBudget
// at most for all of them (see SetMemory).
func OpenSpool(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	s := &Spool{dir: dir}
	s.SetMemory(DefaultMaxInMemory, DefaultMemoryBudget)
	return s, nil
}

// SetMemory sets the largest message kept in memory as well as in its
// file (rounded down to a power of two times 64 KiB, at most 16 MiB; 0
// keeps none) and the memory all such copies may take together. Call it
// before the first Create.
func (s *Spool) SetMemory(maxInMemory, budget int64) {
	s.maxMem = 0
	for c := maxBufClass; c >= 0; c-- {
		if int64(minBuf)<<c <= maxInMemory {
			s.maxMem = int64(minBuf) << c
			break
		}
	}
	s.budget.Store(budget)
}

func (s *Spool) maxInMemory() int64 { return s.maxMem }

// reserve takes n bytes of the memory budget, or returns false.
func (s *Spool) reserve(n int64) bool {
	if s.maxMem == 0 {
		return false
	}
	if s.budget.Add(-n) < 0 {
		s.budget.Add(n)
		return false
	}
	return true
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Leftover is a spool file found by Recover.
type Leftover struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Recover removes the spool files left by an earlier run and returns
// those that held a message (free ones were kept for reuse, or got no
// byte); Size is the message's length. Call it once at start-up, before
// serving.
func (s *Spool) Recover() ([]Leftover, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	var out []Leftover
	var errs []error
	for _, e := range ents {
		if !isSpoolFile(e) {
			continue
		}
		if inUse(filepath.Join(s.dir, e.Name())) {
			continue
		}
		p := filepath.Join(s.dir, e.Name())
		l, held := examine(p, e)
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
			continue
		}
		if held {
			out = append(out, l)
		}
	}
	return out, errors.Join(errs...)
}

// isSpoolFile tells whether e is one of a spool's files.
func isSpoolFile(e os.DirEntry) bool {
	return e.Type().IsRegular() && strings.HasSuffix(e.Name(), spoolSuffix)
}

// examine tells whether the spool file at p holds a message: its header
// has a length, or it has bytes but not our header (an older version's
// file); a file it cannot read counts as holding one.
func examine(p string, e os.DirEntry) (l Leftover, held bool) {
	l.Name = e.Name()
	fi, err := e.Info()
	if err != nil {
		return l, true
	}
	l.Size, l.ModTime = fi.Size(), fi.ModTime()
	f, err := os.Open(p)
	if err != nil {
		return l, true
	}
	defer f.Close()
	if n, ok := readHeader(f); ok {
		l.Size = n // 0: a free file
	}
	return l, l.Size > 0
}

// Held lists the spool files in dir that hold a message, whether a live
// process has them or not (free files are not listed), with the
// message's length as Size.
func Held(dir string) ([]Leftover, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	var out []Leftover
	for _, e := range ents {
		if !isSpoolFile(e) {
			continue
		}
		if l, held := examine(filepath.Join(dir, e.Name()), e); held {
			out = append(out, l)
		}
	}
	return out, nil
}

// Message is one spooled message: its bytes exactly as received (after
// SMTP dot-unstuffing). Not safe for concurrent use; the reader returned
// by Reader may be used while no write happens.
//
// A message no larger than the spool's in-memory limit (SetMemory) is
// also kept in memory, within the spool's memory budget, from ReadFrom
// until Remove: it reaches the file in one write, and Reader reads the
// memory copy instead of the file.
type Message struct {
	ID       string // queue id, new for every message (the file may be a reused one, named after another)
	path     string
	f        *os.File
	sp       *Spool
	size     int64
	written  int64 // message bytes written to the file (after the header)
	failed   bool  // a write or sync failed: the file is not reused
	created  time.Time
	received time.Duration
	mem      []byte        // the whole message (nil: read it from the file)
	held     int64         // bytes of the spool's MemoryBudget this message holds
	synced   chan struct{} // closed when the background write and sync ended (nil: none)
	syncErr  error         // their error, set before synced is closed
}

// Create returns a new message with a free spool file: one that an
// earlier message left (see Spool), or a new one named after the
// message's ID.
func (s *Spool) Create() (*Message, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	id := strings.ToUpper(hex.EncodeToString(b[:]))
	if sf, ok := s.reuse(); ok {
		return &Message{ID: id, path: sf.path, f: sf.f, sp: s, created: time.Now()}, nil
	}
	p := filepath.Join(s.dir, id+spoolSuffix)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(p)
		return nil, fmt.Errorf("%w: lock: %v", ErrSpool, err)
	}
	return &Message{ID: id, path: p, f: f, sp: s, created: time.Now()}, nil
}

// ReadFrom copies the message from r into the spool file and syncs it.
// A read error of r (the client went away, the size limit) is returned
// as it is; a write or sync error is wrapped in ErrSpool. Call it once.
//
// The message is read into a buffer that grows (by powers of two, from
// a pool) up to the in-memory limit; a message that fits is written with
// one write(2), then synced, and kept for Reader. A larger one (or one
// that finds the memory budget spent) is written out each time the
// buffer fills. With SetSyncBehind, a message that fits returns as soon
// as it is received and is written and synced in the background (see
// Synced).
func (m *Message) ReadFrom(r io.Reader) (n int64, err error) {
	buf := getBuf(minBuf)
	if m.sp.reserve(int64(cap(buf))) {
		m.held = int64(cap(buf))
	}
	inMem := m.held > 0 // else the buffer is only a write buffer
	defer func() {
		if err != nil || !inMem {
			putBuf(buf)
			m.release()
		}
	}()
	var probe [4096]byte
	for {
		dst := buf[len(buf):cap(buf)]
		full := len(dst) == 0
		if full && inMem {
			if grown, ok := m.grow(buf); ok {
				buf = grown
				continue
			}
		}
		if full {
			// Read a little first: a message that ends exactly here
			// stays in memory; else the buffer is written out.
			dst = probe[:]
		}
		k, rerr := r.Read(dst)
		n += int64(k)
		m.size = n
		if !full {
			buf = buf[:len(buf)+k]
		} else if k > 0 {
			inMem = false
			if err := m.write(buf); err != nil {
				return n, err
			}
			buf = append(buf[:0], probe[:k]...)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	if inMem && m.sp.behind {
		m.mem = buf
		m.received = time.Since(m.created)
		m.synced = make(chan struct{})
		go func() {
			defer close(m.synced)
			if err := m.write(buf); err != nil {
				m.syncErr = err
			} else if err := m.sync(); err != nil {
				m.syncErr = err
			}
		}()
		return n, nil
	}
	if err := m.write(buf); err != nil {
		return n, err
	}
	if err := m.sync(); err != nil {
		return n, err
	}
	if inMem {
		m.mem = buf
	}
	m.received = time.Since(m.created)
	return n, nil
}

// Synced waits until the message is written and synced and returns the
// error (wrapping ErrSpool) if that failed. Without SetSyncBehind,
// ReadFrom did both and Synced returns nil at once.
func (m *Message) Synced() error {
	if m.synced == nil {
		return nil
	}
	<-m.synced
	return m.syncErr
}

// grow returns buf's content in a buffer twice as large, or false when the
// message may not take more memory.
func (m *Message) grow(buf []byte) ([]byte, bool) {
	want := int64(cap(buf)) * 2
	if want > m.sp.maxInMemory() || !m.sp.reserve(want-m.held) {
		return nil, false
	}
	m.held = want
	nb := getBuf(int(want))[:len(buf)]
	copy(nb, buf)
	putBuf(buf)
	return nb, true
}

// write appends p to the message in the file; errors are wrapped in
// ErrSpool.
func (m *Message) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if _, err := m.f.WriteAt(p, headerSize+m.written); err != nil {
		m.failed = true
		return fmt.Errorf("%w: %v", ErrSpool, err)
	}
	m.written += int64(len(p))
	return nil
}

// sync records the message's length in the header and makes the file
// durable: fdatasync, which writes the inode too when the file grew;
// errors are wrapped in ErrSpool.
func (m *Message) sync() error {
	err := m.setLength(m.written)
	if err == nil {
		err = syscall.Fdatasync(int(m.f.Fd()))
	}
	if err != nil {
		m.failed = true
		return fmt.Errorf("%w: %v", ErrSpool, err)
	}
	return nil
}

// setLength writes the header with length n (0 marks the file free).
func (m *Message) setLength(n int64) error {
	var h [headerSize]byte
	copy(h[:], spoolMagic)
	binary.BigEndian.PutUint64(h[8:], uint64(n))
	_, err := m.f.WriteAt(h[:], 0)
	return err
}

// release gives the memory back to the spool's budget.
func (m *Message) release() {
	if m.held > 0 {
		m.sp.budget.Add(m.held)
		m.held = 0
	}
}

// Size is the number of bytes spooled.
func (m *Message) Size() int64 { return m.size }

// Received is how long receiving and syncing took (receiving only, for a
// message synced in the background).
func (m *Message) Received() time.Duration { return m.received }

// Reader returns a new reader of the whole message. The reader of a
// message held in memory also has Bytes (scanclient.BytesReader), so the
// scanner can send it without copying.
func (m *Message) Reader() io.Reader {
	if m.mem != nil {
		r := &memReader{data: m.mem, m: m}
		r.r.Reset(m.mem)
		return r
	}
	return io.NewSectionReader(m.f, headerSize, m.size)
}

// memReader reads a message held in memory. With SetSyncBehind, the
// read that would complete the message (its last bytes, or EOF) first
// waits for the sync and returns its error instead when it failed: no
// consumer of Read, whether it stops at EOF or after Size bytes, has the
// whole message before it is durable. It has only Read and Bytes: no
// WriteTo that io.Copy would use instead of Read.
type memReader struct {
	r    bytes.Reader
	data []byte
	m    *Message
}

func (r *memReader) Read(p []byte) (int, error) {
	if len(p) >= r.r.Len() {
		if err := r.m.Synced(); err != nil {
			return 0, err
		}
	}
	return r.r.Read(p)
}

// Bytes returns the bytes not read yet; it does not wait for the sync.
func (r *memReader) Bytes() []byte { return r.data[len(r.data)-r.r.Len():] }

// Remove deletes the message from the spool and frees its memory copy:
// call it once the outcome is final (replied to the MTA or about to be),
// when no reader of the message is in use any more. It waits for a
// background write and sync first. The file is marked free (length 0,
// not synced: after a crash a message that was answered may be reported
// as a leftover, never the reverse) and kept open for a later message
// (see Spool), or, when the spool keeps enough, is closed or cannot be
// marked, closed and deleted.
func (m *Message) Remove() error {
	m.Synced() // the background write uses the file and the memory
	if m.mem != nil {
		putBuf(m.mem)
		m.mem = nil
	}
	m.release()
	if !m.failed && m.free() && m.sp.keep(spoolFile{m.f, m.path}) {
		return nil
	}
	m.f.Close()
	return os.Remove(m.path)
}

// free marks the file free: length 0, or truncated when a big message
// left it over maxKeptFile.
func (m *Message) free() bool {
	if m.written == 0 {
		return true // the header says free already
	}
	if headerSize+m.written > maxKeptFile {
		return m.f.Truncate(0) == nil
	}
	return m.setLength(0) == nil
}

// reuse takes a file from the free list. A file that is no longer in the
// directory (someone removed it, or the directory) is closed and another
// one tried: a message is only ever spooled where a restart can see it.
func (s *Spool) reuse() (spoolFile, bool) {
	for {
		s.mu.Lock()
		n := len(s.free)
		if n == 0 {
			s.mu.Unlock()
			return spoolFile{}, false
		}
		sf := s.free[n-1]
		s.free = s.free[:n-1]
		s.mu.Unlock()
		var st syscall.Stat_t
		if syscall.Fstat(int(sf.f.Fd()), &st) == nil && st.Nlink > 0 {
			return sf, true
		}
		sf.f.Close()
	}
}

// keep adds a free file to the free list, or returns false.
func (s *Spool) keep(sf spoolFile) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.free) >= maxFreeFiles {
		return false
	}
	s.free = append(s.free, sf)
	return true
}

// Close deletes the free files kept for reuse; messages removed later
// delete their files. Messages in flight are not touched.
func (s *Spool) Close() error {
	s.mu.Lock()
	free := s.free
	s.free, s.closed = nil, true
	s.mu.Unlock()
	var errs []error
	for _, sf := range free {
		sf.f.Close()
		if err := os.Remove(sf.path); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Memory held by messages: buffers come in powers of two from minBuf to
// the largest MaxInMemory, recycled through one pool per size.
const (
	minBuf              = 64 << 10
	maxBufClass         = 8 // minBuf << 8 = 16 MiB
	DefaultMaxInMemory  = 4 << 20
	DefaultMemoryBudget = 64 << 20
)

var bufPools [maxBufClass + 1]sync.Pool

// bufClass returns the class of a buffer of n bytes (a power of two
// times minBuf), or -1.
func bufClass(n int) int {
	for c := 0; c <= maxBufClass; c++ {
		if n == minBuf<<c {
			return c
		}
	}
	return -1
}

// getBuf returns an empty buffer of capacity n (a power of two times
// minBuf).
func getBuf(n int) []byte {
	if c := bufClass(n); c >= 0 {
		if p, ok := bufPools[c].Get().(*[]byte); ok {
			return (*p)[:0]
		}
	}
	return make([]byte, 0, n)
}

func putBuf(b []byte) {
	if c := bufClass(cap(b)); c >= 0 {
		b = b[:0]
		bufPools[c].Put(&b)
	}
}

// inUse reports whether another open file description holds the lock.
func inUse(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
}
