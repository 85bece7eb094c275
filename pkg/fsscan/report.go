package fsscan

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"

	"ave/pkg/scanclient"
	"ave/pkg/verdict"
)

// Level says what goes into the report file.
type Level int

// Report levels.
const (
	LevelErrors Level = iota // errors and the summary
	LevelFound               // + what was found and the actions taken
	LevelAll                 // + every clean, cached and skipped file
)

// ParseLevel reads "errors", "found" or "all".
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(s) {
	case "errors":
		return LevelErrors, nil
	case "found":
		return LevelFound, nil
	case "all":
		return LevelAll, nil
	}
	return LevelFound, fmt.Errorf("fsscan: report level %q: expected errors, found or all", s)
}

// Reporter writes the console lines, the report file and the progress
// bar. It is safe for concurrent use; lines are written whole.
//
// Console: what was found (one line per object, or JSON lines), the
// actions, errors (on Err) and the summary; Verbose adds clean and
// skipped files; Quiet drops the summary and the progress bar, so a run
// that finds nothing prints nothing.
type Reporter struct {
	Out, Err  io.Writer // console; nil = discard
	JSON      bool      // JSON lines on Out as `avectl scan --json`; text lines go to Err
	Quiet     bool
	Verbose   bool
	File      io.Writer // report file; nil = none
	FileLevel Level
	// Progress shows a bar on Err (set it only when Err is a terminal).
	ShowProgress bool

	mu   sync.Mutex
	bar  *progressbar.ProgressBar
	once sync.Once
}

// jsonLine is the line format of `avectl scan --json`.
type jsonLine struct {
	Path   string `json:"path"`
	Status string `json:"status"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
	Engine string `json:"engine,omitempty"`
	Type   string `json:"type,omitempty"`
	Depth  int    `json:"depth"`
}

func (r *Reporter) progressOn() bool { return r.ShowProgress && !r.Quiet && r.Err != nil }

// countTotal walks the targets once more, counting bytes, so the bar can
// show the time left.
func (r *Reporter) countTotal(t Targets, stop <-chan struct{}) {
	files := make(chan fileRef, 256)
	events := make(chan walkEvent, 64)
	go func() {
		t.walk(stop, files, events)
		close(files)
		close(events)
	}()
	go func() {
		for range events {
		}
	}()
	var total int64
	for f := range files {
		total += f.stat.Size
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := r.getBar(); b != nil {
		b.ChangeMax64(max(total, 1))
	}
}

// getBar makes the bar on first use; r.mu held.
func (r *Reporter) getBar() *progressbar.ProgressBar {
	if !r.progressOn() {
		return nil
	}
	r.once.Do(func() {
		r.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(r.Err),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetDescription("scanning"),
			progressbar.OptionSetWidth(30),
		)
	})
	return r.bar
}

// Progress adds n handled bytes to the bar.
func (r *Reporter) Progress(n int64) {
	if !r.progressOn() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.getBar().Add64(n)
}

// Finish removes the bar.
func (r *Reporter) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		r.bar.Finish()
		r.bar.Clear()
		fmt.Fprint(r.Err, "\r\x1b[K")
	}
}

// write prints lines to the console writer w and, at level, to the file.
func (r *Reporter) write(w io.Writer, level Level, console bool, lines ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if console && w != nil {
		if r.bar != nil {
			r.bar.Clear()
		}
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
	if r.File != nil && level <= r.FileLevel {
		for _, l := range lines {
			fmt.Fprintln(r.File, l)
		}
	}
}

// textOut is where text lines go: Out, or Err in JSON mode.
func (r *Reporter) textOut() io.Writer {
	if r.JSON {
		return r.Err
	}
	return r.Out
}

// Header writes the report file's first line.
func (r *Reporter) Header(args []string) {
	if r.File == nil {
		return
	}
	qs := make([]string, len(args))
	for i, a := range args {
		qs[i] = Printable(a)
	}
	r.write(nil, LevelErrors, false, fmt.Sprintf("kavscanner started %s: %s", time.Now().Format(time.RFC3339), strings.Join(qs, " ")))
}

// Found reports a file that was not clean: one line per object.
func (r *Reporter) Found(path string, res *scanclient.Result) {
	lines := findingLines(&finding{path: path, res: res})
	for i := range lines {
		lines[i] = Printable(lines[i])
	}
	if r.JSON {
		var js []string
		for _, d := range res.Detections {
			b, _ := json.Marshal(jsonLine{Path: d.Path, Status: d.Status.String(), Name: d.Name, Reason: d.Reason, Engine: d.Engine, Type: d.Type, Depth: d.Depth})
			js = append(js, string(b))
		}
		r.write(r.Out, LevelAll+1, true, js...) // the file gets the text lines
		r.write(nil, LevelFound, false, lines...)
		return
	}
	r.write(r.Out, LevelFound, true, lines...)
}

// Clean reports a clean file (shown with Verbose, written at LevelAll).
func (r *Reporter) Clean(path string, cached bool) {
	show := r.Verbose && !r.Quiet
	if r.JSON {
		if show {
			b, _ := json.Marshal(jsonLine{Path: path, Status: verdict.Clean.String()})
			r.write(r.Out, LevelAll+1, true, string(b))
		}
		show = false
	}
	l := Printable(path) + ": CLEAN"
	if cached {
		l += " (unchanged since the last scan)"
	}
	r.write(r.Out, LevelAll, show, l)
}

// Skipped reports a file or directory left alone and why.
func (r *Reporter) Skipped(path, reason string) {
	r.write(r.textOut(), LevelAll, r.Verbose && !r.Quiet, Printable(path)+": SKIPPED ("+reason+")")
}

// Error reports a file or directory that could not be read or scanned.
func (r *Reporter) Error(path string, err error) {
	r.write(r.Err, LevelErrors, true, Printable(path)+": ERROR "+Printable(fmt.Sprint(err)))
}

// Action reports what an action did.
func (r *Reporter) Action(path string, o Outcome) {
	if o.Err != nil && o.Fallback {
		r.write(r.textOut(), LevelFound, true, Printable(path)+": cannot cure ("+Printable(o.Err.Error())+"), falling back")
		return
	}
	if o.Err != nil {
		r.write(r.Err, LevelFound, true, Printable(path)+": "+string(o.Action.Kind)+" FAILED: "+Printable(o.Err.Error()))
		return
	}
	r.write(r.textOut(), LevelFound, true, Printable(path)+": "+Printable(o.Done))
}

// Summary writes the run's totals (not on the console with Quiet).
func (r *Reporter) Summary(s Summary) {
	secs := s.Elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	var st []string
	for v := verdict.Clean; v <= verdict.Infected; v++ {
		st = append(st, fmt.Sprintf("%s %d", strings.ToLower(v.String()), s.Statuses[v]))
	}
	lines := []string{
		fmt.Sprintf("files %d (scanned %d, unchanged since the last scan %d), %s", s.Files, s.Scanned, s.Cached, humanBytes(s.Bytes)),
		"statuses: " + strings.Join(st, ", "),
		fmt.Sprintf("skipped %d, vanished %d, errors %d, actions %d (failed %d)", s.Skipped, s.Vanished, s.Errors, s.ActionsDone, s.ActionErrs),
		fmt.Sprintf("time %.2fs, %s/s, %.0f files/s", secs, humanBytes(int64(float64(s.Bytes)/secs)), float64(s.Files)/secs),
	}
	w := r.Out
	if r.JSON {
		w = r.Err
	}
	r.write(w, LevelErrors, !r.Quiet, lines...)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Printable makes a name safe for one line of text: control characters
// and invalid UTF-8 are written as Go escapes (\n, \x9f), so a file name
// cannot forge report lines. Valid printable names are unchanged.
func Printable(s string) string {
	ok := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
