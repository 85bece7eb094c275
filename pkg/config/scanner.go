package config

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Scanner holds the [scanner.*] sections read by kavscanner (and the
// quarantine paths read by avectl). Zero values never reach kavscanner:
// LoadScanner starts from DefaultScanner.
type Scanner struct {
	// [scanner.path]
	BackupPath     string // encrypted copies before remove/cure/move ("" = no backup)
	QuarantinePath string // encrypted store of the "quarantine" action
	KeyFile        string // age X25519 identity of both stores, created 0600 on first use
	CachePath      string // on-disk scan cache ("" = no cache)

	// [scanner.options]
	Recursion     bool          // descend into directories
	OneFileSystem bool          // do not cross mount points
	ExcludeDir    []string      // directories not entered (absolute paths or shell masks)
	ExcludeMask   []string      // file names not scanned (shell masks on the last element)
	Jobs          int           // scans in flight (0 = the daemon's worker count)
	Cache         bool          // use the scan cache
	CacheSize     int           // entries kept in the scan cache
	ServerAddress string        // daemon socket ("" = [aveserver.general] ListenAddress)
	LocalServer   bool          // --local: start a private aveserver if none answers
	ScanTimeout   time.Duration // per-file time limit

	// [scanner.report]
	ReportFileName string // "" = no report file
	ReportAppend   bool   // append instead of truncate
	ReportLevel    string // errors, found, all

	// [scanner.object] and [scanner.container]
	Object    Actions
	Container Actions
}

// Actions are the action chains of one of [scanner.object] (plain files)
// and [scanner.container] (archives, mail files and other containers), by
// the status of the object.
type Actions struct {
	OnInfected   []Action
	OnSuspicious []Action
	OnCorrupted  []Action
	OnProtected  []Action
	OnError      []Action // UNCHECKED objects and files that could not be scanned
}

// ActionKind names one action.
type ActionKind string

// Actions of a chain.
const (
	ActReport     ActionKind = "report"     // write the finding (always done; alone it does nothing else)
	ActRemove     ActionKind = "remove"     // delete the file
	ActCure       ActionKind = "cure"       // rebuild a zip or tar without the bad members
	ActQuarantine ActionKind = "quarantine" // encrypt into the quarantine store, then delete
	ActMovePath   ActionKind = "movePath"   // move the file into the directory Arg
	ActExec       ActionKind = "exec"       // run the command Argv (no shell)
)

// Action is one step of a chain. Arg is the directory of movePath; Argv is
// the command and arguments of exec, split like a shell would split words
// (quotes, backslash) but never run by one; macros stay unexpanded here.
type Action struct {
	Kind ActionKind
	Arg  string
	Argv []string
}

func (a Action) String() string {
	switch a.Kind {
	case ActMovePath:
		return string(a.Kind) + " " + a.Arg
	case ActExec:
		return string(a.Kind) + " " + strings.Join(a.Argv, " ")
	}
	return string(a.Kind)
}

// DefaultScanner is the configuration used with no file: report only.
func DefaultScanner() Scanner {
	report := []Action{{Kind: ActReport}}
	acts := Actions{OnInfected: report, OnSuspicious: report, OnCorrupted: report, OnProtected: report, OnError: report}
	return Scanner{
		QuarantinePath: "/var/lib/ave/quarantine",
		KeyFile:        "/var/lib/ave/quarantine.key",
		CachePath:      "/var/cache/ave/kavscanner.cache",
		Recursion:      true,
		Cache:          true,
		CacheSize:      1_000_000,
		ScanTimeout:    2 * time.Minute,
		ReportLevel:    "found",
		Object:         acts,
		Container:      acts,
	}
}

// LoadScanner reads the [scanner.*] sections of file over the defaults.
// An empty file name gives the defaults.
func LoadScanner(file string) (Scanner, error) {
	c := DefaultScanner()
	s := schema{prefix: "scanner.", owned: map[string]section{
		"scanner.path": {
			"backuppath":     str(&c.BackupPath),
			"quarantinepath": str(&c.QuarantinePath),
			"keyfile":        str(&c.KeyFile),
			"cachepath":      str(&c.CachePath),
		},
		"scanner.options": {
			"recursion":     boolean(&c.Recursion),
			"onefilesystem": boolean(&c.OneFileSystem),
			"excludedir":    list(&c.ExcludeDir, checkMask),
			"excludemask":   list(&c.ExcludeMask, checkMask),
			"jobs":          integer(&c.Jobs, 0, 1024),
			"cache":         boolean(&c.Cache),
			"cachesize":     integer(&c.CacheSize, 1, 100_000_000),
			"serveraddress": str(&c.ServerAddress),
			"localserver":   boolean(&c.LocalServer),
			"scantimeout":   duration(&c.ScanTimeout, time.Second),
		},
		"scanner.report": {
			"reportfilename": str(&c.ReportFileName),
			"append":         boolean(&c.ReportAppend),
			"reportlevel":    oneOf(&c.ReportLevel, "errors", "found", "all"),
		},
		"scanner.object":    actionKeys(&c.Object),
		"scanner.container": actionKeys(&c.Container),
	}}
	if err := s.apply(file); err != nil {
		return c, err
	}
	return c, nil
}

func actionKeys(a *Actions) section {
	return section{
		"oninfected":   chain(&a.OnInfected),
		"onsuspicious": chain(&a.OnSuspicious),
		"oncorrupted":  chain(&a.OnCorrupted),
		"onprotected":  chain(&a.OnProtected),
		"onerror":      chain(&a.OnError),
	}
}

func chain(dst *[]Action) func(string) error {
	return func(v string) error {
		acts, err := ParseActions(v)
		if err != nil {
			return err
		}
		*dst = acts
		return nil
	}
}

// list parses a comma- or space-separated list; each element is checked.
func list(dst *[]string, check func(string) error) func(string) error {
	return func(v string) error {
		var out []string
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if err := check(f); err != nil {
				return err
			}
			out = append(out, f)
		}
		*dst = out
		return nil
	}
}

func checkMask(m string) error {
	if _, err := path.Match(m, ""); err != nil {
		return fmt.Errorf("bad mask %q: expected shell wildcards (* ? [a-z])", m)
	}
	return nil
}

// ParseActions parses an action chain: actions separated by ";", each one
// of report, remove, cure, quarantine, movePath DIR, exec COMMAND [ARGS].
// Names are case-insensitive. exec words are split with shell-like quoting
// ('single', "double", backslash) but never run through a shell; a ";"
// inside quotes belongs to the word. An empty chain is "report".
func ParseActions(v string) ([]Action, error) {
	parts, err := splitChain(v)
	if err != nil {
		return nil, err
	}
	var out []Action
	for _, words := range parts {
		if len(words) == 0 {
			continue
		}
		kind, args := strings.ToLower(words[0]), words[1:]
		switch kind {
		case "report", "remove", "cure", "quarantine":
			if len(args) > 0 {
				return nil, fmt.Errorf("%s takes no argument", kind)
			}
			out = append(out, Action{Kind: ActionKind(kind)})
		case "movepath":
			if len(args) != 1 || !path.IsAbs(args[0]) {
				return nil, errors.New("movePath takes one absolute directory")
			}
			out = append(out, Action{Kind: ActMovePath, Arg: args[0]})
		case "exec":
			if len(args) == 0 {
				return nil, errors.New("exec needs a command")
			}
			out = append(out, Action{Kind: ActExec, Argv: args})
		default:
			return nil, fmt.Errorf("unknown action %q: expected report, remove, cure, quarantine, movePath DIR or exec COMMAND", words[0])
		}
	}
	if len(out) == 0 {
		out = []Action{{Kind: ActReport}}
	}
	return out, nil
}

// splitChain splits v into actions at unquoted ";" and each action into
// words.
func splitChain(v string) ([][]string, error) {
	var (
		chains [][]string
		words  []string
		word   strings.Builder
		inWord bool
		quote  rune
	)
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	rs := []rune(v)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\') {
				i++
				word.WriteRune(rs[i])
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\':
			if i+1 == len(rs) {
				return nil, errors.New("trailing backslash")
			}
			i++
			word.WriteRune(rs[i])
			inWord = true
		case r == ';':
			endWord()
			chains = append(chains, words)
			words = nil
		case r == ' ' || r == '\t':
			endWord()
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	endWord()
	chains = append(chains, words)
	return chains, nil
}
