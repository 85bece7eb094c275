// Command qmail-queue is AVE's drop-in replacement of qmail's qmail-queue:
// qmail-smtpd, qmail-inject and the rest hand it a message on fd 0 and its
// envelope on fd 1 (qmail-queue(8)); it has aveserver scan the message,
// applies the mail policy of smtpscanner's [smtpscan.group:*] sections and
// hands what may pass to the real qmail-queue, renamed ([qmail.general]
// OriginalQueue). It exits 0 only once that one exited 0 (or the policy
// dropped the message on purpose); a virus rejected by the policy exits 31
// (the caller bounces or answers 554), every failure 71 or another
// temporary status, so the caller keeps the message and retries.
//
//	qmail-queue      (no arguments; the configuration is $AVE_CONFIG, else /etc/ave/ave.conf if it exists)
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"ave/internal/mailstack"
	"ave/pkg/config"
	"ave/pkg/mailflow"
)

// Exit statuses of qmail-queue(8) used here.
const (
	exitOK        = 0
	exitRefused   = 31 // permanent: the message is refused for good
	exitWrite     = 53 // temporary: cannot write (the spool)
	exitRead      = 54 // temporary: cannot read the message or envelope
	exitConfig    = 55 // temporary: cannot read the configuration
	exitTemporary = 71 // temporary: refused for now (scanner down, downstream 4xx)
	exitBug       = 81 // temporary: internal error
	exitEnvelope  = 91 // the envelope is not in qmail-queue's format
)

// maxEnvelope bounds the envelope read from fd 1.
const maxEnvelope = 16 << 20

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("prog", "qmail-queue")
	os.Exit(run(os.Stdin, os.NewFile(1, "envelope"), log))
}

// trusted is the part of the environment qmail-queue may follow: the
// configuration file and the directory of a private spool. Installed
// set-user-ID (the README's recipe: any local user injects mail, the
// program runs as "ave"), it follows neither: a user's AVE_CONFIG could
// name an OriginalQueue of theirs to run as ave.
func trusted(getenv func(string) string, setuid bool) (configFile, tmpDir string) {
	if setuid {
		return "", "/tmp"
	}
	return getenv("AVE_CONFIG"), getenv("TMPDIR")
}

func run(message io.Reader, envelope io.Reader, log *slog.Logger) int {
	file, tmp := trusted(os.Getenv, os.Geteuid() != os.Getuid() || os.Getegid() != os.Getgid())
	if file == "" {
		if _, err := os.Stat(config.DefaultConfigFile); err == nil {
			file = config.DefaultConfigFile
		}
	}
	cfg, q, mp, err := loadConfig(file)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		return exitConfig
	}

	dir := q.SpoolDir
	if dir == "" {
		// Each run its own: qmail-queue runs as whoever injects mail.
		if dir, err = os.MkdirTemp(tmp, "ave-qmail-queue-"); err != nil {
			log.Error("spool", "error", err.Error())
			return exitWrite
		}
		defer os.RemoveAll(dir)
	}
	sp, err := mailflow.OpenSpool(dir)
	if err != nil {
		log.Error("spool", "dir", dir, "error", err.Error())
		return exitWrite
	}
	defer sp.Close()
	msg, err := sp.Create()
	if err != nil {
		log.Error("spool", "dir", dir, "error", err.Error())
		return exitWrite
	}
	defer msg.Remove()
	if _, err := msg.ReadFrom(message); err != nil {
		log.Error("reading the message", "error", err.Error())
		if errors.Is(err, mailflow.ErrSpool) {
			return exitWrite
		}
		return exitRead
	}
	env, err := readEnvelope(envelope)
	if err != nil {
		log.Error("envelope", "queue_id", msg.ID, "error", err.Error())
		var fe formatError
		if errors.As(err, &fe) {
			return exitEnvelope
		}
		return exitRead
	}

	st, err := mailstack.New(cfg, mp, log, false)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		return exitConfig
	}
	defer st.Close()
	out := st.Flow.Process(context.Background(), env, msg)
	log.LogAttrs(context.Background(), slog.LevelInfo, "message", out.LogAttrs()...)
	return exitStatus(mailflow.Combine(out.Replies))
}

// loadConfig reads [qmail.general], smtpscanner's shared settings and the
// mail policy, and points the forwarder at the original qmail-queue.
func loadConfig(file string) (config.SMTPScan, config.Qmail, config.MailPolicy, error) {
	cfg, err1 := config.LoadSMTPScan(file)
	q, err2 := config.LoadQmail(file)
	mp, err3 := config.LoadMailPolicy(file)
	if err := errors.Join(err1, err2, err3); err != nil {
		return cfg, q, mp, err
	}
	if err := cfg.Complete(file); err != nil {
		return cfg, q, mp, err
	}
	cfg.ForwardMailer = config.Mailer{Protocol: "qmail", Network: "exec", Argv: []string{q.OriginalQueue}}
	cfg.ScannedHeader = q.ScannedHeader
	cfg.MaxCheckTime = q.MaxCheckTime
	cfg.ForwardTimeout = q.ForwardTimeout
	return cfg, q, mp, nil
}

// exitStatus turns the message's combined reply into qmail-queue's exit.
func exitStatus(r mailflow.Reply) int {
	switch {
	case r.OK():
		return exitOK
	case r.Class() == 5:
		return exitRefused
	case r.Temporary():
		return exitTemporary
	}
	return exitBug
}

// formatError is an envelope that is not "F" sender NUL, one or more
// "T" recipient NUL, NUL.
type formatError struct{ msg string }

func (e formatError) Error() string { return "envelope format: " + e.msg }

// readEnvelope reads qmail-queue's envelope: "F" sender NUL, then "T"
// recipient NUL for each recipient, then a NUL; what follows is ignored.
func readEnvelope(r io.Reader) (*mailflow.Envelope, error) {
	br := bufio.NewReader(io.LimitReader(r, maxEnvelope))
	field := func() (string, error) {
		s, err := br.ReadString(0)
		if err == io.EOF {
			return "", formatError{"ends before its closing NUL"}
		}
		if err != nil {
			return "", fmt.Errorf("reading the envelope: %w", err)
		}
		return strings.TrimSuffix(s, "\x00"), nil
	}
	f, err := field()
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(f, "F") {
		return nil, formatError{fmt.Sprintf("starts with %q, not F", first(f))}
	}
	env := &mailflow.Envelope{From: f[1:]}
	for {
		t, err := field()
		if err != nil {
			return nil, err
		}
		if t == "" {
			break
		}
		if !strings.HasPrefix(t, "T") {
			return nil, formatError{fmt.Sprintf("recipient field starts with %q, not T", first(t))}
		}
		env.Rcpts = append(env.Rcpts, mailflow.Recipient{Addr: t[1:]})
	}
	if len(env.Rcpts) == 0 {
		return nil, formatError{"no recipient"}
	}
	if strings.ContainsAny(env.From, "\r\n") {
		return nil, formatError{"line break in the sender"}
	}
	for _, r := range env.Rcpts {
		if strings.ContainsAny(r.Addr, "\r\n") {
			return nil, formatError{"line break in a recipient"}
		}
	}
	return env, nil
}

func first(s string) string {
	if s == "" {
		return ""
	}
	return s[:1]
}
