package mailflow

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrSpool wraps every failure to write or sync a spool file; the flow
// answers it with 451 4.3.0 so the MTA keeps the message.
var ErrSpool = errors.New("mailflow: spool")

const spoolSuffix = ".msg"

// Spool is the directory holding messages in flight. A message's file
// lives from Create until its outcome is final (Message.Remove) and is
// flock(2)ed while it lives; an unlocked file found there belongs to a
// session that died before it answered, so the MTA still owns that
// message and the file is only reported and removed (Recover). Files
// locked by other live processes sharing the directory (--stdio
// instances) are left alone. Safe for concurrent use.
type Spool struct {
	dir string
}

// OpenSpool creates dir (0700) if needed.
func OpenSpool(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	return &Spool{dir: dir}, nil
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Leftover is a spool file found by Recover.
type Leftover struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Recover removes the spool files left by an earlier run and returns what
// it found. Call it once at start-up, before serving.
func (s *Spool) Recover() ([]Leftover, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	var out []Leftover
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), spoolSuffix) {
			continue
		}
		if inUse(filepath.Join(s.dir, e.Name())) {
			continue
		}
		l := Leftover{Name: e.Name()}
		if fi, err := e.Info(); err == nil {
			l.Size, l.ModTime = fi.Size(), fi.ModTime()
		}
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, l)
	}
	return out, errors.Join(errs...)
}

// Message is one spooled message: its bytes exactly as received (after
// SMTP dot-unstuffing). Not safe for concurrent use; the reader returned
// by Reader may be used while no write happens.
type Message struct {
	ID       string // queue id: the spool file's base name
	path     string
	f        *os.File
	size     int64
	created  time.Time
	received time.Duration
}

// Create makes a new, empty spool file.
func (s *Spool) Create() (*Message, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	id := strings.ToUpper(hex.EncodeToString(b[:]))
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
	return &Message{ID: id, path: p, f: f, created: time.Now()}, nil
}

// ReadFrom copies the message from r into the spool file and syncs it.
// A read error of r (the client went away, the size limit) is returned
// as it is; a write or sync error is wrapped in ErrSpool.
func (m *Message) ReadFrom(r io.Reader) (int64, error) {
	w := bufio.NewWriterSize(writerOnly{m.f}, 64<<10)
	n, err := io.Copy(w, readerOnly{r})
	m.size += n
	if err != nil {
		var we writeErr
		if errors.As(err, &we) {
			return n, fmt.Errorf("%w: %v", ErrSpool, we.error)
		}
		return n, err
	}
	if err := w.Flush(); err != nil {
		return n, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	if err := m.f.Sync(); err != nil {
		return n, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	m.received = time.Since(m.created)
	return n, nil
}

// Size is the number of bytes spooled.
func (m *Message) Size() int64 { return m.size }

// Received is how long receiving and syncing took.
func (m *Message) Received() time.Duration { return m.received }

// Reader returns a new reader of the whole message.
func (m *Message) Reader() io.Reader { return io.NewSectionReader(m.f, 0, m.size) }

// Remove closes and deletes the spool file: call it once the outcome is
// final (replied to the MTA or about to be).
func (m *Message) Remove() error {
	m.f.Close()
	return os.Remove(m.path)
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

type writeErr struct{ error }

// writerOnly marks write errors so ReadFrom can tell them from read errors.
type writerOnly struct{ f *os.File }

func (w writerOnly) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		return n, writeErr{err}
	}
	return n, nil
}

type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }
