// Package updater is keepup2date's engine: it fetches a signature DB
// from the first working source (an http(s) mirror or a directory),
// checks the manifest's ed25519 signature and every file's SHA-256, and
// swaps the new DB in beside the old one, which is kept for a rollback.
//
// A source is a directory holding the DB's files and its manifest
// ("version = ...", "created = ...", and one "sha256 HEX FILE" line per
// file: pkg/sigdb's format), plus manifest.sig, the base64 ed25519
// signature of the manifest's bytes. Only the files the manifest lists are
// fetched, each into a staging directory beside the DB and checked before
// anything is replaced; the swap is two renames, finished or undone by
// the next run if it was cut between them.
package updater

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Options configure an update.
type Options struct {
	Sources       []string          // mirrors in order: http(s) URLs of a directory, or absolute directories
	Client        *http.Client      // for http(s) sources (nil = http.DefaultClient)
	PublicKey     ed25519.PublicKey // signer of manifest.sig (nil = none)
	AllowUnsigned bool              // with no PublicKey: accept manifests unchecked (with one, a valid signature is always required)
	MaxFileSize   int64             // largest file fetched (0 = 512 MiB)
	BasesPath     string            // the DB directory
	BackUpPath    string            // the previous DB ("" = BasesPath + ".prev")
	Locked        bool              // the caller holds Lock for the whole run
	Log           *slog.Logger      // nil = discard
}

// Result says what an update did.
type Result struct {
	Updated bool   // a new DB is in BasesPath
	From    string // the version replaced (or found up to date)
	To      string // the version installed
	Source  string // where it came from
}

const (
	manifestName = "manifest"
	sigName      = "manifest.sig"
	maxManifest  = 16 << 20
)

func (o *Options) defaults() {
	if o.BackUpPath == "" {
		o.BackUpPath = o.BasesPath + ".prev"
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 512 << 20
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Update brings BasesPath to the version the first working source offers.
// A source that cannot be reached, or offers a manifest or file that fails
// its checks, is logged and the next one tried; the error lists every
// source's failure when none worked. BasesPath is untouched unless a whole
// new DB passed every check.
func Update(ctx context.Context, opt Options) (Result, error) {
	opt.defaults()
	if len(opt.Sources) == 0 {
		return Result{}, errors.New("no source: set UpdateServerUrl in [updater.options]")
	}
	if opt.PublicKey == nil && !opt.AllowUnsigned {
		return Result{}, errors.New("no PublicKeyFile to check the manifest's signature: set one, or AllowUnsigned=yes in [updater.options]")
	}
	unlock, err := lock(opt)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	if err := Recover(opt); err != nil {
		return Result{}, err
	}
	installed, _ := readInstalled(opt.BasesPath) // none or unreadable: any version is new
	var errs []error
	for _, src := range opt.Sources {
		res, err := updateFrom(ctx, opt, src, installed)
		if err == nil {
			return res, nil
		}
		opt.Log.Warn("update source failed", "source", src, "error", err.Error())
		errs = append(errs, fmt.Errorf("%s: %w", src, err))
		if ctx.Err() != nil {
			break
		}
	}
	return Result{From: installed.version}, errors.Join(errs...)
}

func updateFrom(ctx context.Context, opt Options, src string, installed manifest) (Result, error) {
	res := Result{From: installed.version, Source: src}
	raw, err := fetchAll(ctx, opt, src, manifestName, maxManifest)
	if err != nil {
		return res, err
	}
	sig, err := fetchAll(ctx, opt, src, sigName, 4096)
	if err != nil && !errors.Is(err, errNotFound) {
		return res, err
	}
	if err := checkSignature(opt, raw, sig); err != nil {
		return res, err
	}
	m, err := parseManifest(raw)
	if err != nil {
		return res, err
	}
	res.To = m.version
	if m.version == installed.version {
		return res, nil
	}
	// A mirror behind the others, or an old signed manifest replayed,
	// must not take the DB back in time: a signed manifest must say when
	// it was made.
	if _, err := time.Parse(time.RFC3339, m.created); err != nil && opt.PublicKey != nil {
		return res, fmt.Errorf("manifest's created %q is not an RFC 3339 time (keepup2date --sign writes one)", m.created)
	}
	if older(m.created, installed.created) {
		return res, fmt.Errorf("offers %s created %s, older than the installed %s created %s (keepup2date --rollback goes back on purpose)", m.version, m.created, installed.version, installed.created)
	}
	if bad, _ := readInstalled(opt.BasesPath + ".bad"); bad.version != "" && bad.version == m.version {
		return res, fmt.Errorf("offers %s, which aveserver refused before (kept in %s.bad; remove it to try again)", m.version, opt.BasesPath)
	}
	staging := opt.BasesPath + ".new"
	if err := os.RemoveAll(staging); err != nil {
		return res, err
	}
	if err := os.Mkdir(staging, 0o755); err != nil {
		return res, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(staging)
		}
	}()
	for _, f := range m.files {
		if err := fetchFile(ctx, opt, src, f, filepath.Join(staging, f.name)); err != nil {
			return res, err
		}
	}
	if err := writeSynced(filepath.Join(staging, manifestName), raw); err != nil {
		return res, err
	}
	if sig != nil {
		if err := writeSynced(filepath.Join(staging, sigName), sig); err != nil {
			return res, err
		}
	}
	if err := syncDir(staging); err != nil {
		return res, err
	}
	if err := swap(opt, staging); err != nil {
		return res, err
	}
	ok = true
	res.Updated = true
	opt.Log.Info("updated", "from", installed.version, "to", m.version, "source", src, "files", len(m.files))
	return res, nil
}

// rename is os.Rename; tests make a chosen call fail (as root, a rename
// within one directory cannot be made to fail on demand).
var rename = os.Rename

// swap puts staging in BasesPath's place, keeping the old DB in
// BackUpPath.
func swap(opt Options, staging string) error {
	if err := os.RemoveAll(opt.BackUpPath); err != nil {
		return err
	}
	moved := false
	if _, err := os.Stat(opt.BasesPath); err == nil {
		if err := rename(opt.BasesPath, opt.BackUpPath); err != nil {
			return err
		}
		moved = true
	}
	if err := rename(staging, opt.BasesPath); err != nil {
		if moved {
			// Put the old DB back rather than leave none.
			if rerr := rename(opt.BackUpPath, opt.BasesPath); rerr != nil {
				return fmt.Errorf("%w; putting the old DB back: %v", err, rerr)
			}
		}
		return err
	}
	return syncDir(filepath.Dir(opt.BasesPath))
}

// Lock takes BasesPath + ".lock" until the returned function is called: a
// second keepup2date (a manual run during the timer's) is refused instead
// of sharing the staging directory. Update and Rollback take it
// themselves unless Options.Locked says the caller holds it (an update
// and the rollback that follows a refusal, as one run).
func Lock(opt Options) (func(), error) {
	opt.defaults()
	return lock(opt)
}

func lock(opt Options) (func(), error) {
	if opt.Locked {
		return func() {}, nil
	}
	f, err := os.OpenFile(opt.BasesPath+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s.lock: another keepup2date is running (%v)", opt.BasesPath, err)
	}
	return func() { f.Close() }, nil
}

// Recover finishes a swap cut between its two renames: with BasesPath
// gone, the staged DB (complete: it is renamed only once checked) or else
// the backup takes its place.
func Recover(opt Options) error {
	opt.defaults()
	if ents, err := os.ReadDir(opt.BasesPath); err == nil && len(ents) == 0 {
		// An empty directory in its place (made by hand or by an
		// installer) is no DB: recover as if it were missing.
		os.Remove(opt.BasesPath)
	}
	if _, err := os.Stat(opt.BasesPath); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, from := range []string{opt.BasesPath + ".new", opt.BackUpPath} {
		if _, err := os.Stat(filepath.Join(from, manifestName)); err != nil {
			continue
		}
		if err := rename(from, opt.BasesPath); err != nil {
			return err
		}
		opt.Log.Warn("an interrupted update was finished", "from", from, "to", opt.BasesPath)
		return syncDir(filepath.Dir(opt.BasesPath))
	}
	return nil
}

// Rollback puts the previous DB (BackUpPath) back in BasesPath; the DB it
// replaces is kept in BasesPath + ".bad".
func Rollback(opt Options) (string, error) {
	opt.defaults()
	unlock, err := lock(opt)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(opt.BackUpPath, manifestName)); err != nil {
		if _, err2 := os.Stat(opt.BackUpPath); err2 != nil {
			return "", fmt.Errorf("no previous DB to roll back to: %w", err2)
		}
	}
	bad := opt.BasesPath + ".bad"
	if err := os.RemoveAll(bad); err != nil {
		return "", err
	}
	if _, err := os.Stat(opt.BasesPath); err == nil {
		if err := rename(opt.BasesPath, bad); err != nil {
			return "", err
		}
	}
	if err := rename(opt.BackUpPath, opt.BasesPath); err != nil {
		// Leave the DB that was in place rather than none.
		if rerr := rename(bad, opt.BasesPath); rerr != nil {
			return "", fmt.Errorf("%w; putting %s back: %v", err, bad, rerr)
		}
		return "", err
	}
	m, _ := readInstalled(opt.BasesPath)
	v := m.version
	return v, syncDir(filepath.Dir(opt.BasesPath))
}

func checkSignature(opt Options, manifest, sig []byte) error {
	if opt.PublicKey == nil {
		return nil // AllowUnsigned, checked by Update
	}
	if sig == nil {
		// With a key, a signature is required: AllowUnsigned is for
		// set-ups without one (a mirror could otherwise drop the .sig).
		return errors.New("no manifest.sig")
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	if err != nil || len(b) != ed25519.SignatureSize {
		return errors.New("manifest.sig is not a base64 ed25519 signature")
	}
	if !ed25519.Verify(opt.PublicKey, manifest, b) {
		return errors.New("manifest.sig does not match the manifest and PublicKeyFile")
	}
	return nil
}

// Sign returns manifest.sig's content for manifest.
func Sign(key ed25519.PrivateKey, manifest []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(key, manifest)) + "\n")
}

type fileEntry struct{ name, sha string }

type manifest struct {
	version, created string
	files            []fileEntry
}

// parseManifest reads what updateFrom needs from a source's manifest: the
// version and the files, each named without a path and listed once.
func parseManifest(raw []byte) (manifest, error) {
	m, err := scanManifest(raw)
	if err != nil {
		return m, err
	}
	if m.version == "" {
		return m, errors.New("manifest has no version")
	}
	if len(m.files) == 0 {
		return m, errors.New("manifest lists no file")
	}
	return m, nil
}

// scanManifest reads a manifest in pkg/sigdb's grammar (what aveserver
// accepts); the version and the file list may be missing.
func scanManifest(raw []byte) (manifest, error) {
	var m manifest
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		// The grammar of pkg/sigdb's readManifest, which aveserver
		// applies to the installed DB: a line with "=" is a key.
		if k, v, ok := strings.Cut(l, "="); ok {
			key := strings.ToLower(strings.TrimSpace(k))
			if key != "version" && key != "created" {
				return m, fmt.Errorf("manifest line %d: unknown key %q (expected version, created or sha256 lines)", n, strings.TrimSpace(k))
			}
			dst := &m.version
			if key == "created" {
				dst = &m.created
			}
			if *dst != "" {
				return m, fmt.Errorf("manifest line %d: %s given twice", n, key)
			}
			*dst = strings.TrimSpace(v)
			continue
		}
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "sha256" || len(f[1]) != 64 {
			return m, fmt.Errorf("manifest line %d: expected \"sha256 HEX FILE\"", n)
		}
		if _, err := hex.DecodeString(f[1]); err != nil {
			return m, fmt.Errorf("manifest line %d: bad digest", n)
		}
		name := f[2]
		if strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." || name == manifestName || name == sigName {
			return m, fmt.Errorf("manifest line %d: file name %q not allowed", n, name)
		}
		if seen[name] {
			return m, fmt.Errorf("manifest line %d: %s listed twice", n, name)
		}
		seen[name] = true
		m.files = append(m.files, fileEntry{name: name, sha: strings.ToLower(f[1])})
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}

// readInstalled reads the manifest of the DB in dir (the shipped DB's
// lists no files; a DB without one has no version).
func readInstalled(dir string) (manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return manifest{}, err
	}
	m, err := scanManifest(raw)
	if err != nil {
		return manifest{}, err // aveserver would not load it either
	}
	return m, nil
}

// older reports whether created a is before created b, both RFC 3339
// times (false when either is missing or not one).
func older(a, b string) bool {
	ta, err1 := time.Parse(time.RFC3339, a)
	tb, err2 := time.Parse(time.RFC3339, b)
	return err1 == nil && err2 == nil && ta.Before(tb)
}

var errNotFound = errors.New("not found")

// open returns a reader of name in src.
func open(ctx context.Context, opt Options, src, name string) (io.ReadCloser, error) {
	if filepath.IsAbs(src) {
		f, err := os.Open(filepath.Join(src, name))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", name, errNotFound)
		}
		return f, err
	}
	u, err := url.JoinPath(src, name)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := opt.Client.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w", u, errNotFound)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return resp.Body, nil
}

func fetchAll(ctx context.Context, opt Options, src, name string, max int64) ([]byte, error) {
	r, err := open(ctx, opt, src, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return b, nil
}

// fetchFile copies f from src to dst, checking its size bound and digest,
// and syncs it.
func fetchFile(ctx context.Context, opt Options, src string, f fileEntry, dst string) error {
	r, err := open(ctx, opt, src, f.name)
	if err != nil {
		return err
	}
	defer r.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, opt.MaxFileSize+1))
	if err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	if n > opt.MaxFileSize {
		return fmt.Errorf("%s: larger than MaxFileSize %d", f.name, opt.MaxFileSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.sha {
		return fmt.Errorf("%s: sha256 %s, the manifest says %s", f.name, got, f.sha)
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Manifest returns a manifest for the files of dir (every regular file
// but manifest and manifest.sig, in name order) with version and created.
func Manifest(dir, version, created string) ([]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# AVE signature database manifest.\nversion = %s\ncreated = %s\n", version, created)
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == manifestName || e.Name() == sigName {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(raw)
		fmt.Fprintf(&b, "sha256 %s %s\n", hex.EncodeToString(sum[:]), e.Name())
	}
	return b.Bytes(), nil
}

// ReadPublicKey reads a PublicKeyFile: one line, the base64 of the raw
// 32-byte ed25519 public key (keepup2date --genkey writes PREFIX.pub).
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := readKey(path, ed25519.PublicKeySize)
	return ed25519.PublicKey(b), err
}

// ReadPrivateKey reads a signing key written by keepup2date --genkey.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := readKey(path, ed25519.PrivateKeySize)
	return ed25519.PrivateKey(b), err
}

func readKey(path string, size int) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%s: expected one line of base64, a %d-byte ed25519 key", path, size)
	}
	return b, nil
}
