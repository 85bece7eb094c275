// Package quarantine is AVE's encrypted object store, used for the
// quarantine (objects taken out of the way) and for backups (copies kept
// before a file is removed, cured or moved). kavscanner writes into it;
// avectl lists, shows, restores and deletes; smtpscanner's mail policy
// keeps whole messages ("message" entries, with their envelope, which
// avectl quarantine release re-injects) and parts removed from messages
// ("part" entries) in it.
//
// Each entry is two files in the store directory (mode 0700): ID.age, the
// content encrypted with age (X25519) to the store's identity, and ID.json,
// the metadata (original path, size, mode, owner, times, reason, names),
// written after the content: an entry without its .json is incomplete and
// not listed. Each is written to a temporary file, synced, renamed into
// place and the directory synced (the content's rename is on disk before
// the metadata appears), all before Put returns: a caller may delete the
// original, or answer 250 for a message, once Put returned nil.
//
// The identity lives in a key file (age's text format, mode 0600) created
// on first use. Whoever can read the key can read the store; whoever can
// write the directory can add to it. It is not a signature: the metadata
// is not authenticated.
package quarantine

import (
	"bytes"
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

// Entry kinds.
const (
	KindFile    = "file"    // a file of the file system (kavscanner); entries without a kind
	KindMessage = "message" // a whole mail message with its envelope (smtpscanner)
	KindPart    = "part"    // a part removed from a message (smtpscanner)
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("quarantine: no such entry")
	ErrExists   = errors.New("quarantine: restore target exists")
	ErrBusy     = errors.New("quarantine: entry in use by another process")
)

// RcptDSN is the DSN parameters (RFC 3461) a recipient of a message entry
// was given on RCPT: a release passes them on.
type RcptDSN struct {
	Notify    []string `json:"notify,omitempty"`     // NEVER, SUCCESS, FAILURE, DELAY
	ORcptType string   `json:"orcpt_type,omitempty"` // ORCPT address type ("rfc822")
	ORcpt     string   `json:"orcpt,omitempty"`      // ORCPT address, xtext-decoded
}

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

	// Kind is KindFile, KindMessage or KindPart. Put sets KindFile when
	// it is empty; Get reads entries written without one as KindFile.
	Kind string `json:"kind,omitempty"`

	// Mail metadata (message and part entries). From, Rcpts, Body and
	// SMTPUTF8 are the envelope a release re-injects the message with.
	From     string   `json:"from,omitempty"`     // envelope sender; "" is the null sender <>
	Rcpts    []string `json:"rcpts,omitempty"`    // envelope recipients the entry was kept for
	Body     string   `json:"body,omitempty"`     // MAIL BODY=: "8BITMIME" or "" (7BIT)
	SMTPUTF8 bool     `json:"smtputf8,omitempty"` // MAIL had SMTPUTF8
	Ret      string   `json:"ret,omitempty"`      // MAIL RET= (DSN): FULL or HDRS
	EnvID    string   `json:"envid,omitempty"`    // MAIL ENVID= (DSN), xtext-decoded
	// RcptDSN holds the DSN parameters of the recipients that had any,
	// by address.
	RcptDSN   map[string]RcptDSN `json:"rcpt_dsn,omitempty"`
	Group     string             `json:"group,omitempty"`      // policy group(s), comma-separated
	MessageID string             `json:"message_id,omitempty"` // Message-ID header field
	QueueID   string             `json:"queue_id,omitempty"`   // smtpscanner's queue ID (in its log)
	PartName  string             `json:"part_name,omitempty"`  // part entries: the attachment's name

	// Released is when the message was last re-injected (avectl
	// quarantine release), to the recipients ReleasedTo.
	Released   time.Time `json:"released,omitzero"`
	ReleasedTo []string  `json:"released_to,omitempty"`

	// Once is the hash of the key PutOnce stored the entry under; Delete
	// removes its marker with it.
	Once string `json:"once,omitempty"`
}

// IsMail reports a message or part entry.
func (e Entry) IsMail() bool { return e.Kind == KindMessage || e.Kind == KindPart }

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
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("quarantine: %w", err)
		}
		if err := syncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, fmt.Errorf("quarantine: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	id, err := LoadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, id: id, rcpt: id.Recipient()}, nil
}

// ErrNoStore is OpenExisting's error for a store directory or key file
// that does not exist yet (nothing was ever put there).
var ErrNoStore = errors.New("quarantine: no store yet")

// OpenExisting opens a store that exists, with its key, creating nothing:
// for the administrator's commands (list, show, restore, release,
// delete). Created by root, the directory or key would lock out the
// daemon that owns them (smtpscanner as user ave).
func OpenExisting(dir, keyFile string) (*Store, error) {
	if dir == "" || keyFile == "" {
		return nil, errors.New("quarantine: store directory and key file are required")
	}
	for _, p := range []string{dir, keyFile} {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist (nothing was quarantined there)", ErrNoStore, p)
		} else if err != nil {
			return nil, fmt.Errorf("quarantine: %w", err)
		}
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("quarantine: key: %w", err)
	}
	id, err := parseKey(keyFile, data)
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
	return parseKey(file, data)
}

// parseKey reads the X25519 identity of a key file's content.
func parseKey(file string, data []byte) (*age.X25519Identity, error) {
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
// and SHA256 are filled in, Kind defaults to KindFile) and returns the
// completed entry. The content, the metadata and the directory are synced
// before it returns; on error nothing of the entry is left.
func (s *Store) Put(r io.Reader, e Entry) (Entry, error) {
	switch e.Kind {
	case "":
		e.Kind = KindFile
	case KindFile, KindMessage, KindPart:
	default:
		return e, fmt.Errorf("quarantine: unknown entry kind %q", e.Kind)
	}
	e.ID = newID()
	e.Stored = time.Now().UTC()
	var n int64
	h := sha256.New()
	err := s.writeAtomic(s.path(e.ID, ".age"), func(f io.Writer) error {
		w, err := age.Encrypt(f, s.rcpt)
		if err != nil {
			return err
		}
		n, err = io.Copy(w, io.TeeReader(r, h))
		if err != nil {
			return fmt.Errorf("storing %s: %w", e.Path, err)
		}
		return w.Close()
	})
	if err != nil {
		return e, fmt.Errorf("quarantine: %w", err)
	}
	// The content's name is durable before the metadata names it.
	if err := syncDir(s.dir); err != nil {
		os.Remove(s.path(e.ID, ".age"))
		return e, fmt.Errorf("quarantine: %w", err)
	}
	e.Size, e.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	if err := s.writeMeta(e); err != nil {
		os.Remove(s.path(e.ID, ".json"))
		os.Remove(s.path(e.ID, ".age"))
		return e, err
	}
	return e, nil
}

// Update rewrites the metadata of entry id with what fn makes of it
// (atomically, synced with the directory) and returns the new entry. ID,
// Stored, Size, SHA256 and Kind cannot change.
func (s *Store) Update(id string, fn func(*Entry)) (Entry, error) {
	old, err := s.Get(id)
	if err != nil {
		return old, err
	}
	e := old
	fn(&e)
	e.ID, e.Stored, e.Size, e.SHA256, e.Kind = old.ID, old.Stored, old.Size, old.SHA256, old.Kind
	if err := s.writeMeta(e); err != nil {
		return old, err
	}
	return e, nil
}

// writeMeta writes e's metadata file atomically and syncs the directory.
func (s *Store) writeMeta(e Entry) error {
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	meta = append(meta, '\n')
	if err := s.writeAtomic(s.path(e.ID, ".json"), func(w io.Writer) error {
		_, err := w.Write(meta)
		return err
	}); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

// writeAtomic writes name (mode 0600) through a temporary file in the
// same directory that is synced and renamed over name. The temporary name
// starts with a dot and never ends in .json or .age, so List skips it.
func (s *Store) writeAtomic(name string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := write(f); err != nil {
		return err
	}
	if err := syncFile(f); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	done = true
	return nil
}

// PutOnce is Put, unless an entry was put before under the same key and
// is still in the store: then that entry is returned (again true) and
// nothing is stored. smtpscanner keys a message by its content and
// envelope, so the same message offered again by its MTA (after a
// temporary failure downstream) is kept once. The key's marker is a
// hidden file beside the entries (".once-" and the key's SHA-256), which
// List skips.
func (s *Store) PutOnce(r io.Reader, e Entry, key string) (Entry, bool, error) {
	sum := sha256.Sum256([]byte(key))
	e.Once = hex.EncodeToString(sum[:])
	marker := s.onceMarker(e.Once)
	if b, err := os.ReadFile(marker); err == nil {
		if old, err := s.Get(strings.TrimSpace(string(b))); err == nil {
			return old, true, nil
		}
	}
	e, err := s.Put(r, e)
	if err != nil {
		return e, false, err
	}
	// The entry is stored and synced: should the marker not be written,
	// a retry only stores it again.
	_ = s.writeAtomic(marker, func(w io.Writer) error {
		_, err := io.WriteString(w, e.ID+"\n")
		return err
	})
	return e, false, nil
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
	if e.Kind == "" {
		e.Kind = KindFile
	}
	return e, nil
}

// Load returns the metadata and the decrypted content of entry id, checked
// against the stored SHA-256.
func (s *Store) Load(id string) (Entry, []byte, error) {
	e, err := s.Get(id)
	if err != nil {
		return e, nil, err
	}
	var buf bytes.Buffer
	if _, err := s.WriteTo(id, &buf); err != nil {
		return e, nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	if got := hex.EncodeToString(sum[:]); e.SHA256 != "" && got != e.SHA256 {
		return e, nil, fmt.Errorf("quarantine: %s: content digest %s, stored %s", id, got, e.SHA256)
	}
	return e, buf.Bytes(), nil
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
	if dest == "" {
		return "", fmt.Errorf("quarantine: %s: no original path: a destination is needed", id)
	}
	if _, err := os.Lstat(dest); err == nil && !overwrite {
		return dest, fmt.Errorf("%w: %s", ErrExists, dest)
	}
	perm := e.Mode.Perm()
	if e.Kind != KindFile || perm == 0 {
		perm = 0o600 // mail: nobody's file; keep it private
	}
	pf, err := renameio.NewPendingFile(dest, renameio.WithStaticPermissions(perm))
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
	if os.Geteuid() == 0 && e.Kind == KindFile {
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

// Lock takes entry id for this process alone (an exclusive, non-blocking
// flock(2) on its content file, which is never rewritten) until unlock is
// called or the process ends, so that two releases of one message cannot
// run at once. ErrBusy when another holder has it.
func (s *Store) Lock(id string) (unlock func(), err error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	f, err := os.Open(s.path(id, ".age"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrBusy, id)
		}
		return nil, fmt.Errorf("quarantine: lock %s: %w", id, err)
	}
	return func() { f.Close() }, nil
}

// Delete removes entry id.
func (s *Store) Delete(id string) error {
	e, err := s.Get(id)
	if err != nil {
		return err
	}
	if err := os.Remove(s.path(id, ".json")); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if err := os.Remove(s.path(id, ".age")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("quarantine: %w", err)
	}
	// The marker goes only when it names this entry: another entry of the
	// same key (stored when this one's marker was not written) keeps its.
	if e.Once != "" {
		if b, err := os.ReadFile(s.onceMarker(e.Once)); err == nil && strings.TrimSpace(string(b)) == id {
			os.Remove(s.onceMarker(e.Once))
		}
	}
	return nil
}

func (s *Store) path(id, ext string) string { return filepath.Join(s.dir, id+ext) }

// onceMarker is the file naming the entry PutOnce stored under a key hash.
func (s *Store) onceMarker(hash string) string { return filepath.Join(s.dir, ".once-"+hash) }

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

// syncFile is (*os.File).Sync; tests replace it to see what is synced.
var syncFile = (*os.File).Sync

// syncDir makes the names in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := syncFile(d); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
