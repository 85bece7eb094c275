// Command aveserver is the AVE scanning engine daemon: it loads the
// signature database, serves the gRPC API on a unix socket (and optionally
// TCP), reloads on SIGHUP and stops cleanly on SIGTERM/SIGINT.
//
//	aveserver [-c FILE] [--socket PATH] [--db DIR] [--tcp HOST:PORT] [--workers N]
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"ave/internal/heapfloor"
	"ave/internal/timerslack"
	"ave/pkg/config"
	"ave/pkg/engine"
	"ave/pkg/scanservice"
	"ave/pkg/sigdb"
	"ave/pkg/unpack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "aveserver:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgFile := flag.String("c", "", "configuration file (default "+config.DefaultConfigFile+" if it exists)")
	socket := flag.String("socket", "", "unix socket path (overrides [aveserver.general] ListenAddress)")
	dbDir := flag.String("db", "", "signature database directory (overrides [aveserver.path] BasesPath)")
	tcp := flag.String("tcp", "", "also listen on TCP HOST:PORT (overrides TCPListenAddress)")
	workers := flag.Int("workers", -1, "scanning workers (overrides Workers; 0 = one per CPU)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	// Fewer wake-ups of the runtime's timed waits (internal/timerslack);
	// re-executes the program once.
	if err := timerslack.Apply(); err != nil {
		fmt.Fprintln(os.Stderr, "aveserver: warning:", err)
	}
	file := *cfgFile
	if file == "" {
		if _, err := os.Stat(config.DefaultConfigFile); err == nil {
			file = config.DefaultConfigFile
		}
	}
	cfg, err := config.LoadAVEServer(file)
	if err != nil {
		return err
	}
	if *socket != "" {
		cfg.ListenAddress = *socket
	}
	if *dbDir != "" {
		cfg.BasesPath = *dbDir
	}
	if *tcp != "" {
		cfg.TCPListenAddress = *tcp
	}
	if *workers >= 0 {
		cfg.Workers = *workers
	}
	log := newLogger(cfg.LogLevel)

	load := func() (*sigdb.DB, error) { return sigdb.Load(cfg.BasesPath) }
	db, err := load()
	if err != nil {
		return fmt.Errorf("loading the signature database: %w", err)
	}
	scanservice.ReleaseLoadGarbage()
	// Collections at GOGC=100 over a small live heap took a third of the
	// CPU per mail message; a large database keeps the proportional
	// headroom (internal/heapfloor). GOGC in the environment wins.
	heapfloor.Start(heapfloor.Default)
	log.Info("database loaded", "dir", cfg.BasesPath, "version", db.Version, "ms", db.LoadTime.Milliseconds(), "signatures", db.Counts, "untranslatable", len(db.Untranslatable))
	for _, u := range db.Untranslatable {
		log.Warn("untranslatable signature", "file", u.File, "line", u.Line, "name", u.Name, "reason", u.Reason)
	}

	cache := cfg.CacheSize
	if !cfg.CacheEnabled {
		cache = -1
	}
	eng := engine.New(db, engine.Options{
		Workers:     cfg.Workers,
		QueueLength: cfg.QueueLength,
		Limits: unpack.Limits{
			MaxObjectSize: cfg.MaxObjectSize,
			MaxScanBytes:  cfg.MaxScanSize,
			MaxDepth:      cfg.MaxDepth,
			MaxFiles:      cfg.MaxFilesInContainer,
			MaxRatio:      int64(cfg.MaxCompressionRatio),
		},
		MaxScanTime:  cfg.MaxScanTime,
		CacheEntries: cache,
	})
	svc := &scanservice.Service{Engine: eng, Load: load, Log: log}
	srv := grpc.NewServer(scanservice.ServerOptions()...)
	svc.Register(srv)

	if cfg.ListenAddress == "" && cfg.TCPListenAddress == "" {
		return errors.New("[aveserver.general] ListenAddress and TCPListenAddress are both empty: no listener")
	}
	errc := make(chan error, 2)
	if cfg.ListenAddress != "" {
		ul, err := listenUnix(cfg.ListenAddress, cfg.SocketMode, cfg.SocketGroup)
		if err != nil {
			return err
		}
		defer os.Remove(cfg.ListenAddress)
		go func() { errc <- srv.Serve(ul) }()
	}
	if cfg.TCPListenAddress != "" {
		tl, err := listenTCP(cfg.TCPListenAddress, cfg.TCPAllowRemote)
		if err != nil {
			return err
		}
		go func() { errc <- srv.Serve(tl) }()
		log.Info("listening", "tcp", tl.Addr().String())
	}
	opt := eng.Options()
	log.Info("listening", "socket", cfg.ListenAddress, "workers", opt.Workers, "queue", opt.QueueLength)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("serving: %w", err)
		case s := <-sigs:
			if s == syscall.SIGHUP {
				go svc.DoReload()
				continue
			}
			log.Info("stopping", "signal", s.String())
			stopped := make(chan struct{})
			go func() { srv.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(opt.MaxScanTime + 5*time.Second):
				srv.Stop()
			}
			return nil
		}
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// listenUnix listens on path with the given mode and group. A stale socket
// left by a dead daemon is replaced; a live one is an error.
func listenUnix(path string, mode os.FileMode, group string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			// A typo in ListenAddress or --socket must not delete a file.
			return nil, fmt.Errorf("socket %s: the path exists and is not a socket (%s); refusing to replace it", path, fi.Mode().Type())
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s: another aveserver is listening", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("[aveserver.general] SocketGroup=%s: %w", group, err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(path, -1, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("socket %s: %w", path, err)
		}
	}
	return l, nil
}

// listenTCP refuses non-loopback addresses unless allowed: the API has no
// authentication.
func listenTCP(addr string, allowRemote bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("[aveserver.general] TCPListenAddress=%s: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if !allowRemote && (host == "" || (host != "localhost" && (ip == nil || !ip.IsLoopback()))) {
		return nil, errors.New("[aveserver.general] TCPListenAddress=" + addr + ": not a loopback address (set TCPAllowRemote=yes to allow)")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcp %s: %w", addr, err)
	}
	return l, nil
}
