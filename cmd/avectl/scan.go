package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"ave/pkg/scanclient"
	"ave/pkg/verdict"
)

// jsonLine is one line of `scan --json`; kavscanner prints the same.
type jsonLine struct {
	Path   string `json:"path"`
	Status string `json:"status"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
	Engine string `json:"engine,omitempty"`
	Type   string `json:"type,omitempty"`
	Depth  int    `json:"depth"`
}

type scanOpts struct {
	json, serverPath, quiet bool
	jobs                    int
	timeout                 time.Duration
}

func cmdScan(c *scanclient.Client, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("scan", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o scanOpts
	fl.BoolVar(&o.json, "json", false, "JSON lines")
	fl.BoolVar(&o.serverPath, "server-path", false, "aveserver opens the files")
	fl.BoolVar(&o.quiet, "quiet", false, "print only what is not clean")
	fl.IntVar(&o.jobs, "jobs", 2, "scans in flight")
	fl.DurationVar(&o.timeout, "timeout", 2*time.Minute, "per-object time limit")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprintln(stderr, "avectl: scan: no PATH given")
		return 2
	}
	if o.jobs < 1 {
		o.jobs = 1
	}
	paths := make(chan string, 64)
	var (
		mu            sync.Mutex
		found, failed bool
	)
	out := func(lines []string, isFound, isErr bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if isErr {
				fmt.Fprintln(stderr, l)
			} else {
				fmt.Fprintln(stdout, l)
			}
		}
		found = found || isFound
		failed = failed || isErr
	}
	var wg sync.WaitGroup
	for i := 0; i < o.jobs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range paths {
				res, err := scanOne(c, p, o)
				if err != nil {
					out([]string{fmt.Sprintf("%s: ERROR %v", p, err)}, false, true)
					continue
				}
				out(render(p, res, o), res.Status != verdict.Clean, false)
			}
		}()
	}
	for _, root := range fl.Args() {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				out([]string{fmt.Sprintf("%s: ERROR %v", p, err)}, false, true)
				return nil
			}
			if d.Type().IsRegular() {
				paths <- p
			} else if d.Type()&fs.ModeSymlink != 0 && p == root {
				paths <- p // a symlink named on the command line is followed
			}
			return nil
		})
		if err != nil {
			out([]string{fmt.Sprintf("%s: ERROR %v", root, err)}, false, true)
		}
	}
	close(paths)
	wg.Wait()
	switch {
	case failed:
		return 2
	case found:
		return 1
	}
	return 0
}

// scanOne scans one file, retrying while the daemon is busy.
func scanOne(c *scanclient.Client, p string, o scanOpts) (*scanclient.Result, error) {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		res, err := scanAttempt(ctx, c, p, o)
		cancel()
		if !errors.Is(err, scanclient.ErrBusy) || attempt >= 20 {
			return res, err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}

func scanAttempt(ctx context.Context, c *scanclient.Client, p string, o scanOpts) (*scanclient.Result, error) {
	if o.serverPath {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		res, err := c.ScanPath(ctx, abs, "")
		if res != nil {
			rebase(res, abs, p)
		}
		return res, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	return c.Scan(ctx, p, "", size, f)
}

// rebase rewrites detection paths from the absolute path sent to the
// daemon back to the path the user typed.
func rebase(res *scanclient.Result, abs, p string) {
	for i := range res.Detections {
		d := &res.Detections[i]
		if len(d.Path) >= len(abs) && d.Path[:len(abs)] == abs {
			d.Path = p + d.Path[len(abs):]
		}
	}
}

// render makes the output lines for one file: "PATH: CLEAN", or one line
// per non-clean object: "PATH/inner: INFECTED Name" / "PATH: UNCHECKED (reason)".
func render(p string, res *scanclient.Result, o scanOpts) []string {
	var lines []string
	if len(res.Detections) == 0 {
		if o.quiet {
			return nil
		}
		if o.json {
			b, _ := json.Marshal(jsonLine{Path: p, Status: verdict.Clean.String()})
			return []string{string(b)}
		}
		return []string{p + ": CLEAN"}
	}
	for _, d := range res.Detections {
		if o.json {
			b, _ := json.Marshal(jsonLine{Path: d.Path, Status: d.Status.String(), Name: d.Name, Reason: d.Reason, Engine: d.Engine, Type: d.Type, Depth: d.Depth})
			lines = append(lines, string(b))
			continue
		}
		l := d.Path + ": " + d.Status.String()
		if d.Name != "" {
			l += " " + d.Name
		}
		if d.Reason != "" {
			l += " (" + d.Reason + ")"
		}
		lines = append(lines, l)
	}
	return lines
}
