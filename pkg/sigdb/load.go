// Package sigdb loads a signature directory into an immutable DB: YARA
// rules, ClamAV-format hash signatures (.hdb, .hsb), body signatures (.ndb,
// translated to YARA hex strings and bundled into a few rules), allow-lists
// (.fp, .sfp hashes; .ign2 names) and an optional manifest. A DB never
// changes once loaded; reload builds a new one beside it.
//
// sigdb does not scan: the engine does, with the DB's parts.
package sigdb

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"ave/pkg/hashsig"
	"ave/pkg/yarascan"
)

// BodyRulePrefix starts the names of the YARA rules that carry the body
// signatures (DB.BodyRules); the engine confirms their matches through
// DB.Body.
const BodyRulePrefix = "ave_body_"

// DB is a loaded signature database. It is immutable and safe for
// concurrent use; Rules must be destroyed only after the last scan that
// uses them (the engine counts references).
type DB struct {
	Dir     string
	Version string // the manifest's version, else "sha256:" + Digest[:16]
	// Digest identifies the content of every signature file; results
	// cached under one Digest are valid for exactly that content.
	Digest  string
	Created string // from the manifest, if any
	Loaded  time.Time

	Rules *yarascan.Rules // the YARA rules of *.yar, *.yara
	// BodyRules carry the body signatures (Body.YARASource); run them
	// only where Body.MayMatch.
	BodyRules *yarascan.Rules
	Hashes    *hashsig.Set // detections
	Allow     *hashsig.Set // known-good files (.fp, .sfp)
	Ignore    map[string]bool
	Body      *BodySet

	// Counts of loaded signatures by kind: yara, body, md5, sha1, sha256,
	// fp, ign.
	Counts map[string]int64
	// Untranslatable lists the signatures read but not usable, each with
	// its file, line and reason.
	Untranslatable []Untranslatable
	LoadTime       time.Duration

	fp int64 // allow-list entries, counted by loadHashes
}

// Destroy frees the compiled rules.
func (db *DB) Destroy() {
	if db.Rules != nil {
		db.Rules.Destroy()
	}
	if db.BodyRules != nil {
		db.BodyRules.Destroy()
	}
}

// sigFile is one signature file read into memory.
type sigFile struct {
	path, ext string
	data      []byte
}

// Load reads every signature file of dir. Any malformed file is an error
// naming the file and line; the caller keeps its previous DB on error.
// Hash files are parsed and indexed on a second goroutine while the YARA
// rules and body signatures compile, so a load costs about the longer of
// the two.
func Load(dir string) (*DB, error) {
	start := time.Now()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sigdb: %w", err)
	}
	db := &DB{Dir: dir, Ignore: map[string]bool{}, Counts: map[string]int64{}}
	var errs []error
	digest := sha256.New()
	var manifest string
	var files []sigFile
	for _, e := range entries { // ReadDir sorts by name: the digest is stable
		if !e.Type().IsRegular() && e.Type()&os.ModeSymlink == 0 {
			continue
		}
		name := e.Name()
		path := filepath.Join(dir, name)
		if name == "manifest" {
			manifest = path
			continue
		}
		ext := strings.ToLower(filepath.Ext(name))
		switch ext {
		case ".yar", ".yara", ".hdb", ".hsb", ".fp", ".sfp", ".ign2", ".ign", ".ndb":
		default:
			continue // README files, backups: not signatures
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("sigdb: %w", err))
			continue
		}
		fmt.Fprintf(digest, "%s\x00%d\x00", name, len(data))
		digest.Write(data)
		files = append(files, sigFile{path: path, ext: ext, data: data})
	}
	if len(files) == 0 && len(errs) == 0 {
		return nil, fmt.Errorf("sigdb: %s: no signature files (*.yar, *.hdb, *.hsb, *.ndb)", dir)
	}

	hashDone := make(chan []error, 1)
	go func() { hashDone <- loadHashes(db, files) }()

	var sources []yarascan.Source
	var body []BodySig
	for _, f := range files {
		var err error
		r := bytes.NewReader(f.data)
		switch f.ext {
		case ".yar", ".yara":
			sources = append(sources, yarascan.Source{File: f.path, Text: string(f.data)})
		case ".ign2", ".ign":
			var ign []string
			ign, err = ParseIgnore(r, f.path)
			for _, n := range ign {
				db.Ignore[n] = true
			}
			db.Counts["ign"] += int64(len(ign))
		case ".ndb":
			var sigs []BodySig
			var skipped []Untranslatable
			sigs, skipped, err = ParseNDB(r, f.path)
			body = append(body, sigs...)
			db.Untranslatable = append(db.Untranslatable, skipped...)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if manifest != "" {
		m, err := readManifest(manifest, dir)
		if err != nil {
			errs = append(errs, err)
		}
		db.Version, db.Created = m.version, m.created
	}
	db.Body = NewBodySet(body)
	if len(errs) == 0 && len(sources) > 0 {
		rules, err := yarascan.Compile(sources)
		if err != nil {
			errs = append(errs, fmt.Errorf("sigdb: %w", err))
		} else {
			db.Rules = rules
			db.Counts["yara"] = int64(rules.Count())
		}
	}
	if len(errs) == 0 && db.Body.Len() > 0 {
		// The body signatures have their own rules, run only on the
		// objects Body.MayMatch lets through.
		src := db.Body.YARASource()
		rules, err := yarascan.Compile([]yarascan.Source{{File: filepath.Join(dir, "(body signatures)"), Text: src}})
		if err != nil {
			errs = append(errs, fmt.Errorf("sigdb: %w", err))
		} else {
			db.BodyRules = rules
		}
	}
	errs = append(errs, <-hashDone...)
	if len(errs) > 0 {
		db.Destroy()
		return nil, errors.Join(errs...)
	}
	db.Counts["fp"] = db.fp
	db.Counts["body"] = int64(db.Body.Len())
	db.Counts["md5"] = int64(db.Hashes.Count(hashsig.MD5))
	db.Counts["sha1"] = int64(db.Hashes.Count(hashsig.SHA1))
	db.Counts["sha256"] = int64(db.Hashes.Count(hashsig.SHA256))
	db.Digest = hex.EncodeToString(digest.Sum(nil))
	if db.Version == "" {
		db.Version = "sha256:" + db.Digest[:16]
	}
	db.Loaded = time.Now()
	db.LoadTime = time.Since(start)
	return db, nil
}

// loadHashes parses the hash and allow-list files into db.Hashes and
// db.Allow (and the "fp" count). It touches no other field of db.
func loadHashes(db *DB, files []sigFile) []error {
	var hashes, allow hashsig.Builder
	var errs []error
	var fp int64
	for _, f := range files {
		var b *hashsig.Builder
		switch f.ext {
		case ".hdb", ".hsb":
			b = &hashes
		case ".fp", ".sfp":
			b = &allow
		default:
			continue
		}
		if f.ext == ".hdb" || f.ext == ".fp" {
			// MD5 only: reserve room from the line count and mean length.
			if lines := bytes.Count(f.data, []byte{'\n'}); lines > 1024 {
				b.Grow(hashsig.MD5, lines, max(len(f.data)/lines-40, 8))
			}
		}
		n, err := ParseHashFile(bytes.NewReader(f.data), f.path, b)
		if err != nil {
			errs = append(errs, err)
		}
		if b == &allow {
			fp += int64(n)
		}
	}
	db.Hashes = hashes.Build()
	db.Allow = allow.Build()
	db.fp = fp
	return errs
}

type manifestInfo struct{ version, created string }

// readManifest reads "key = value" lines (version, created) and
// "sha256 HEX FILE" lines; every listed file must exist and match.
func readManifest(path, dir string) (manifestInfo, error) {
	var m manifestInfo
	f, err := os.Open(path)
	if err != nil {
		return m, fmt.Errorf("sigdb: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			switch strings.TrimSpace(strings.ToLower(k)) {
			case "version":
				m.version = strings.TrimSpace(v)
			case "created":
				m.created = strings.TrimSpace(v)
			default:
				return m, fmt.Errorf("%s:%d: unknown key %q (expected version, created or sha256 lines)", path, line, strings.TrimSpace(k))
			}
			continue
		}
		fields := strings.Fields(l)
		if len(fields) != 3 || fields[0] != "sha256" || len(fields[1]) != 64 {
			return m, fmt.Errorf("%s:%d: expected \"sha256 HEX FILE\"", path, line)
		}
		if strings.ContainsAny(fields[2], "/\\") {
			return m, fmt.Errorf("%s:%d: file name %q must not contain a path", path, line, fields[2])
		}
		if err := checkDigest(filepath.Join(dir, fields[2]), fields[1]); err != nil {
			return m, fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func checkDigest(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return fmt.Errorf("%s: sha256 %s does not match the manifest", path, got)
	}
	return nil
}
