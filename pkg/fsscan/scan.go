// Package fsscan is kavscanner's file-system scanning: it walks targets
// (never following symlinks inside a tree, skipping special files,
// honouring ExcludeDir, ExcludeMask and one-file-system), scans the files
// in parallel over aveserver (by path when the daemon shares the host,
// streamed otherwise), skips files unchanged since a clean scan with the
// same DB version (the on-disk Cache), carries out the configured action
// chains on what was found (Actor), and reports (Reporter).
//
// It is not an engine: verdicts come from aveserver through Client, and
// the package imports no cgo or engine code.
package fsscan

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"ave/pkg/scanclient"
	"ave/pkg/verdict"
)

// Client is what fsscan needs of aveserver; *scanclient.Client has it.
type Client interface {
	ScanPath(ctx context.Context, path, hint string) (*scanclient.Result, error)
	Scan(ctx context.Context, name, hint string, size int64, r io.Reader) (*scanclient.Result, error)
}

// Options of a run. Zero values: Jobs 1, Timeout 2 minutes, no cache, no
// actions beyond the report.
type Options struct {
	Targets
	Client Client
	// ServerPath lets the daemon open files itself (same host); a file it
	// cannot open is streamed.
	ServerPath bool
	Jobs       int
	Timeout    time.Duration // per file
	Cache      *Cache
	Actor      *Actor
	Report     *Reporter
}

// Summary counts a run. Files counts regular files handled (scanned or
// cached); Statuses counts them by roll-up status.
type Summary struct {
	Files, Scanned, Cached  int64
	Bytes                   int64 // bytes of the files handled
	Skipped, Vanished       int64 // special files, symlinks, exclusions; files gone before they were read
	Errors                  int64 // files or directories that could not be read or scanned
	ActionsDone, ActionErrs int64
	Statuses                map[verdict.Status]int64
	Elapsed                 time.Duration
}

// Found reports whether any file was not clean.
func (s Summary) Found() bool {
	for st, n := range s.Statuses {
		if st != verdict.Clean && n > 0 {
			return true
		}
	}
	return false
}

type counters struct {
	files, scanned, cached, bytes, skipped, vanished, errors, done, actErrs atomic.Int64
	status                                                                  [verdict.Infected + 1]atomic.Int64
}

// Run walks and scans the targets and returns the summary. It stops early
// when ctx is cancelled.
func Run(ctx context.Context, o Options) Summary {
	start := time.Now()
	if o.Jobs < 1 {
		o.Jobs = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Report == nil {
		o.Report = &Reporter{}
	}
	var c counters
	files := make(chan fileRef, 256)
	events := make(chan walkEvent, 64)
	stop := make(chan struct{})
	go func() {
		<-ctx.Done()
		close(stop)
	}()
	go func() {
		o.Targets.walk(stop, files, events)
		close(files)
		close(events)
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // walk events
		defer wg.Done()
		for e := range events {
			if e.err != nil {
				c.errors.Add(1)
				o.Report.Error(e.path, e.err)
				continue
			}
			c.skipped.Add(1)
			o.Report.Skipped(e.path, e.reason)
		}
	}()
	if o.Report.progressOn() {
		go o.Report.countTotal(o.Targets, stop)
	}
	var work sync.WaitGroup
	for i := 0; i < o.Jobs; i++ {
		work.Add(1)
		go func() {
			defer work.Done()
			for f := range files {
				scanFile(ctx, o, &c, f)
			}
		}()
	}
	work.Wait()
	wg.Wait()
	s := Summary{
		Files: c.files.Load(), Scanned: c.scanned.Load(), Cached: c.cached.Load(), Bytes: c.bytes.Load(),
		Skipped: c.skipped.Load(), Vanished: c.vanished.Load(), Errors: c.errors.Load(),
		ActionsDone: c.done.Load(), ActionErrs: c.actErrs.Load(),
		Statuses: map[verdict.Status]int64{}, Elapsed: time.Since(start),
	}
	for st := range c.status {
		if n := c.status[st].Load(); n > 0 {
			s.Statuses[verdict.Status(st)] = n
		}
	}
	return s
}

// scanFile handles one regular file: cache, open, scan, report, act.
func scanFile(ctx context.Context, o Options, c *counters, ref fileRef) {
	defer o.Report.Progress(ref.stat.Size)
	if o.Cache != nil && o.Cache.Hit(ref.path, ref.stat) {
		c.files.Add(1)
		c.cached.Add(1)
		c.bytes.Add(ref.stat.Size)
		c.status[verdict.Clean].Add(1)
		o.Report.Clean(ref.path, true)
		return
	}
	f, err := os.OpenFile(ref.path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			c.vanished.Add(1)
			o.Report.Skipped(ref.path, "vanished before it was read")
		case errors.Is(err, syscall.ELOOP):
			c.skipped.Add(1)
			o.Report.Skipped(ref.path, "symlink")
		default:
			fail(ctx, o, c, &finding{path: ref.path, err: err})
		}
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		fail(ctx, o, c, &finding{path: ref.path, f: f, err: err})
		return
	}
	if !fi.Mode().IsRegular() {
		c.skipped.Add(1)
		o.Report.Skipped(ref.path, "special file")
		return
	}
	before := statOf(fi)
	res, err := scanOpen(ctx, o, ref.path, f, before.Size)
	fd := &finding{path: ref.path, f: f, stat: before, res: res, err: err}
	if err != nil {
		if _, serr := os.Lstat(ref.path); errors.Is(serr, fs.ErrNotExist) {
			c.vanished.Add(1)
			o.Report.Skipped(ref.path, "vanished while it was scanned")
			return
		}
		fail(ctx, o, c, fd)
		return
	}
	c.files.Add(1)
	c.scanned.Add(1)
	c.bytes.Add(before.Size)
	c.status[res.Status].Add(1)
	if res.Status == verdict.Clean {
		o.Report.Clean(ref.path, false)
		if o.Cache != nil {
			// Only a file unchanged while it was scanned is remembered.
			if after, err := f.Stat(); err == nil && statOf(after) == before {
				o.Cache.Add(ref.path, before)
			}
		}
		return
	}
	if o.Cache != nil {
		o.Cache.Forget(ref.path)
	}
	o.Report.Found(ref.path, res)
	act(ctx, o, c, fd)
}

// fail reports a file that could not be scanned and runs OnError.
func fail(ctx context.Context, o Options, c *counters, fd *finding) {
	c.errors.Add(1)
	o.Report.Error(fd.path, fd.err)
	act(ctx, o, c, fd)
}

func act(ctx context.Context, o Options, c *counters, fd *finding) {
	if o.Actor == nil {
		return
	}
	for _, out := range o.Actor.Run(ctx, fd) {
		if out.Err != nil && !out.Fallback {
			c.actErrs.Add(1)
		} else if out.Err == nil {
			c.done.Add(1)
		}
		o.Report.Action(fd.path, out)
	}
}

// scanOpen scans the open file f (named path), by path first when the
// daemon shares the host, streaming when it cannot open the file; busy
// answers are retried with back-off.
func scanOpen(ctx context.Context, o Options, path string, f *os.File, size int64) (res *scanclient.Result, err error) {
	backoff := 20 * time.Millisecond
	byPath := o.ServerPath
	name := path
	if !utf8.ValidString(path) {
		// The API carries names as UTF-8: send a stand-in, stream the
		// bytes, and give the detections back the real name.
		name, byPath = strings.ToValidUTF8(path, "\uFFFD"), false
		defer func() {
			if res != nil {
				for i := range res.Detections {
					if rest, ok := strings.CutPrefix(res.Detections[i].Path, name); ok {
						res.Detections[i].Path = path + rest
					}
				}
			}
		}()
	}
	for attempt := 0; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, o.Timeout)
		if byPath {
			res, err = o.Client.ScanPath(sctx, path, "")
			if err != nil && !errors.Is(err, scanclient.ErrBusy) && !errors.Is(err, scanclient.ErrUnavailable) && ctx.Err() == nil {
				byPath = false // the daemon cannot read it (permissions, another host): stream
			}
		}
		if !byPath {
			if _, serr := f.Seek(0, io.SeekStart); serr != nil {
				cancel()
				return nil, serr
			}
			res, err = o.Client.Scan(sctx, name, "", size, f)
		}
		cancel()
		if err == nil || !errors.Is(err, scanclient.ErrBusy) || attempt >= 50 || ctx.Err() != nil {
			return res, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// ScanOpenFile scans an open file by streaming it; Actor.Verify uses it.
func ScanOpenFile(client Client, timeout time.Duration) func(ctx context.Context, name string, f *os.File) (*scanclient.Result, error) {
	return func(ctx context.Context, name string, f *os.File) (*scanclient.Result, error) {
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		return scanOpen(ctx, Options{Client: client, Timeout: timeout}, name, f, st.Size())
	}
}
