package fsscan

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/google/renameio/v2"
)

// cacheMagic starts every cache file; a file with another magic (another
// format version) is ignored and rewritten.
const cacheMagic = "AVE-KAVSCANNER-CACHE-1\n"

// Cache remembers the files found clean by a given signature DB version,
// by path and identity (device, inode, size, mtime, ctime). A file whose
// identity changed, or any file after the DB version changed, is scanned
// again. Only CLEAN results are remembered, so what was found is reported
// on every run. It is safe for concurrent use.
//
// On disk: the magic, the DB version, then one record per file. It is
// loaded whole and replaced atomically by Save; at most Max entries are
// kept, those seen by the current run first.
type Cache struct {
	mu        sync.Mutex
	file      string
	dbVersion string
	max       int
	old       map[string]fileStat // loaded, not yet seen this run
	seen      map[string]fileStat // confirmed or added this run
	dirty     bool
}

// OpenCache loads file (a missing or unreadable file gives an empty
// cache) for dbVersion; entries of another DB version are dropped.
func OpenCache(file, dbVersion string, max int) (*Cache, error) {
	c := &Cache{file: file, dbVersion: dbVersion, max: max, old: map[string]fileStat{}, seen: map[string]fileStat{}}
	if max <= 0 {
		c.max = 1_000_000
	}
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("fsscan: cache: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(cacheMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != cacheMagic {
		c.dirty = true
		return c, nil // another format: start over
	}
	ver, err := readString(r)
	if err != nil || ver != dbVersion {
		c.dirty = true
		return c, nil // another DB: every entry is stale
	}
	for {
		p, err := readString(r)
		if err == io.EOF {
			break
		}
		var st fileStat
		if err == nil {
			err = binary.Read(r, binary.LittleEndian, &st)
		}
		if err != nil {
			c.dirty = true // truncated: keep what was read
			break
		}
		c.old[p] = st
	}
	return c, nil
}

// Hit reports whether path with identity st was found clean before with
// the same DB version, and keeps the entry for the next Save.
func (c *Cache) Hit(path string, st fileStat) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.seen[path]; ok {
		return old == st
	}
	old, ok := c.old[path]
	if !ok {
		return false
	}
	delete(c.old, path)
	if old != st {
		c.dirty = true
		return false
	}
	c.seen[path] = st
	return true
}

// Add records path as clean with identity st.
func (c *Cache) Add(path string, st fileStat) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[path] = st
	c.dirty = true
}

// Forget drops path (it was found not clean, or changed).
func (c *Cache) Forget(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[path]; ok {
		delete(c.seen, path)
		c.dirty = true
	}
	if _, ok := c.old[path]; ok {
		delete(c.old, path)
		c.dirty = true
	}
}

// Len is the number of entries Save would write.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return min(len(c.seen)+len(c.old), c.max)
}

// Save writes the cache atomically (temporary file, fsync, rename) if it
// changed: the entries seen by this run, then older ones (other trees
// scanned by other runs) up to Max.
func (c *Cache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty && len(c.seen) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.file), 0o700); err != nil {
		return fmt.Errorf("fsscan: cache: %w", err)
	}
	pf, err := renameio.NewPendingFile(c.file, renameio.WithStaticPermissions(0o600))
	if err != nil {
		return fmt.Errorf("fsscan: cache: %w", err)
	}
	defer pf.Cleanup()
	w := bufio.NewWriterSize(pf, 1<<20)
	w.WriteString(cacheMagic)
	writeString(w, c.dbVersion)
	n := 0
	for _, m := range []map[string]fileStat{c.seen, c.old} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if n >= c.max {
				break
			}
			st := m[k]
			writeString(w, k)
			binary.Write(w, binary.LittleEndian, &st)
			n++
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("fsscan: cache: %w", err)
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("fsscan: cache: %w", err)
	}
	c.dirty = false
	return nil
}

func writeString(w *bufio.Writer, s string) {
	var b [binary.MaxVarintLen64]byte
	w.Write(b[:binary.PutUvarint(b[:], uint64(len(s)))])
	w.WriteString(s)
}

func readString(r *bufio.Reader) (string, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return "", err
	}
	if n > 1<<16 {
		return "", errors.New("fsscan: cache: corrupt record")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", io.ErrUnexpectedEOF
	}
	return string(b), nil
}
