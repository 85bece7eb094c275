package updater

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// source writes a DB version into dir: files, their manifest and, with
// key, manifest.sig.
func source(t *testing.T, dir, version string, files map[string]string, key ed25519.PrivateKey) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Manifest(dir, version, "2026-12-07T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "manifest"), m, 0o644)
	if key != nil {
		os.WriteFile(filepath.Join(dir, "manifest.sig"), Sign(key, m), 0o644)
	}
}

func keys(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

var v1 = map[string]string{"a.hdb": "44d88612fea8a8f36de82e1278abb02f:68:Old\n"}
var v2 = map[string]string{"a.hdb": "44d88612fea8a8f36de82e1278abb02f:68:New\n", "b.yar": "rule b { condition: false }\n"}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUpdateFromADirectoryKeepsThePreviousDB: a newer signed version is
// fetched whole, swapped in, the old one kept in BackUpPath; the next run
// finds it up to date.
func TestUpdateFromADirectoryKeepsThePreviousDB(t *testing.T) {
	pub, priv := keys(t)
	d := t.TempDir()
	bases := filepath.Join(d, "bases")
	source(t, bases, "v1", v1, priv)
	src := filepath.Join(d, "mirror")
	source(t, src, "v2", v2, priv)
	opt := Options{Sources: []string{src}, PublicKey: pub, BasesPath: bases}
	res, err := Update(context.Background(), opt)
	if err != nil || !res.Updated || res.From != "v1" || res.To != "v2" || res.Source != src {
		t.Fatalf("got %+v, %v", res, err)
	}
	if read(t, filepath.Join(bases, "b.yar")) != v2["b.yar"] || read(t, filepath.Join(bases, "a.hdb")) != v2["a.hdb"] {
		t.Fatal("new files not in place")
	}
	if read(t, filepath.Join(bases, "manifest")) != read(t, filepath.Join(src, "manifest")) {
		t.Fatal("manifest not copied")
	}
	if read(t, filepath.Join(bases+".prev", "a.hdb")) != v1["a.hdb"] {
		t.Fatal("previous DB not kept")
	}
	res, err = Update(context.Background(), opt)
	if err != nil || res.Updated || res.From != "v2" {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	// Rollback puts v1 back and keeps v2 aside.
	if v, err := Rollback(opt); err != nil || v != "v1" || read(t, filepath.Join(bases, "a.hdb")) != v1["a.hdb"] || read(t, filepath.Join(bases+".bad", "b.yar")) != v2["b.yar"] {
		t.Fatalf("rollback: %q, %v", v, err)
	}
	if _, err := Rollback(opt); err == nil {
		t.Fatal("a second rollback with nothing to go back to succeeded")
	}
}

// TestUpdateOverHTTPTriesMirrorsAndUsesTheProxy: a dead first mirror is
// skipped; the second is reached through an HTTP proxy, which sees every
// request.
func TestUpdateOverHTTPTriesMirrorsAndUsesTheProxy(t *testing.T) {
	pub, priv := keys(t)
	d := t.TempDir()
	src := filepath.Join(d, "mirror")
	source(t, src, "v2", v2, priv)
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.String())
		mu.Unlock()
		if r.URL.Host != "mirror.example" {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		http.ServeFile(w, r, filepath.Join(src, strings.TrimPrefix(r.URL.Path, "/db/")))
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	bases := filepath.Join(d, "bases")
	opt := Options{Sources: []string{"http://unreachable.example/db", "http://mirror.example/db"}, Client: client, PublicKey: pub, BasesPath: bases}
	res, err := Update(context.Background(), opt)
	if err != nil || !res.Updated || res.Source != "http://mirror.example/db" {
		t.Fatalf("got %+v, %v", res, err)
	}
	if read(t, filepath.Join(bases, "b.yar")) != v2["b.yar"] {
		t.Fatal("files not fetched")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 4 || !strings.Contains(strings.Join(seen, " "), "http://mirror.example/db/manifest.sig") {
		t.Fatalf("proxy saw %v", seen)
	}
}

// TestUpdateRefusesWhatFailsItsChecks: a file whose digest differs, a bad
// or missing signature, an unsigned source without AllowUnsigned: the DB
// in place stays as it was and no staging directory is left.
func TestUpdateRefusesWhatFailsItsChecks(t *testing.T) {
	pub, priv := keys(t)
	_, other := keys(t)
	for _, tc := range []struct {
		name  string
		setup func(src string)
		opt   func(*Options)
		want  string
	}{
		{"digest", func(src string) {
			os.WriteFile(filepath.Join(src, "b.yar"), []byte("rule evil { condition: true }\n"), 0o644)
		}, nil, "the manifest says"},
		{"wrong signer", func(src string) {
			os.WriteFile(filepath.Join(src, "manifest.sig"), Sign(other, []byte(read(t, filepath.Join(src, "manifest")))), 0o644)
		}, nil, "does not match"},
		{"manifest edited", func(src string) {
			m := read(t, filepath.Join(src, "manifest"))
			os.WriteFile(filepath.Join(src, "manifest"), []byte(strings.Replace(m, "v2", "v3", 1)), 0o644)
		}, nil, "does not match"},
		{"no signature", func(src string) { os.Remove(filepath.Join(src, "manifest.sig")) }, nil, "no manifest.sig"},
		{"no key, unsigned not allowed", nil, func(o *Options) { o.PublicKey = nil }, "AllowUnsigned"},
		{"no signature with a key even with AllowUnsigned", func(src string) { os.Remove(filepath.Join(src, "manifest.sig")) },
			func(o *Options) { o.AllowUnsigned = true }, "no manifest.sig"},
		{"older than the installed DB", func(src string) {
			m := strings.Replace(read(t, filepath.Join(src, "manifest")), "created = 2026-12-07T00:00:00Z", "created = 2026-01-01T00:00:00Z", 1)
			os.WriteFile(filepath.Join(src, "manifest"), []byte(m), 0o644)
			os.WriteFile(filepath.Join(src, "manifest.sig"), Sign(priv, []byte(m)), 0o644)
		}, nil, "older than the installed"},
		{"signed without a created time", func(src string) {
			m := strings.Replace(read(t, filepath.Join(src, "manifest")), "created = 2026-12-07T00:00:00Z\n", "", 1)
			os.WriteFile(filepath.Join(src, "manifest"), []byte(m), 0o644)
			os.WriteFile(filepath.Join(src, "manifest.sig"), Sign(priv, []byte(m)), 0o644)
		}, nil, "not an RFC 3339 time"},
		{"too large", nil, func(o *Options) { o.MaxFileSize = 10 }, "larger than MaxFileSize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			bases := filepath.Join(d, "bases")
			source(t, bases, "v1", v1, priv)
			src := filepath.Join(d, "mirror")
			source(t, src, "v2", v2, priv)
			if tc.setup != nil {
				tc.setup(src)
			}
			opt := Options{Sources: []string{src}, PublicKey: pub, BasesPath: bases}
			if tc.opt != nil {
				tc.opt(&opt)
			}
			res, err := Update(context.Background(), opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) || res.Updated {
				t.Fatalf("got %+v, %v; want an error with %q", res, err, tc.want)
			}
			if read(t, filepath.Join(bases, "a.hdb")) != v1["a.hdb"] {
				t.Fatal("the DB in place changed")
			}
			for _, left := range []string{bases + ".new", bases + ".prev"} {
				if _, err := os.Stat(left); err == nil {
					t.Fatalf("%s left behind", left)
				}
			}
		})
	}
	// Unsigned, allowed without a key.
	d := t.TempDir()
	src := filepath.Join(d, "mirror")
	source(t, src, "v2", v2, nil)
	if res, err := Update(context.Background(), Options{Sources: []string{src}, AllowUnsigned: true, BasesPath: filepath.Join(d, "bases")}); err != nil || !res.Updated {
		t.Fatalf("AllowUnsigned: %+v, %v", res, err)
	}
}

// TestRecoverFinishesAnInterruptedSwap: with the DB directory gone (a
// crash between the swap's renames), the next run puts the staged DB in
// place, or else the previous one.
func TestRecoverFinishesAnInterruptedSwap(t *testing.T) {
	_, priv := keys(t)
	d := t.TempDir()
	bases := filepath.Join(d, "bases")
	source(t, bases+".new", "v2", v2, priv)
	source(t, bases+".prev", "v1", v1, priv)
	if err := Recover(Options{BasesPath: bases}); err != nil || read(t, filepath.Join(bases, "b.yar")) != v2["b.yar"] {
		t.Fatalf("staged DB not put in place: %v", err)
	}
	os.RemoveAll(bases)
	os.Mkdir(bases, 0o755) // an empty directory is no DB either
	if err := Recover(Options{BasesPath: bases}); err != nil || read(t, filepath.Join(bases, "a.hdb")) != v1["a.hdb"] {
		t.Fatalf("previous DB not put back: %v", err)
	}
}

// TestATricklingMirrorCannotHoldTheRun: the run's deadline ends a
// download that never finishes; the DB in place is untouched.
func TestATricklingMirrorCannotHoldTheRun(t *testing.T) {
	pub, priv := keys(t)
	d := t.TempDir()
	src := filepath.Join(d, "mirror")
	source(t, src, "v2", v2, priv)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/b.yar") {
			w.Write([]byte("rule"))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // never the rest
			return
		}
		http.ServeFile(w, r, filepath.Join(src, filepath.Base(r.URL.Path)))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	bases := filepath.Join(d, "bases")
	res, err := Update(ctx, Options{Sources: []string{srv.URL + "/db"}, PublicKey: pub, BasesPath: bases})
	if err == nil || res.Updated {
		t.Fatalf("got %+v, %v", res, err)
	}
	if _, err := os.Stat(bases); err == nil {
		t.Fatal("a DB was installed")
	}
}

// TestOneRunAtATime: while a run holds the lock, another is refused.
func TestOneRunAtATime(t *testing.T) {
	pub, priv := keys(t)
	d := t.TempDir()
	src := filepath.Join(d, "mirror")
	source(t, src, "v2", v2, priv)
	opt := Options{Sources: []string{src}, PublicKey: pub, BasesPath: filepath.Join(d, "bases")}
	unlock, err := Lock(opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Update(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "another keepup2date is running") {
		t.Fatalf("second run: %v", err)
	}
	// The holder itself runs with Locked.
	held := opt
	held.Locked = true
	if res, err := Update(context.Background(), held); err != nil || !res.Updated {
		t.Fatalf("the holder's own run: %+v, %v", res, err)
	}
	unlock()
	opt.Sources = []string{src}
	if res, err := Update(context.Background(), opt); err != nil || res.Updated {
		t.Fatalf("after the first ended: %+v, %v", res, err)
	}
}

// TestRefusedVersionIsNotFetchedAgain: a version aveserver refused (kept
// in BasesPath.bad by the rollback) is not installed again.
func TestRefusedVersionIsNotFetchedAgain(t *testing.T) {
	pub, priv := keys(t)
	d := t.TempDir()
	bases := filepath.Join(d, "bases")
	source(t, bases, "v1", v1, priv)
	source(t, bases+".bad", "v2", v2, priv)
	src := filepath.Join(d, "mirror")
	source(t, src, "v2", v2, priv)
	if res, err := Update(context.Background(), Options{Sources: []string{src}, PublicKey: pub, BasesPath: bases}); err == nil || res.Updated || !strings.Contains(err.Error(), "refused before") {
		t.Fatalf("got %+v, %v", res, err)
	}
}

func TestParseManifestRefusesUnsafeNames(t *testing.T) {
	const h = "0000000000000000000000000000000000000000000000000000000000000000"
	for _, bad := range []string{
		"version = 1\nsha256 " + h + " ../x.yar\n",
		"version = 1\nsha256 " + h + " a/b.yar\n",
		"version = 1\nsha256 " + h + " manifest\n",
		"version = 1\nsha256 " + h + " ..\n",
		"version = 1\nsha256 " + h + " a.yar\nsha256 " + h + " a.yar\n",
		"version = 1\nsha256 zz a.yar\n",
		"sha256 " + h + " a.yar\n",
		"version = 1\n",
		"version = 1\nversion = 2\nsha256 " + h + " a.yar\n",
		"version = 1\nsha256 " + h + " a=b.yar\nsha256\n",
		"version = 1\nnonsense line\nsha256 " + h + " a.yar\n",
		"version = 1\nsigner = x\nsha256 " + h + " a.yar\n",
	} {
		if _, err := parseManifest([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("version = 1\nsha256 0000000000000000000000000000000000000000000000000000000000000000 a.yar\n"))
	f.Add([]byte("# c\ncreated = x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseManifest(b)
		if err != nil {
			return
		}
		if m.version == "" || len(m.files) == 0 {
			t.Fatalf("accepted without version or files: %+v", m)
		}
		for _, e := range m.files {
			if e.name != filepath.Base(e.name) || e.name == "." || e.name == ".." || strings.ContainsAny(e.name, "/\\") {
				t.Fatalf("unsafe name accepted: %q", e.name)
			}
		}
	})
}

// failRename makes the rename calls whose 1-based numbers are in fail
// return an error, for the rest of the test.
func failRename(t *testing.T, fail ...int) {
	n := 0
	rename = func(from, to string) error {
		n++
		for _, f := range fail {
			if n == f {
				return &os.LinkError{Op: "rename", Old: from, New: to, Err: os.ErrPermission}
			}
		}
		return os.Rename(from, to)
	}
	t.Cleanup(func() { rename = os.Rename })
}

// TestFailedSwapOrRollbackLeavesTheDBThatWasInPlace: when the rename that
// puts the new (or previous) DB in place fails, the DB moved aside is put
// back, so BasesPath never ends up empty; when that too fails, the error
// says both, and Recover at the next start finds a complete DB.
func TestFailedSwapOrRollbackLeavesTheDBThatWasInPlace(t *testing.T) {
	pub, priv := keys(t)
	d := t.TempDir()
	bases := filepath.Join(d, "bases")
	source(t, bases, "v1", v1, priv)
	src := filepath.Join(d, "mirror")
	source(t, src, "v2", v2, priv)
	opt := Options{Sources: []string{src}, PublicKey: pub, BasesPath: bases}

	// Update: 1 = old DB aside, 2 = staged DB in place (fails).
	failRename(t, 2)
	if res, err := Update(context.Background(), opt); err == nil || res.Updated {
		t.Fatalf("swap with a failing rename: %+v, %v", res, err)
	}
	if read(t, filepath.Join(bases, "a.hdb")) != v1["a.hdb"] {
		t.Fatal("the old DB is not back in place")
	}

	// A real update, then Rollback: 1 = current aside as .bad, 2 =
	// previous in place (fails): the current DB stays.
	rename = os.Rename
	if res, err := Update(context.Background(), opt); err != nil || !res.Updated {
		t.Fatalf("update: %+v, %v", res, err)
	}
	failRename(t, 2)
	if _, err := Rollback(opt); err == nil {
		t.Fatal("rollback with a failing rename succeeded")
	}
	if read(t, filepath.Join(bases, "b.yar")) != v2["b.yar"] || read(t, filepath.Join(bases+".prev", "a.hdb")) != v1["a.hdb"] {
		t.Fatal("rollback did not leave the DB in place and the previous one aside")
	}

	// Both the rename and the one putting the DB back fail: the error
	// names both; BasesPath is gone, and Recover puts a complete DB back.
	failRename(t, 2, 3)
	_, err := Rollback(opt)
	if err == nil || !strings.Contains(err.Error(), "putting") {
		t.Fatalf("want an error about putting the DB back, got %v", err)
	}
	if _, err := os.Stat(bases); !os.IsNotExist(err) {
		t.Fatalf("BasesPath: %v", err)
	}
	rename = os.Rename
	if err := Recover(opt); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bases, "manifest")); err != nil {
		t.Fatalf("no DB after Recover: %v", err)
	}
}
