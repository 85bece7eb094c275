// Command smtpscanner is AVE's after-queue SMTP/LMTP content filter: the
// MTA hands it mail (Postfix content_filter, a Sendmail mailer, Exim's
// lmtp transport command=), it spools and syncs each message, has
// aveserver scan it, decides per recipient and re-injects what may pass
// through ForwardMailer. A 250 is given only after the downstream MTA
// accepted the message; every internal failure is a 451.
//
//	smtpscanner [-c FILE] [--listen ADDR] [--lmtp] [--forward MAILER] [--socket PATH] [--spool DIR] [--stdio]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"ave/internal/heapfloor"
	"ave/internal/mailstack"
	"ave/internal/timerslack"
	"ave/pkg/config"
	"ave/pkg/mailflow"
	"ave/pkg/smtpfilter"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "smtpscanner:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgFile := flag.String("c", "", "configuration file (default "+config.DefaultConfigFile+" if it exists)")
	listen := flag.String("listen", "", "host:port or unix socket path (overrides [smtpscan.general] ListenAddress)")
	lmtp := flag.Bool("lmtp", false, "speak LMTP to the MTA (overrides Protocol)")
	forward := flag.String("forward", "", "ForwardMailer, e.g. smtp:127.0.0.1:10026 (overrides ForwardMailer)")
	socket := flag.String("socket", "", "aveserver socket (overrides ServerAddress)")
	spool := flag.String("spool", "", "spool directory (overrides SpoolDir)")
	stdio := flag.Bool("stdio", false, "serve one session on standard input and output")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	if !*stdio {
		// A long-lived server: fewer wake-ups of the runtime's timed
		// waits (internal/timerslack); re-executes the program once.
		if err := timerslack.Apply(); err != nil {
			fmt.Fprintln(os.Stderr, "smtpscanner: warning:", err)
		}
	}
	file := *cfgFile
	if file == "" {
		if _, err := os.Stat(config.DefaultConfigFile); err == nil {
			file = config.DefaultConfigFile
		}
	}
	ov := overrides{listen: *listen, lmtp: *lmtp, forward: *forward, socket: *socket, spool: *spool}
	cfg, mp, err := loadConfig(file, ov)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logWriter(*stdio), nil)).With("prog", "smtpscanner")

	sp, err := mailflow.OpenSpool(cfg.SpoolDir)
	if err != nil {
		return err
	}
	defer sp.Close() // the emptied files it keeps for reuse
	if !*stdio {
		// Leftovers belong to sessions that died before answering (their
		// MTA still holds the messages) or, rarely, just after: a file is
		// freed as its reply goes out, and that mark is not synced. They
		// are only reported.
		left, err := sp.Recover()
		for _, l := range left {
			log.Warn("spool leftover removed (not answered before a stop or crash: the MTA still holds it, unless the reply went out just before)", "file", l.Name, "size", l.Size, "mtime", l.ModTime)
		}
		if err != nil {
			return err
		}
		// A long-lived server: fewer collections (internal/heapfloor).
		heapfloor.Start(heapfloor.Default)
	}
	st, err := mailstack.New(cfg, mp, log, !*stdio)
	if err != nil {
		return err
	}
	var stMu sync.Mutex // st: replaced by reloads (SIGHUP)
	defer func() {
		stMu.Lock()
		defer stMu.Unlock()
		st.Close()
	}()
	srv := smtpfilter.New(smtpfilter.Options{
		Flow: st.Flow, Spool: sp, LMTP: cfg.Protocol == "lmtp", Domain: cfg.Hostname,
		MaxMessage: cfg.MaxMessageSize, MaxRecipients: cfg.MaxRecipients, MaxSessions: cfg.MaxSessions,
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, Log: log,
	})
	if *stdio {
		// One session for its MTA, with nothing to reload: a SIGHUP sent
		// to every smtpscanner (logrotate's postrotate, pkill -HUP) must
		// not end it in the middle of a transaction.
		signal.Ignore(syscall.SIGHUP)
		return srv.ServeStdio(os.Stdin, os.Stdout)
	}

	l, err := listenOn(cfg.ListenNetwork(), cfg.ListenAddress)
	if err != nil {
		return err
	}
	log.Info("listening", "address", cfg.ListenAddress, "protocol", cfg.Protocol, "forward", cfg.ForwardMailer.String(), "aveserver", cfg.ServerAddress)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s := <-sigs
		for ; s == syscall.SIGHUP; s = <-sigs {
			stMu.Lock()
			if next := reload(file, ov, cfg, srv, st, log); next != nil {
				st = next
			}
			stMu.Unlock()
		}
		log.Info("stopping", "signal", s.String(), "grace", shutdownGrace)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("messages in flight aborted (their MTA retries them)", "error", err.Error())
		}
	}()
	err = srv.Serve(l)
	if err == nil {
		<-stopped
	}
	if cfg.ListenNetwork() == "unix" {
		os.Remove(cfg.ListenAddress)
	}
	return err
}

// overrides are the command-line options that replace configuration keys;
// a reload applies them again.
type overrides struct {
	listen, forward, socket, spool string
	lmtp                           bool
}

// loadConfig reads smtpscanner's settings and mail policy from file ("" =
// built-in defaults) and applies the command-line overrides. Errors name
// the file, section and key.
func loadConfig(file string, ov overrides) (config.SMTPScan, config.MailPolicy, error) {
	// Both loaders read the file: report every problem of both at once.
	cfg, err := config.LoadSMTPScan(file)
	mp, perr := config.LoadMailPolicy(file)
	if err := errors.Join(err, perr); err != nil {
		return cfg, mp, err
	}
	if err := cfg.Complete(file); err != nil {
		return cfg, mp, err
	}
	if ov.listen != "" {
		cfg.ListenAddress = ov.listen
	}
	if ov.lmtp {
		cfg.Protocol = "lmtp"
	}
	if ov.forward != "" {
		if cfg.ForwardMailer, err = config.ParseMailer(ov.forward); err != nil {
			return cfg, mp, fmt.Errorf("--forward: %w", err)
		}
	}
	if ov.socket != "" {
		cfg.ServerAddress = ov.socket
	}
	if ov.spool != "" {
		cfg.SpoolDir = ov.spool
	}
	return cfg, mp, nil
}

// reload re-reads the configuration on SIGHUP and returns the new stack,
// now serving the messages received from then on (the old one is closed
// once the messages in flight with it are answered), or nil when the file
// is in error: the running configuration stays and the error is logged.
// Settings of the listener and the spool need a restart: a change of one
// is logged and ignored.
func reload(file string, ov overrides, running config.SMTPScan, srv *smtpfilter.Server, old *mailstack.Stack, log *slog.Logger) *mailstack.Stack {
	name := file
	if name == "" {
		name = "(built-in defaults)"
	}
	cfg, mp, err := loadConfig(file, ov)
	changed := restartOnly(running, cfg)
	cfg.Hostname = running.Hostname // the greeting's name and the downstream EHLO stay alike
	if err == nil {
		var st *mailstack.Stack
		if st, err = mailstack.New(cfg, mp, log, true); err == nil {
			for _, key := range changed {
				log.Warn("reload: changed setting ignored until smtpscanner is restarted", "file", name, "key", key)
			}
			drained := srv.SetFlow(st.Flow)
			go func() {
				<-drained
				old.Close()
			}()
			log.Info("reloaded", "file", name, "groups", len(mp.Groups), "forward", cfg.ForwardMailer.String(), "aveserver", cfg.ServerAddress)
			return st
		}
	}
	log.Error("reload failed: the running configuration stays", "file", name, "error", err.Error())
	return nil
}

// restartOnly lists the [smtpscan.*] keys that differ between a and b and
// take effect only at start-up (the listener, the spool, session limits).
func restartOnly(a, b config.SMTPScan) []string {
	var keys []string
	check := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	check("ListenAddress", a.ListenAddress != b.ListenAddress)
	check("Protocol", a.Protocol != b.Protocol)
	check("SpoolDir", a.SpoolDir != b.SpoolDir)
	check("Hostname", a.Hostname != b.Hostname)
	check("MaxMessageSize", a.MaxMessageSize != b.MaxMessageSize)
	check("MaxSessions", a.MaxSessions != b.MaxSessions)
	check("MaxRecipients", a.MaxRecipients != b.MaxRecipients)
	check("ReadTimeout", a.ReadTimeout != b.ReadTimeout)
	check("WriteTimeout", a.WriteTimeout != b.WriteTimeout)
	return keys
}

// shutdownGrace is how long SIGTERM waits for messages in flight before
// aborting them; an aborted message got no 250, so the MTA retries it.
const shutdownGrace = 30 * time.Second

func listenOn(network, addr string) (net.Listener, error) {
	if network == "unix" {
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("%s: another smtpscanner is listening", addr)
			}
			os.Remove(addr)
		}
		l, err := net.Listen("unix", addr)
		if err != nil {
			return nil, err
		}
		return l, os.Chmod(addr, 0o660)
	}
	return net.Listen(network, addr)
}

// logWriter picks where logs go: stderr, except in --stdio mode when stderr
// is the same pipe or socket as stdout (Exim's lmtp transport joins them),
// where a log line would be read as a protocol reply: then syslog (mail
// facility), or nowhere if syslog cannot be reached.
func logWriter(stdio bool) io.Writer {
	if !stdio {
		return os.Stderr
	}
	out, err1 := os.Stdout.Stat()
	errf, err2 := os.Stderr.Stat()
	if err1 != nil || err2 != nil || !os.SameFile(out, errf) {
		return os.Stderr
	}
	if w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "smtpscanner"); err == nil {
		return w
	}
	return io.Discard
}
