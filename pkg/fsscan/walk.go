package fsscan

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// Targets say what to walk.
type Targets struct {
	Paths         []string // files and directories
	Recursion     bool     // descend below the top directories
	OneFileSystem bool     // do not enter directories on another device than their target
	ExcludeDir    []string // absolute directory paths or masks (a mask without "/" matches the last element)
	ExcludeMask   []string // masks matched against file names (the last element)
}

// fileRef is one regular file found by the walk, with the identity the
// scan cache and the actions check against.
type fileRef struct {
	path string // as walked (absolute)
	stat fileStat
}

// fileStat is what identifies an unchanged file.
type fileStat struct {
	Dev, Ino    uint64
	Size        int64
	Mtime, Ctim int64 // nanoseconds
}

func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Dev, st.Ino = uint64(sys.Dev), uint64(sys.Ino)
		st.Ctim = sys.Ctim.Sec*1e9 + sys.Ctim.Nsec
	}
	return st
}

// walkEvent is what the walker reports besides files: skipped entries and
// errors.
type walkEvent struct {
	path   string
	reason string // "special file", "symlink", "excluded", "other file system"
	err    error
}

// ReadList reads a target list: one path per line (a trailing "\r" is
// dropped; empty lines are skipped). Names with newlines cannot be listed.
func ReadList(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimSuffix(sc.Text(), "\r")
		if l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// MatchMask reports whether name (a last path element) matches any of the
// shell masks.
func MatchMask(masks []string, name string) bool {
	for _, m := range masks {
		if ok, _ := path.Match(m, name); ok {
			return true
		}
	}
	return false
}

// excludedDir reports whether the directory p (absolute, clean) is
// excluded: a pattern with "/" is matched against the whole path, one
// without against the last element.
func excludedDir(patterns []string, p string) bool {
	for _, m := range patterns {
		m = strings.TrimSuffix(m, "/")
		if m == "" {
			continue
		}
		subject := p
		if !strings.Contains(m, "/") {
			subject = filepath.Base(p)
		}
		if ok, _ := path.Match(m, subject); ok {
			return true
		}
	}
	return false
}

// walk sends every regular file under the targets to files and every
// skip or error to events, and returns when done or when stop is closed.
// Symbolic links are never followed inside a tree (so loops and escapes
// are impossible); a symlink named as a target is resolved once, and its
// target is walked as a target of its own. Special files (FIFOs, sockets,
// devices) are skipped and reported.
func (t Targets) walk(stop <-chan struct{}, files chan<- fileRef, events chan<- walkEvent) {
	send := func(f fileRef) bool {
		select {
		case files <- f:
			return true
		case <-stop:
			return false
		}
	}
	event := func(e walkEvent) bool {
		select {
		case events <- e:
			return true
		case <-stop:
			return false
		}
	}
	for _, target := range t.Paths {
		abs, err := filepath.Abs(target)
		if err != nil {
			if !event(walkEvent{path: target, err: err}) {
				return
			}
			continue
		}
		fi, err := os.Stat(abs) // a named target may be a symlink
		if err != nil {
			if !event(walkEvent{path: abs, err: err}) {
				return
			}
			continue
		}
		// A symlink named as a target is resolved once, here: the walk
		// below never follows one, and the scan opens files O_NOFOLLOW.
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		if !fi.IsDir() {
			if !fi.Mode().IsRegular() {
				if !event(walkEvent{path: abs, reason: "special file"}) {
					return
				}
				continue
			}
			if MatchMask(t.ExcludeMask, filepath.Base(abs)) {
				if !event(walkEvent{path: abs, reason: "excluded"}) {
					return
				}
				continue
			}
			if !send(fileRef{path: abs, stat: statOf(fi)}) {
				return
			}
			continue
		}
		rootDev := statOf(fi).Dev
		if !t.walkDir(abs, rootDev, send, event) {
			return
		}
	}
}

// walkDir walks one directory; it returns false when stopped.
func (t Targets) walkDir(dir string, rootDev uint64, send func(fileRef) bool, event func(walkEvent) bool) bool {
	if excludedDir(t.ExcludeDir, dir) {
		return event(walkEvent{path: dir, reason: "excluded"})
	}
	f, err := os.Open(dir)
	if err != nil {
		return event(walkEvent{path: dir, err: err})
	}
	for {
		entries, err := f.ReadDir(256)
		for _, de := range entries {
			p := filepath.Join(dir, de.Name())
			switch typ := de.Type(); {
			case typ&fs.ModeSymlink != 0:
				if !event(walkEvent{path: p, reason: "symlink"}) {
					f.Close()
					return false
				}
			case typ.IsDir():
				if !t.Recursion {
					continue
				}
				if t.OneFileSystem {
					fi, err := os.Lstat(p)
					if err == nil && statOf(fi).Dev != rootDev {
						if !event(walkEvent{path: p, reason: "other file system"}) {
							f.Close()
							return false
						}
						continue
					}
				}
				if !t.walkDir(p, rootDev, send, event) {
					f.Close()
					return false
				}
			case typ.IsRegular():
				if MatchMask(t.ExcludeMask, de.Name()) {
					if !event(walkEvent{path: p, reason: "excluded"}) {
						f.Close()
						return false
					}
					continue
				}
				fi, err := de.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue // gone since the directory was read
				}
				if err != nil {
					if !event(walkEvent{path: p, err: err}) {
						f.Close()
						return false
					}
					continue
				}
				if !send(fileRef{path: p, stat: statOf(fi)}) {
					f.Close()
					return false
				}
			default:
				if !event(walkEvent{path: p, reason: "special file"}) {
					f.Close()
					return false
				}
			}
		}
		if err == io.EOF || len(entries) == 0 && err == nil {
			break
		}
		if err != nil {
			f.Close()
			return event(walkEvent{path: dir, err: err})
		}
	}
	f.Close()
	return true
}
