package fsscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"ave/internal/headbuf"
	"ave/pkg/config"
	"ave/pkg/quarantine"
	"ave/pkg/scanclient"
	"ave/pkg/verdict"
)

// Actor carries out the action chains of [scanner.object] and
// [scanner.container] on the files that were not clean. It is safe for
// concurrent use; the stores are opened on first use.
type Actor struct {
	Object, Container config.Actions
	// Backup is the store of copies made before remove, cure and
	// movePath (nil: no backup). Quarantine is the store of the
	// quarantine action.
	Backup, Quarantine *LazyStore
	// ExecTimeout bounds each exec command (0 = 5 minutes).
	ExecTimeout time.Duration
	// Verify scans a cured archive (open, at offset 0) before it replaces
	// the original; a cure whose result is not clean is abandoned.
	Verify func(ctx context.Context, name string, f *os.File) (*scanclient.Result, error)
}

// LazyStore opens a quarantine.Store on first use.
type LazyStore struct {
	Dir, KeyFile string
	once         sync.Once
	s            *quarantine.Store
	err          error
}

// Get opens the store once and returns it.
func (l *LazyStore) Get() (*quarantine.Store, error) {
	l.once.Do(func() { l.s, l.err = quarantine.Open(l.Dir, l.KeyFile) })
	return l.s, l.err
}

// Outcome is what one action did.
type Outcome struct {
	Action config.Action
	Done   string // "removed", "quarantined as ID", ...
	Err    error
	// Fallback: a cure that failed with more actions after it (they are
	// its fallback), so not an error of the run.
	Fallback bool
}

// finding is a file that was not clean or could not be scanned.
type finding struct {
	path string
	f    *os.File // the file as scanned (nil when it could not be opened)
	stat fileStat // identity of f when scanned
	res  *scanclient.Result
	err  error // the scan failed
}

func (fd *finding) status() verdict.Status {
	if fd.err != nil || fd.res == nil {
		return verdict.Unchecked
	}
	return fd.res.Status
}

// containerTypes are the content types treated as containers when the
// detection is the top object itself (a truncated zip is a container).
var containerTypes = map[string]bool{"zip": true, "gzip": true, "bzip2": true, "tar": true, "mail": true,
	"7z": true, "rar": true, "cab": true, "arj": true, "cpio": true, "xz": true, "lzma": true, "ole2": true, "tnef": true, "chm": true}

// isContainer: the daemon opened members, or the file's type is a container.
func (fd *finding) isContainer() bool {
	if fd.res == nil {
		return false
	}
	if fd.res.Objects > 1 {
		return true
	}
	for _, d := range fd.res.Detections {
		if d.Depth > 0 || containerTypes[d.Type] {
			return true
		}
	}
	return false
}

// chainFor picks the chain for the file's status and kind.
func (a *Actor) chainFor(fd *finding) []config.Action {
	acts := a.Object
	if fd.isContainer() {
		acts = a.Container
	}
	switch fd.status() {
	case verdict.Infected:
		return acts.OnInfected
	case verdict.Suspicious:
		return acts.OnSuspicious
	case verdict.Corrupted:
		return acts.OnCorrupted
	case verdict.Protected:
		return acts.OnProtected
	case verdict.Unchecked:
		return acts.OnError
	}
	return nil
}

// Run carries out the chain for fd, in order. report does nothing more
// than the report already made. After a successful cure the rest of the
// chain is skipped (it is the fallback for objects that cannot be cured);
// after remove, quarantine or movePath, later file actions are skipped.
// Destructive actions are refused when the file changed since it was
// scanned, and follow no symlink.
func (a *Actor) Run(ctx context.Context, fd *finding) []Outcome {
	var out []Outcome
	gone := false
	chain := a.chainFor(fd)
	for i, act := range chain {
		o := Outcome{Action: act}
		switch act.Kind {
		case config.ActReport:
			continue
		case config.ActExec:
			o.Done, o.Err = a.exec(ctx, fd, act.Argv)
			out = append(out, o)
			continue
		}
		if gone {
			o.Err = errors.New("skipped: the file was already taken away")
			out = append(out, o)
			continue
		}
		if err := unchanged(fd); err != nil {
			o.Err = err
			out = append(out, o)
			continue
		}
		switch act.Kind {
		case config.ActRemove:
			o.Done, o.Err = a.remove(fd)
			gone = o.Err == nil
		case config.ActQuarantine:
			o.Done, o.Err = a.quarantine(fd)
			gone = o.Err == nil
		case config.ActMovePath:
			o.Done, o.Err = a.move(fd, act.Arg)
			gone = o.Err == nil
		case config.ActCure:
			o.Done, o.Err = a.cure(ctx, fd)
			if o.Err == nil {
				return append(out, o)
			}
			o.Fallback = i+1 < len(chain)
		}
		out = append(out, o)
	}
	return out
}

// unchanged checks that the path still names the file that was scanned.
func unchanged(fd *finding) error {
	if fd.f == nil {
		return errors.New("the file could not be opened")
	}
	fi, err := os.Lstat(fd.path)
	if err != nil {
		return fmt.Errorf("the file is gone: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return errors.New("refused: the path is no longer a regular file")
	}
	st := statOf(fi)
	if st.Dev != fd.stat.Dev || st.Ino != fd.stat.Ino || st.Size != fd.stat.Size || st.Mtime != fd.stat.Mtime {
		return errors.New("refused: the file changed since it was scanned")
	}
	return nil
}

func (a *Actor) entry(fd *finding, reason string) quarantine.Entry {
	e := quarantine.Entry{Reason: reason, Status: fd.status().String(), Producer: "kavscanner"}
	if fd.res != nil {
		e.Names = fd.res.Names()
	}
	return e
}

// backup stores a copy before a destructive action; "" when off.
func (a *Actor) backup(fd *finding, before string) (string, error) {
	if a.Backup == nil {
		return "", nil
	}
	s, err := a.Backup.Get()
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	e, err := s.PutFile(fd.path, fd.f, a.entry(fd, "backup before "+before))
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	return " (backup " + e.ID + ")", nil
}

func (a *Actor) remove(fd *finding) (string, error) {
	note, err := a.backup(fd, "remove")
	if err != nil {
		return "", err
	}
	if err := os.Remove(fd.path); err != nil {
		return "", err
	}
	return "removed" + note, nil
}

func (a *Actor) quarantine(fd *finding) (string, error) {
	if a.Quarantine == nil {
		return "", errors.New("no quarantine store configured")
	}
	s, err := a.Quarantine.Get()
	if err != nil {
		return "", err
	}
	e, err := s.PutFile(fd.path, fd.f, a.entry(fd, "quarantine"))
	if err != nil {
		return "", err
	}
	if err := os.Remove(fd.path); err != nil {
		return "", fmt.Errorf("stored as %s but not removed: %w", e.ID, err)
	}
	return "quarantined as " + e.ID, nil
}

// move moves the file below dir, keeping its full path (dir/home/u/x),
// with a numeric suffix when that name is taken.
func (a *Actor) move(fd *finding, dir string) (string, error) {
	note, err := a.backup(fd, "move")
	if err != nil {
		return "", err
	}
	dest := filepath.Join(dir, fd.path)
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return "", err
	}
	for i := 1; ; i++ {
		if _, err := os.Lstat(dest); errors.Is(err, os.ErrNotExist) {
			break
		}
		dest = fmt.Sprintf("%s.%d", filepath.Join(dir, fd.path), i)
	}
	err = os.Rename(fd.path, dest)
	if errors.Is(err, syscall.EXDEV) {
		err = copyFile(fd.f, dest)
		if err == nil {
			err = os.Remove(fd.path)
		}
	}
	if err != nil {
		return "", err
	}
	return "moved to " + dest + note, nil
}

// copyFile copies the open src to a new file dest with src's permissions,
// synced.
func copyFile(src *os.File, dest string) error {
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		os.Remove(dest)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// badMembers lists, relative to the file, the objects whose status is at
// least the file's least severe "bad" status (SUSPICIOUS when the file is
// SUSPICIOUS, INFECTED when INFECTED): what a cure removes.
func badMembers(fd *finding) ([]string, error) {
	if fd.res == nil {
		return nil, fmt.Errorf("%w: not scanned", ErrNotCurable)
	}
	want := fd.res.Status
	if want < verdict.Suspicious {
		return nil, fmt.Errorf("%w: only infected or suspicious members are removed", ErrNotCurable)
	}
	var bad []string
	for _, d := range fd.res.Detections {
		if d.Status < want {
			continue
		}
		rel, ok := strings.CutPrefix(d.Path, fd.path+"/")
		if !ok || d.Depth == 0 {
			return nil, fmt.Errorf("%w: the file itself is detected", ErrNotCurable)
		}
		bad = append(bad, rel)
	}
	return bad, nil
}

func (a *Actor) cure(ctx context.Context, fd *finding) (string, error) {
	bad, err := badMembers(fd)
	if err != nil {
		return "", err
	}
	note, err := a.backup(fd, "cure")
	if err != nil {
		return "", err
	}
	var verify func(*os.File) error
	if a.Verify != nil {
		verify = func(f *os.File) error {
			res, err := a.Verify(ctx, fd.path, f)
			if err != nil {
				return fmt.Errorf("checking the cured archive: %w", err)
			}
			if res.Status >= verdict.Suspicious {
				return fmt.Errorf("%w: the rebuilt archive is still %s", ErrNotCurable, res.Status)
			}
			return nil
		}
	}
	dropped, err := cureArchive(fd.path, fd.f, bad, verify)
	if err != nil {
		return "", err
	}
	return "cured: removed " + strings.Join(dropped, ", ") + note, nil
}

// Macros expands %FULLPATH% (the file's directory), %FILENAME% (its last
// element), %VIRUSNAME% (the signature names, comma-separated, or the
// status), %STATUS% and %LIST% (a temporary file listing every finding
// of the file, one per line) in one word, in one pass: text produced by a
// macro is never expanded again, and a word stays one argument whatever
// the file name holds.
type Macros struct {
	FullPath, FileName, VirusName, Status, List string
}

// Expand expands the macros in w.
func (m Macros) Expand(w string) string {
	return strings.NewReplacer(
		"%FULLPATH%", m.FullPath, "%FILENAME%", m.FileName, "%VIRUSNAME%", m.VirusName,
		"%STATUS%", m.Status, "%LIST%", m.List,
	).Replace(w)
}

// exec runs argv with macros expanded, without a shell, with stdin from
// /dev/null and at most 4 KiB of its output kept for the report.
func (a *Actor) exec(ctx context.Context, fd *finding, argv []string) (string, error) {
	m := Macros{FullPath: filepath.Dir(fd.path), FileName: filepath.Base(fd.path), Status: fd.status().String()}
	if fd.res != nil {
		m.VirusName = strings.Join(fd.res.Names(), ",")
	}
	if m.VirusName == "" {
		m.VirusName = m.Status
	}
	if strings.Contains(strings.Join(argv, "\x00"), "%LIST%") {
		lf, err := os.CreateTemp("", "kavscanner-list-*")
		if err != nil {
			return "", err
		}
		defer os.Remove(lf.Name())
		for _, l := range findingLines(fd) {
			fmt.Fprintln(lf, l)
		}
		if err := lf.Close(); err != nil {
			return "", err
		}
		m.List = lf.Name()
	}
	args := make([]string, len(argv))
	for i, w := range argv {
		args[i] = m.Expand(w)
	}
	timeout := a.ExecTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var buf headbuf.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		if out := strings.TrimSpace(buf.String()); out != "" {
			return "", fmt.Errorf("%s: %w: %s", args[0], err, out)
		}
		return "", fmt.Errorf("%s: %w", args[0], err)
	}
	return "exec " + args[0] + ": exit 0", nil
}

// findingLines are the report lines of one file: one per detection.
func findingLines(fd *finding) []string {
	if fd.res == nil || fd.err != nil {
		return []string{fmt.Sprintf("%s: ERROR %v", fd.path, fd.err)}
	}
	var out []string
	for _, d := range fd.res.Detections {
		l := d.Path + ": " + d.Status.String()
		if d.Name != "" {
			l += " " + d.Name
		}
		if d.Reason != "" {
			l += " (" + d.Reason + ")"
		}
		out = append(out, l)
	}
	return out
}
