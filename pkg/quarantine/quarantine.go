// Package quarantine is AVE's encrypted object store, used for the
// quarantine (objects taken out of the way) and for backups (copies kept
// before a file is removed, cured or moved). kavscanner writes into it;
// avectl lists, shows, restores and deletes; smtpscanner will keep
// quarantined messages in it too.
//
// Each entry is two files in the store directory (mode 0700): ID.age, the
// content encrypted with age (X25519) to the store's identity, and ID.json,
// the metadata (original path, size, mode, owner, times, reason, names),
// written after the content: an entry without its .json is incomplete and
// not listed. Both are written atomically and synced before Put returns,
// so a caller may delete the original once Put returned nil.
//
// The identity lives in a key file (age's text format, mode 0600) created
// on first use. Whoever can read the key can read the store; whoever can
// write the directory can add to it. It is not a signature: the metadata
// is not authenticated.
package quarantine

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/google/renameio/v2"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("quarantine: no such entry")
	ErrExists   = errors.New("quarantine: restore target exists")
)

// Entry describes one stored object.
type Entry struct {
	ID       string      `json:"id"`
	Path     string      `json:"path"` // where the object was (absolute for files)
	Size     int64       `json:"size"`
	Mode     fs.FileMode `json:"mode"` // permission bits of the original file
	UID      int         `json:"uid"`
	GID      int         `json:"gid"`
	ModTime  time.Time   `json:"mtime"`
	Stored   time.Time   `json:"stored"`
	SHA256   string      `json:"sha256"`           // of the plain content
	Reason   string      `json:"reason,omitempty"` // "backup before remove", "quarantine", ...
	Status   string      `json:"status,omitempty"` // INFECTED, SUSPICIOUS, ...
	Names    []string    `json:"names,omitempty"`  // signature names
	Producer string      `json:"producer,omitempty"`
}

// Store is one store directory. It is safe for concurrent use by
// goroutines and by processes (entries have unique IDs).
type Store struct {
	dir  string
	id   *age.X25519Identity
	rcpt *age.X25519Recipient
}

// Open opens the store in dir (created 0700 if missing) with the identity
// in keyFile (created 0600 with a new identity if missing).
func Open(dir, keyFile string) (*Store, error) {
	if dir == "" || keyFile == "" {
		return nil, errors.New("quarantine: store directory and key file are required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	id, err := LoadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, id: id, rcpt: id.Recipient()}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// LoadOrCreateKey reads an age X25519 identity from file, creating the
// file (mode 0600, exclusively, parent directories 0700) with a new
// identity when it does not exist.
func LoadOrCreateKey(file string) (*age.X25519Identity, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		id, gerr := age.GenerateX25519Identity()
		if gerr != nil {
			return nil, fmt.Errorf("quarantine: %w", gerr)
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, fmt.Errorf("quarantine: key: %w", err)
		}
		// Written aside and linked into place, so a reader never sees a
		// partial key and two creators agree on one.
		f, cerr := os.CreateTemp(filepath.Dir(file), ".key-*")
		if cerr != nil {
			return nil, fmt.Errorf("quarantine: key: %w", cerr)
		}
		defer os.Remove(f.Name())
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("quarantine: key: %w", err)
		}
		text := fmt.Sprintf("# AVE quarantine and backup key, created %s\n# public key: %s\n%s\n",
			time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
		if _, err := f.WriteString(text); err != nil {
			f.Close()
			return nil, fmt.Errorf("quarantine: key: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("quarantine: key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("quarantine: key: %w", err)
		}
		if err := os.Link(f.Name(), file); errors.Is(err, fs.ErrExist) {
			return LoadOrCreateKey(file) // another creator won
		} else if err != nil {
			return nil, fmt.Errorf("quarantine: key: %w", err)
		}
		syncDir(filepath.Dir(file))
		return id, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine: key: %w", err)
	}
	ids, err := age.ParseIdentities(strings.NewReader(string(data)))
	if err != nil {
		return nil, fmt.Errorf("quarantine: key %s: %w", file, err)
	}
	for _, i := range ids {
		if x, ok := i.(*age.X25519Identity); ok {
			return x, nil
		}
	}
	return nil, fmt.Errorf("quarantine: key %s: no X25519 identity", file)
}

// Put encrypts r into the store with the metadata of e (ID, Stored, Size
// and SHA256 are filled in) and returns the completed entry.
func (s *Store) Put(r io.Reader, e Entry) (Entry, error) {
	e.ID = newID()
	e.Stored = time.Now().UTC()
	pf, err := renameio.NewPendingFile(s.path(e.ID, ".age"), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return e, fmt.Errorf("quarantine: %w", err)
	}
	defer pf.Cleanup()
	w, err := age.Encrypt(pf, s.rcpt)
	if err != nil {
		return e, fmt.Errorf("quarantine: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(w, io.TeeReader(r, h))
	if err != nil {
		return e, fmt.Errorf("quarantine: storing %s: %w", e.Path, err)
	}
	if err := w.Close(); err != nil {
		return e, fmt.Errorf("quarantine: %w", err)
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return e, fmt.Errorf("quarantine: %w", err)
	}
	e.Size, e.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return e, fmt.Errorf("quarantine: %w", err)
	}
	if err := renameio.WriteFile(s.path(e.ID, ".json"), append(meta, '\n'), 0o600, renameio.WithStaticPermissions(0o600)); err != nil {
		os.Remove(s.path(e.ID, ".age"))
		return e, fmt.Errorf("quarantine: %w", err)
	}
	syncDir(s.dir)
	return e, nil
}

// PutFile stores the regular file at path (not following a final symlink)
// with its mode, owner and modification time. f, when not nil, is the
// already open file to read (its offset is reset to 0).
func (s *Store) PutFile(path string, f *os.File, e Entry) (Entry, error) {
	if f == nil {
		var err error
		f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			return e, fmt.Errorf("quarantine: %w", err)
		}
		defer f.Close()
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return e, fmt.Errorf("quarantine: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return e, fmt.Errorf("quarantine: %w", err)
	}
	if !st.Mode().IsRegular() {
		return e, fmt.Errorf("quarantine: %s is not a regular file", path)
	}
	e.Path, e.Mode, e.ModTime = path, st.Mode().Perm(), st.ModTime().UTC()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = int(sys.Uid), int(sys.Gid)
	}
	return s.Put(f, e)
}

// List returns the complete entries, oldest first.
func (s *Store) List() ([]Entry, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	var out []Entry
	for _, n := range names {
		e, err := s.Get(strings.TrimSuffix(filepath.Base(n), ".json"))
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Stored.Equal(out[j].Stored) {
			return out[i].Stored.Before(out[j].Stored)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Get returns the metadata of one entry.
func (s *Store) Get(id string) (Entry, error) {
	var e Entry
	if !validID(id) {
		return e, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	data, err := os.ReadFile(s.path(id, ".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return e, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return e, fmt.Errorf("quarantine: %w", err)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("quarantine: %s: %w", id, err)
	}
	e.ID = id
	return e, nil
}

// WriteTo decrypts the content of entry id into w.
func (s *Store) WriteTo(id string, w io.Writer) (int64, error) {
	if _, err := s.Get(id); err != nil {
		return 0, err
	}
	f, err := os.Open(s.path(id, ".age"))
	if err != nil {
		return 0, fmt.Errorf("quarantine: %w", err)
	}
	defer f.Close()
	r, err := age.Decrypt(f, s.id)
	if err != nil {
		return 0, fmt.Errorf("quarantine: %s: %w", id, err)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return n, fmt.Errorf("quarantine: %s: %w", id, err)
	}
	return n, nil
}

// Restore writes entry id back to dest ("" = its original path),
// atomically, with its mode, owner (when permitted) and modification
// time, and returns the path written. An existing dest is replaced only
// with overwrite. The content is checked against the stored SHA-256
// before the file appears.
func (s *Store) Restore(id, dest string, overwrite bool) (string, error) {
	e, err := s.Get(id)
	if err != nil {
		return "", err
	}
	if dest == "" {
		dest = e.Path
	}
	if _, err := os.Lstat(dest); err == nil && !overwrite {
		return dest, fmt.Errorf("%w: %s", ErrExists, dest)
	}
	pf, err := renameio.NewPendingFile(dest, renameio.WithStaticPermissions(e.Mode.Perm()))
	if err != nil {
		return dest, fmt.Errorf("quarantine: restore: %w", err)
	}
	defer pf.Cleanup()
	h := sha256.New()
	if _, err := s.WriteTo(id, io.MultiWriter(pf, h)); err != nil {
		return dest, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); e.SHA256 != "" && got != e.SHA256 {
		return dest, fmt.Errorf("quarantine: %s: content digest %s, stored %s", id, got, e.SHA256)
	}
	if os.Geteuid() == 0 {
		if err := pf.Chown(e.UID, e.GID); err != nil {
			return dest, fmt.Errorf("quarantine: restore: %w", err)
		}
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return dest, fmt.Errorf("quarantine: restore: %w", err)
	}
	if !e.ModTime.IsZero() {
		os.Chtimes(dest, e.ModTime, e.ModTime)
	}
	return dest, nil
}

// Delete removes entry id.
func (s *Store) Delete(id string) error {
	if _, err := s.Get(id); err != nil {
		return err
	}
	if err := os.Remove(s.path(id, ".json")); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if err := os.Remove(s.path(id, ".age")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

func (s *Store) path(id, ext string) string { return filepath.Join(s.dir, id+ext) }

// newID is a sortable, unique ID: UTC time and 48 random bits.
func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405.000000") + "-" + hex.EncodeToString(b[:])
}

// validID keeps IDs from naming files outside the store.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '.') {
			return false
		}
	}
	return !strings.Contains(id, "..")
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
