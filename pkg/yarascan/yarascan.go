// Package yarascan is the only package that uses cgo: it wraps libyara
// through go-yara v4.2.4. Rules are compiled once and shared read-only by
// every worker; each worker scans with its own Scanner.
//
// Lifetimes: a *Rules must stay alive (not Destroyed) while any Scanner made
// from it is scanning or while its matches are being read; the engine keeps
// a reference count per database for that. Scanners are not safe for
// concurrent use; Rules are.
package yarascan

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	yara "github.com/hillu/go-yara/v4"
)

// External variables every rule may use. They are declared at compile time
// and set per object by Scan.
const (
	VarFilename = "filename" // the object's name (last path element)
	VarFiletype = "filetype" // the content type from pkg/filetype
	VarDepth    = "depth"    // nesting depth, 0 for the top object
	VarPath     = "path"     // the object's path inside the scanned one
)

// scanFlagsNoTryCatch is libyara's SCAN_FLAGS_NO_TRYCATCH (scan.h, 4):
// without it libyara installs a process-wide SIGSEGV/SIGBUS handler during
// each scan, which fights the Go runtime. go-yara v4.2.4 does not set it.
const scanFlagsNoTryCatch = yara.ScanFlags(4)

// Source is one piece of rule text with the file it came from.
type Source struct {
	File string // reported in compile errors
	Text string
}

// CompileError is a rule that failed to compile, with its location.
type CompileError struct {
	File string
	Line int
	Text string
}

func (e CompileError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Text) }

// Rules is a compiled, immutable rule set.
type Rules struct {
	r     *yara.Rules
	count int
}

// Compile compiles every source into one rule set. All compile errors are
// returned together, each naming its file and line.
func Compile(sources []Source) (*Rules, error) {
	c, err := newCompiler()
	if err != nil {
		return nil, err
	}
	defer c.Destroy()
	for i, s := range sources {
		if err := c.AddString(s.Text, ""); err != nil {
			// After an error libyara's compiler takes no more sources:
			// compile the rest one by one so every broken file is named.
			errs := compileErrors(c, s, err)
			for _, rest := range sources[i+1:] {
				errs = append(errs, checkAlone(rest)...)
			}
			return nil, errors.Join(errs...)
		}
	}
	r, err := c.GetRules()
	if err != nil {
		return nil, fmt.Errorf("yarascan: %w", err)
	}
	return &Rules{r: r, count: len(r.GetRules())}, nil
}

func compileErrors(c *yara.Compiler, s Source, err error) []error {
	var errs []error
	for _, m := range c.Errors {
		errs = append(errs, CompileError{File: s.File, Line: m.Line, Text: m.Text})
	}
	if len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: %w", s.File, err))
	}
	return errs
}

// checkAlone compiles one source on its own and returns its errors.
func checkAlone(s Source) []error {
	c, err := newCompiler()
	if err != nil {
		return []error{err}
	}
	defer c.Destroy()
	if err := c.AddString(s.Text, ""); err != nil {
		return compileErrors(c, s, err)
	}
	return nil
}

func newCompiler() (*yara.Compiler, error) {
	c, err := yara.NewCompiler()
	if err != nil {
		return nil, fmt.Errorf("yarascan: %w", err)
	}
	for name, v := range map[string]any{VarFilename: "", VarFiletype: "", VarDepth: 0, VarPath: ""} {
		if err := c.DefineVariable(name, v); err != nil {
			c.Destroy()
			return nil, fmt.Errorf("yarascan: define %s: %w", name, err)
		}
	}
	return c, nil
}

// Count is the number of rules.
func (r *Rules) Count() int { return r.count }

// Destroy frees the rules. Call it only when no Scanner of these rules is in use.
func (r *Rules) Destroy() {
	if r.r != nil {
		r.r.Destroy()
		r.r = nil
	}
}

// Scanner scans with one rule set. Not safe for concurrent use.
type Scanner struct {
	rules *Rules
	s     *yara.Scanner
}

// NewScanner makes a scanner for r.
func (r *Rules) NewScanner() (*Scanner, error) {
	s, err := yara.NewScanner(r.r)
	if err != nil {
		return nil, fmt.Errorf("yarascan: %w", err)
	}
	s.SetFlags(scanFlagsNoTryCatch)
	return &Scanner{rules: r, s: s}, nil
}

// Destroy frees the scanner.
func (s *Scanner) Destroy() {
	if s.s != nil {
		s.s.Destroy()
		s.s = nil
	}
}

// Vars are the per-object values of the external variables.
type Vars struct {
	Filename, Filetype, Path string
	Depth                    int
}

// StringMatch is one match of one string of a rule.
type StringMatch struct {
	Name   string // "$b12"
	Offset int64
}

// Match is one rule that matched.
type Match struct {
	Rule    string
	Tags    []string
	Meta    map[string]string
	Strings []StringMatch
}

// Scan matches data. timeout is rounded up to whole seconds (libyara's
// unit); zero means none. The returned matches are copied into Go memory
// and stay valid after the rules are destroyed.
func (s *Scanner) Scan(data []byte, v Vars, timeout time.Duration) ([]Match, error) {
	for name, val := range map[string]any{VarFilename: v.Filename, VarFiletype: v.Filetype, VarPath: v.Path, VarDepth: v.Depth} {
		if err := s.s.DefineVariable(name, val); err != nil {
			return nil, fmt.Errorf("yarascan: set %s: %w", name, err)
		}
	}
	secs := (timeout + time.Second - 1) / time.Second
	if timeout > 0 && secs < 1 {
		secs = 1
	}
	s.s.SetTimeout(secs * time.Second)
	var ms yara.MatchRules
	s.s.SetCallback(&ms)
	err := s.s.ScanMem(data)
	out := make([]Match, 0, len(ms))
	for _, m := range ms {
		mm := Match{Rule: m.Rule, Tags: m.Tags}
		if len(m.Metas) > 0 {
			mm.Meta = make(map[string]string, len(m.Metas))
			for _, kv := range m.Metas {
				mm.Meta[kv.Identifier] = fmt.Sprint(kv.Value)
			}
		}
		for _, sm := range m.Strings {
			mm.Strings = append(mm.Strings, StringMatch{Name: sm.Name, Offset: int64(sm.Offset)})
		}
		out = append(out, mm)
	}
	// The rules must outlive the C scan and the copy above.
	runtime.KeepAlive(s.rules)
	runtime.KeepAlive(data)
	if err != nil {
		if strings.Contains(err.Error(), "timeout") {
			return out, fmt.Errorf("yarascan: %w", ErrTimeout)
		}
		return out, fmt.Errorf("yarascan: %w", err)
	}
	return out, nil
}

// ErrTimeout is returned when libyara's own time limit ended a scan.
var ErrTimeout = errors.New("scan timeout")
