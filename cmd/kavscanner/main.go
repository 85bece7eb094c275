// Command kavscanner scans files and directories on demand or from cron
// over aveserver, and acts on what it finds as [scanner.*] of the
// configuration says (report, remove, cure, quarantine, movePath, exec).
//
//	kavscanner [-c FILE] [OPTIONS] [PATH...]
//
// Exit status: 0 nothing found, 1 something found (any status other than
// CLEAN), 2 errors (a file or directory not read or scanned, an action
// that failed, no daemon, a bad option or configuration). Errors win over
// findings: 2 may hide a 1, never the other way round.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"
	"golang.org/x/term"

	"ave/pkg/config"
	"ave/pkg/fsscan"
	"ave/pkg/scanclient"
)

// Exit codes.
const (
	exitClean = 0
	exitFound = 1
	exitError = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type opts struct {
	cfgFile, list, socket, db, report, appendReport, reportLevel, cacheFile string
	backup, quarantineDir, keyFile                                          string
	onInfected, onSuspicious, onCorrupted, onProtected, onError             string
	excludeDir, excludeMask                                                 []string
	noRecursion, recursive, oneFS, quiet, verbose, json, local, noCache     bool
	noProgress                                                              bool
	jobs                                                                    int
	timeout                                                                 time.Duration
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o opts
	fs := flag.NewFlagSet("kavscanner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVarP(&o.cfgFile, "config", "c", "", "configuration file (default "+config.DefaultConfigFile+" if present)")
	fs.StringVarP(&o.list, "list", "@", "", "read targets from FILE, one per line (- = standard input)")
	fs.BoolVarP(&o.noRecursion, "no-recursion", "r", false, "do not descend into subdirectories")
	fs.BoolVarP(&o.recursive, "recursive", "R", false, "descend into subdirectories (the default)")
	fs.BoolVarP(&o.oneFS, "one-file-system", "l", false, "do not cross mount points")
	fs.StringArrayVar(&o.excludeDir, "exclude-dir", nil, "do not enter directories matching DIR (path or mask; repeatable)")
	fs.StringArrayVar(&o.excludeMask, "exclude-mask", nil, "do not scan files whose name matches MASK (repeatable)")
	fs.StringVarP(&o.report, "report", "o", "", "write a report to FILE (truncated)")
	fs.StringVarP(&o.appendReport, "append-report", "a", "", "append a report to FILE")
	fs.StringVar(&o.reportLevel, "report-level", "", "what the report holds: errors, found or all")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "print only findings, actions and errors (for cron)")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "print clean and skipped files too")
	fs.BoolVar(&o.json, "json", false, "JSON lines like `avectl scan --json` on standard output")
	fs.IntVarP(&o.jobs, "jobs", "j", 0, "files in flight (default: the daemon's workers x 2)")
	fs.DurationVar(&o.timeout, "timeout", 0, "time limit per file (default ScanTimeout, 2m)")
	fs.StringVar(&o.socket, "socket", "", "aveserver address: socket path or tcp:HOST:PORT")
	fs.BoolVar(&o.local, "local", false, "start a private aveserver when none answers")
	fs.StringVar(&o.db, "db", "", "signature DB of the --local aveserver (default [aveserver.path] BasesPath)")
	fs.BoolVar(&o.noCache, "no-cache", false, "scan every file, do not use or update the scan cache")
	fs.StringVar(&o.cacheFile, "cache-file", "", "scan cache file (default [scanner.path] CachePath)")
	fs.StringVar(&o.backup, "backup", "", "keep encrypted copies in DIR before remove, cure and move")
	fs.StringVar(&o.quarantineDir, "quarantine-dir", "", "quarantine store directory")
	fs.StringVar(&o.keyFile, "key-file", "", "age identity of the stores (created 0600 on first use)")
	fs.StringVar(&o.onInfected, "on-infected", "", "action chain for INFECTED files and containers")
	fs.StringVar(&o.onSuspicious, "on-suspicious", "", "action chain for SUSPICIOUS")
	fs.StringVar(&o.onCorrupted, "on-corrupted", "", "action chain for CORRUPTED")
	fs.StringVar(&o.onProtected, "on-protected", "", "action chain for PROTECTED (encrypted)")
	fs.StringVar(&o.onError, "on-error", "", "action chain for UNCHECKED and unreadable files")
	fs.BoolVar(&o.noProgress, "no-progress", false, "no progress bar even on a terminal")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitClean
		}
		return exitError
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "kavscanner:", err)
		return exitError
	}
	cfg, srv, err := loadConfig(o, fs)
	if err != nil {
		return fail(err)
	}
	targets := fs.Args()
	if o.list != "" {
		r := stdin
		if o.list != "-" {
			f, err := os.Open(o.list)
			if err != nil {
				return fail(err)
			}
			defer f.Close()
			r = f
		}
		more, err := fsscan.ReadList(r)
		if err != nil {
			return fail(fmt.Errorf("target list: %w", err))
		}
		targets = append(targets, more...)
	}
	if len(targets) == 0 && o.list == "" {
		targets = []string{"."}
	}

	rep := &fsscan.Reporter{Out: stdout, Err: stderr, JSON: o.json, Quiet: o.quiet, Verbose: o.verbose}
	if f, ok := stderr.(*os.File); ok && !o.noProgress && !o.json {
		rep.ShowProgress = term.IsTerminal(int(f.Fd()))
	}
	if rep.FileLevel, err = fsscan.ParseLevel(cfg.ReportLevel); err != nil {
		return fail(err)
	}
	if cfg.ReportFileName != "" {
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if cfg.ReportAppend {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := os.OpenFile(cfg.ReportFileName, flags, 0o640)
		if err != nil {
			return fail(fmt.Errorf("report: %w", err))
		}
		defer f.Close()
		rep.File = f
		rep.Header(append([]string{"kavscanner"}, args...))
	}

	addr := pickAddress(o.socket, cfg, srv)
	client, dbVersion, workers, stopLocal, err := connect(ctx, addr, o.local || cfg.LocalServer, firstNonEmpty(o.db, srv.BasesPath), o.cfgFile, stderr)
	if err != nil {
		return fail(err)
	}
	defer stopLocal()
	defer client.Close()

	jobs := cfg.Jobs
	if jobs == 0 {
		jobs = max(2*workers, 2)
	}
	var cache *fsscan.Cache
	if cfg.Cache && cfg.CachePath != "" {
		if cache, err = fsscan.OpenCache(cfg.CachePath, dbVersion, cfg.CacheSize); err != nil {
			fmt.Fprintln(stderr, "kavscanner: warning:", err, "(scanning without the cache)")
			cache = nil
		}
	}
	actor := &fsscan.Actor{
		Object: cfg.Object, Container: cfg.Container,
		Quarantine: &fsscan.LazyStore{Dir: cfg.QuarantinePath, KeyFile: cfg.KeyFile},
		Verify:     fsscan.ScanOpenFile(client, cfg.ScanTimeout),
	}
	if cfg.BackupPath != "" {
		actor.Backup = &fsscan.LazyStore{Dir: cfg.BackupPath, KeyFile: cfg.KeyFile}
	}
	sum := fsscan.Run(ctx, fsscan.Options{
		Targets: fsscan.Targets{Paths: targets, Recursion: cfg.Recursion, OneFileSystem: cfg.OneFileSystem,
			ExcludeDir: cfg.ExcludeDir, ExcludeMask: cfg.ExcludeMask},
		Client:     client,
		ServerPath: !strings.HasPrefix(addr, "tcp:"),
		Jobs:       jobs,
		Timeout:    cfg.ScanTimeout,
		Cache:      cache,
		Actor:      actor,
		Report:     rep,
	})
	rep.Finish()
	if cache != nil && ctx.Err() == nil {
		if err := cache.Save(); err != nil {
			fmt.Fprintln(stderr, "kavscanner: warning:", err)
		}
	}
	rep.Summary(sum)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "kavscanner: interrupted")
		return exitError
	case sum.Errors > 0 || sum.ActionErrs > 0:
		return exitError
	case sum.Found():
		return exitFound
	}
	return exitClean
}

const usage = `usage: kavscanner [-c FILE] [OPTIONS] [PATH...]

Scans files and directories (the current directory when none is given)
over aveserver and acts on what it finds as [scanner.*] of the
configuration says. Exit status: 0 nothing found, 1 something found,
2 errors.

`

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// loadConfig reads the file (-c, else the installed one if present) and
// lays the command-line options over it.
func loadConfig(o opts, fs *flag.FlagSet) (config.Scanner, config.AVEServer, error) {
	file := o.cfgFile
	if file == "" {
		if _, err := os.Stat(config.DefaultConfigFile); err == nil {
			file = config.DefaultConfigFile
		}
	}
	cfg, err := config.LoadScanner(file)
	if err != nil {
		return cfg, config.AVEServer{}, err
	}
	srv, err := config.LoadAVEServer(file)
	if err != nil {
		return cfg, srv, err
	}
	if o.noRecursion {
		cfg.Recursion = false
	}
	if o.recursive {
		cfg.Recursion = true
	}
	if o.oneFS {
		cfg.OneFileSystem = true
	}
	cfg.ExcludeDir = append(cfg.ExcludeDir, o.excludeDir...)
	cfg.ExcludeMask = append(cfg.ExcludeMask, o.excludeMask...)
	switch {
	case o.report != "":
		cfg.ReportFileName, cfg.ReportAppend = o.report, false
	case o.appendReport != "":
		cfg.ReportFileName, cfg.ReportAppend = o.appendReport, true
	}
	if o.reportLevel != "" {
		cfg.ReportLevel = o.reportLevel
	}
	if o.jobs > 0 {
		cfg.Jobs = o.jobs
	}
	if o.timeout > 0 {
		cfg.ScanTimeout = o.timeout
	}
	if o.noCache {
		cfg.Cache = false
	}
	if o.cacheFile != "" {
		cfg.CachePath = o.cacheFile
	}
	if o.backup != "" {
		cfg.BackupPath = o.backup
	}
	if o.quarantineDir != "" {
		cfg.QuarantinePath = o.quarantineDir
	}
	if o.keyFile != "" {
		cfg.KeyFile = o.keyFile
	}
	for _, a := range []struct {
		flag, value string
		obj, cont   *[]config.Action
	}{
		{"on-infected", o.onInfected, &cfg.Object.OnInfected, &cfg.Container.OnInfected},
		{"on-suspicious", o.onSuspicious, &cfg.Object.OnSuspicious, &cfg.Container.OnSuspicious},
		{"on-corrupted", o.onCorrupted, &cfg.Object.OnCorrupted, &cfg.Container.OnCorrupted},
		{"on-protected", o.onProtected, &cfg.Object.OnProtected, &cfg.Container.OnProtected},
		{"on-error", o.onError, &cfg.Object.OnError, &cfg.Container.OnError},
	} {
		if !fs.Changed(a.flag) {
			continue
		}
		chain, err := config.ParseActions(a.value)
		if err != nil {
			return cfg, srv, fmt.Errorf("--%s: %w", a.flag, err)
		}
		*a.obj, *a.cont = chain, chain
	}
	return cfg, srv, nil
}

// pickAddress: --socket, $AVE_SOCKET, [scanner.options] ServerAddress,
// [aveserver.general] ListenAddress (or TCPListenAddress when it is the
// only one).
func pickAddress(flagValue string, cfg config.Scanner, srv config.AVEServer) string {
	if env := os.Getenv("AVE_SOCKET"); flagValue == "" && env != "" {
		flagValue = env
	}
	return firstNonEmpty(flagValue, cfg.ServerAddress, srv.ClientAddress())
}

// connect dials addr and asks for the daemon's status; with local, a
// daemon that does not answer is replaced by a private child aveserver.
func connect(ctx context.Context, addr string, local bool, db, cfgFile string, stderr io.Writer) (*scanclient.Client, string, int, func(), error) {
	noop := func() {}
	c, err := scanclient.Dial(addr)
	if err != nil {
		return nil, "", 0, noop, err
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := c.Status(sctx)
	cancel()
	if err == nil {
		return c, st.GetDbVersion(), int(st.GetWorkers()), noop, nil
	}
	c.Close()
	if !local || !errors.Is(err, scanclient.ErrUnavailable) {
		return nil, "", 0, noop, fmt.Errorf("aveserver at %s: %w", addr, err)
	}
	child, err := startLocal(ctx, db, cfgFile, stderr)
	if err != nil {
		return nil, "", 0, noop, err
	}
	return child.client, child.dbVersion, child.workers, child.stop, nil
}
