package quarantine

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMailEntryMetadataRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "store"), filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: a@example.org\r\nSubject: x\r\n\r\nplain body text\r\n"
	in := Entry{Kind: KindMessage, Reason: "mail quarantine", Status: "INFECTED", Names: []string{"EICAR-Test-File"},
		From: "", Rcpts: []string{"b@example.net", "c@example.net"}, Body: "8BITMIME", SMTPUTF8: true,
		Group: "default", MessageID: "<m1@example.org>", QueueID: "q1", Producer: "smtpscanner"}
	e, err := s.Put(strings.NewReader(msg), in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ID, want.Stored, want.Size, want.SHA256 = e.ID, e.Stored, int64(len(msg)), e.SHA256
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// Encrypted at rest.
	enc, _ := os.ReadFile(filepath.Join(dir, "store", e.ID+".age"))
	if bytes.Contains(enc, []byte("plain body text")) || bytes.Contains(enc, []byte("Subject")) {
		t.Fatal("content stored in plain text")
	}
	e2, data, err := s.Load(e.ID)
	if err != nil || string(data) != msg || e2.ID != e.ID {
		t.Fatalf("Load: %q %v", data, err)
	}
	// Restore of a mail entry needs a destination and gives 0600.
	if _, err := s.Restore(e.ID, "", false); err == nil {
		t.Fatal("restored a message without a destination")
	}
	out := filepath.Join(dir, "msg.eml")
	if _, err := s.Restore(e.ID, out, false); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("restored message: %v %v", st, err)
	}
}

func TestOldEntriesReadAsFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Put(strings.NewReader("x"), Entry{Path: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != KindFile {
		t.Fatalf("new entry kind %q", e.Kind)
	}
	// An entry written before kinds existed.
	old := `{"id":"x","path":"/old","size":1,"mode":420,"uid":0,"gid":0,"mtime":"2020-01-01T00:00:00Z","stored":"2020-01-01T00:00:00Z","sha256":"","status":"INFECTED"}`
	if err := os.WriteFile(filepath.Join(dir, e.ID+".json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(e.ID)
	if err != nil || got.Kind != KindFile || got.Path != "/old" || got.IsMail() {
		t.Fatalf("old entry %+v %v", got, err)
	}
	// File entries keep their JSON free of mail fields.
	b, _ := json.Marshal(Entry{Kind: KindFile})
	for _, k := range []string{"from", "rcpts", "released", "smtputf8", "part_name"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("file entry JSON has %q: %s", k, b)
		}
	}
	if _, err := s.Put(strings.NewReader("x"), Entry{Kind: "bogus"}); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestUpdateRewritesMetadataOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Put(strings.NewReader("msg"), Entry{Kind: KindMessage, Rcpts: []string{"a@b"}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	u, err := s.Update(e.ID, func(x *Entry) {
		x.Released, x.ReleasedTo = at, []string{"a@b"}
		x.SHA256, x.Size, x.Kind = "forged", 99, KindFile // cannot change
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(e.ID)
	if !got.Released.Equal(at) || got.SHA256 != e.SHA256 || got.Size != 3 || got.Kind != KindMessage || !reflect.DeepEqual(got, u) {
		t.Fatalf("updated %+v, returned %+v", got, u)
	}
	if _, data, err := s.Load(e.ID); err != nil || string(data) != "msg" {
		t.Fatalf("content after update: %q %v", data, err)
	}
	if _, err := s.Update("nope", func(*Entry) {}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing entry: %v", err)
	}
	leftovers(t, dir, 2)
}

// leftovers checks that dir holds exactly n files and no temporary ones.
func leftovers(t *testing.T, dir string, n int) {
	t.Helper()
	names, _ := os.ReadDir(dir)
	var got []string
	for _, d := range names {
		got = append(got, d.Name())
	}
	if len(got) != n {
		t.Fatalf("store holds %v, want %d files", got, n)
	}
	for _, g := range got {
		if strings.HasPrefix(g, ".") {
			t.Fatalf("temporary file left: %v", got)
		}
	}
}

// TestPutSyncsContentMetadataAndDirectory records every sync Put makes:
// the content before its rename, the directory before the metadata is
// written, the metadata before its rename, and the directory last, with
// both names in it.
func TestPutSyncsContentMetadataAndDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		name      string
		age, json bool // final names present at the time
	}
	var syncs []rec
	syncFile = func(f *os.File) error {
		r := rec{name: f.Name()}
		if m, _ := filepath.Glob(filepath.Join(dir, "*.age")); len(m) > 0 {
			r.age = true
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(m) > 0 {
			r.json = true
		}
		syncs = append(syncs, r)
		return f.Sync()
	}
	t.Cleanup(func() { syncFile = (*os.File).Sync })
	e, err := s.Put(strings.NewReader("content"), Entry{Kind: KindMessage})
	if err != nil {
		t.Fatal(err)
	}
	id := e.ID
	if len(syncs) != 4 {
		t.Fatalf("syncs %+v, want 4", syncs)
	}
	base := func(r rec) string { return filepath.Base(r.name) }
	if !strings.HasPrefix(base(syncs[0]), "."+id+".age.tmp-") || syncs[0].age {
		t.Errorf("first sync %+v: want the content's temporary file before its rename", syncs[0])
	}
	if syncs[1].name != dir || !syncs[1].age || syncs[1].json {
		t.Errorf("second sync %+v: want the directory after the content's rename", syncs[1])
	}
	if !strings.HasPrefix(base(syncs[2]), "."+id+".json.tmp-") || syncs[2].json {
		t.Errorf("third sync %+v: want the metadata's temporary file before its rename", syncs[2])
	}
	if syncs[3].name != dir || !syncs[3].json {
		t.Errorf("last sync %+v: want the directory with both names", syncs[3])
	}
}

func TestPutFailsAndLeavesNothingWhenASyncFails(t *testing.T) {
	for fail := 0; fail < 4; fail++ {
		dir := t.TempDir()
		s, err := Open(dir, filepath.Join(t.TempDir(), "k"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		syncFile = func(f *os.File) error {
			n++
			if n-1 == fail {
				return errors.New("EIO")
			}
			return f.Sync()
		}
		_, err = s.Put(strings.NewReader("content"), Entry{Kind: KindMessage})
		syncFile = (*os.File).Sync
		if err == nil || !strings.Contains(err.Error(), "EIO") {
			t.Fatalf("sync %d failing: Put = %v", fail, err)
		}
		leftovers(t, dir, 0)
		if l, err := s.List(); err != nil || len(l) != 0 {
			t.Fatalf("sync %d failing: listed %v %v", fail, l, err)
		}
	}
}

// TestLockIsExclusiveAcrossOpenFiles: flock(2) locks belong to the open
// file, so a second Lock of the entry (as another process would take it)
// is ErrBusy until the first is released; a missing entry is ErrNotFound.
func TestLockIsExclusiveAcrossOpenFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "q"), filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Put(strings.NewReader("data"), Entry{Kind: KindMessage, Rcpts: []string{"a@x"}})
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(e.ID); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Lock: %v, want ErrBusy", err)
	}
	// Metadata updates do not touch the locked content file.
	if _, err := s.Update(e.ID, func(x *Entry) { x.ReleasedTo = []string{"a@x"} }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(e.ID); !errors.Is(err, ErrBusy) {
		t.Fatalf("Lock after Update: %v, want ErrBusy", err)
	}
	unlock()
	unlock2, err := s.Lock(e.ID)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
	if _, err := s.Lock("20990101T000000.000000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lock of a missing entry: %v", err)
	}
}
