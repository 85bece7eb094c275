package quarantine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPutListRestoreDeleteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "keys", "q.key")
	s, err := Open(filepath.Join(dir, "store"), key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
	orig := filepath.Join(dir, "victim.bin")
	content := []byte("secret plain content\x00\x01")
	if err := os.WriteFile(orig, content, 0o640); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(orig, mtime, mtime)
	e, err := s.PutFile(orig, nil, Entry{Reason: "quarantine", Status: "INFECTED", Names: []string{"EICAR-Test-File"}})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := os.ReadFile(filepath.Join(dir, "store", e.ID+".age"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, content[:10]) {
		t.Fatal("stored content is not encrypted")
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].Path != orig || list[0].Size != int64(len(content)) || list[0].Names[0] != "EICAR-Test-File" {
		t.Fatalf("list %+v, %v", list, err)
	}
	if _, err := s.Restore(e.ID, "", false); !errors.Is(err, ErrExists) {
		t.Fatalf("restore over an existing file: %v", err)
	}
	os.Remove(orig)
	// A second Open with the same key reads the store.
	s2, err := Open(filepath.Join(dir, "store"), key)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s2.Restore(e.ID, "", false); err != nil || p != orig {
		t.Fatalf("restore: %s %v", p, err)
	}
	got, err := os.ReadFile(orig)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("restored %q, %v", got, err)
	}
	st, _ = os.Stat(orig)
	if st.Mode().Perm() != 0o640 || !st.ModTime().Equal(mtime) {
		t.Fatalf("restored mode %v mtime %v", st.Mode().Perm(), st.ModTime())
	}
	if err := s.Delete(e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(e.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted entry: %v", err)
	}
}

func TestWrongKeyCannotDecrypt(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, filepath.Join(t.TempDir(), "a.key"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Put(strings.NewReader("x"), Entry{Path: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(dir, filepath.Join(t.TempDir(), "b.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteTo(e.ID, &bytes.Buffer{}); err == nil {
		t.Fatal("decrypted with another key")
	}
}

func TestIDsCannotEscapeTheStore(t *testing.T) {
	s, err := Open(t.TempDir(), filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../x", "a/b", "", "..", "x\x00"} {
		if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v", id, err)
		}
	}
}

func TestPutFileRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "s"), filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "target"), []byte("x"), 0o600)
	os.Symlink(filepath.Join(dir, "target"), filepath.Join(dir, "link"))
	if _, err := s.PutFile(filepath.Join(dir, "link"), nil, Entry{}); err == nil {
		t.Fatal("followed a symlink")
	}
}

// TestPutOnceStoresAKeyOnce: a second PutOnce with the same key returns
// the first entry and stores nothing; once that entry is deleted, the key
// stores again; the markers do not show in List.
func TestPutOnceStoresAKeyOnce(t *testing.T) {
	d := t.TempDir()
	s, err := Open(filepath.Join(d, "store"), filepath.Join(d, "key"))
	if err != nil {
		t.Fatal(err)
	}
	e1, again, err := s.PutOnce(strings.NewReader("one"), Entry{Kind: KindMessage}, "k")
	if err != nil || again {
		t.Fatalf("first: %v %v", again, err)
	}
	e2, again, err := s.PutOnce(strings.NewReader("one"), Entry{Kind: KindMessage}, "k")
	if err != nil || !again || e2.ID != e1.ID {
		t.Fatalf("second: %+v %v %v", e2, again, err)
	}
	if l, _ := s.List(); len(l) != 1 {
		t.Fatalf("%d entries", len(l))
	}
	if err := s.Delete(e1.ID); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(d, "store", ".once-*")); len(m) != 0 {
		t.Fatalf("markers left after Delete: %v", m)
	}
	e3, again, err := s.PutOnce(strings.NewReader("one"), Entry{Kind: KindMessage}, "k")
	if err != nil || again || e3.ID == e1.ID {
		t.Fatalf("after delete: %+v %v %v", e3, again, err)
	}
	if l, _ := s.List(); len(l) != 1 {
		t.Fatalf("%d entries after delete and put", len(l))
	}
}

// TestDeleteKeepsTheMarkerOfAnotherEntry: two entries of one key (the
// first one's marker was never written); deleting the older keeps the
// marker that names the newer, so the key still stores nothing new.
func TestDeleteKeepsTheMarkerOfAnotherEntry(t *testing.T) {
	d := t.TempDir()
	s, err := Open(filepath.Join(d, "store"), filepath.Join(d, "key"))
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.PutOnce(strings.NewReader("one"), Entry{Kind: KindMessage}, "k")
	if err != nil {
		t.Fatal(err)
	}
	markers, _ := filepath.Glob(filepath.Join(d, "store", ".once-*"))
	if len(markers) != 1 {
		t.Fatalf("markers %v", markers)
	}
	os.Remove(markers[0]) // as if its write had failed
	b, again, err := s.PutOnce(strings.NewReader("one"), Entry{Kind: KindMessage}, "k")
	if err != nil || again {
		t.Fatalf("second: %v %v", again, err)
	}
	if err := s.Delete(a.ID); err != nil {
		t.Fatal(err)
	}
	c, again, err := s.PutOnce(strings.NewReader("one"), Entry{Kind: KindMessage}, "k")
	if err != nil || !again || c.ID != b.ID {
		t.Fatalf("after deleting the older: %+v %v %v (want %s again)", c.ID, again, err, b.ID)
	}
}
