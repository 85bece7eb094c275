package mailer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"ave/internal/headbuf"
	"ave/pkg/mailflow"
)

// forwardQmail hands the message to a qmail-queue program (qmail:(path)):
// the message on its standard input with lines ending in LF, as qmail
// keeps mail, then the envelope on its file descriptor 1: "F" sender NUL,
// "T" recipient NUL for each, and a closing NUL (qmail-queue(8)). Its exit
// status is the outcome for every recipient: 0 queued, 11-40 permanent,
// anything else temporary. DSN parameters and XFORWARD attributes have no
// place in that interface and are not passed.
//
// The program queues the message only once it has read both to their end,
// so a message that cannot be read whole (its spool file failed) or a
// time-out kills it before either is complete: nothing is queued.
func (m *Mailer) forwardQmail(ctx context.Context, env *mailflow.Envelope, open func() io.Reader) []mailflow.Reply {
	ctx, cancel := m.bounded(ctx)
	defer cancel()
	all := func(r mailflow.Reply) []mailflow.Reply {
		out := make([]mailflow.Reply, len(env.Rcpts))
		fill(out, 0, r)
		return out
	}
	envelope, err := qmailEnvelope(env)
	if err != nil {
		return all(mailflow.Reply{Code: 554, Enhanced: "5.1.3", Text: err.Error(), Local: true})
	}
	argv := m.Dest.Argv
	cmd := exec.Command(argv[0], argv[1:]...)
	envR, envW, err := os.Pipe()
	if err != nil {
		return all(brokenReply(err))
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		envR.Close()
		envW.Close()
		return all(brokenReply(err))
	}
	cmd.Stdout = envR // the program reads its envelope from fd 1
	var stderr headbuf.Buffer
	cmd.Stderr = &stderr
	// Its own process group, killed whole: a wrapper script's children
	// (which may hold the message pipe) die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child left behind may hold stderr open: Wait does not wait for
	// it longer than this.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		stdin.Close()
		envR.Close()
		envW.Close()
		return all(brokenReply(fmt.Errorf("starting %s: %w", argv[0], err)))
	}
	envR.Close()
	kill := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stop := context.AfterFunc(ctx, func() {
		kill()
		// A helper that left the group (setsid) may still hold the
		// pipes: closing our ends ends a write blocked on them.
		stdin.Close()
		envW.Close()
	})
	defer stop()

	// The message, then the envelope; a failure of either kills the
	// program before it has both (before the end of the message reaches
	// it: the pipe is closed only after the kill).
	_, werr := io.Copy(stdin, newLFReader(open()))
	if werr == nil {
		werr = stdin.Close()
	}
	if werr == nil {
		_, werr = envW.Write(envelope)
	}
	if werr != nil {
		kill()
	}
	stdin.Close()
	envW.Close()
	err = cmd.Wait()
	// Its exit status decides, whatever else Wait reports (ErrWaitDelay:
	// a child of a wrapper kept stderr open after it exited).
	exited0 := cmd.ProcessState != nil && cmd.ProcessState.Success()
	switch {
	case werr == nil && exited0:
		return all(mailflow.Reply{Code: 250, Enhanced: "2.0.0", Text: "queued by qmail-queue"})
	case werr != nil && exited0:
		// It exited 0 although the message or envelope was not complete:
		// it cannot have queued it (it needs both), but say so.
		return all(mailflow.TempFail("4.3.0", "qmail-queue exited before the message was complete: %v", werr))
	case ctx.Err() != nil:
		return all(mailflow.TempFail("4.4.7", "qmail-queue did not finish in time"))
	case werr != nil:
		return all(brokenReply(werr))
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return all(brokenReply(err))
	}
	code := ee.ExitCode()
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return all(mailflow.TempFail("4.3.0", "qmail-queue killed by signal %d", ws.Signal()))
	}
	r := qmailReply(code)
	if s := firstLine(stderr.String()); s != "" {
		r.Text += ": " + s
	}
	return all(r)
}

// qmailEnvelope renders env as qmail-queue's envelope. Addresses cannot
// hold NUL (the separator) nor, in qmail, line breaks.
func qmailEnvelope(env *mailflow.Envelope) ([]byte, error) {
	var b bytes.Buffer
	add := func(kind byte, addr string) error {
		if strings.ContainsAny(addr, "\x00\r\n") {
			return fmt.Errorf("address %q cannot be given to qmail-queue", addr)
		}
		b.WriteByte(kind)
		b.WriteString(addr)
		b.WriteByte(0)
		return nil
	}
	if err := add('F', env.From); err != nil {
		return nil, err
	}
	for _, r := range env.Rcpts {
		if err := add('T', r.Addr); err != nil {
			return nil, err
		}
	}
	b.WriteByte(0)
	return b.Bytes(), nil
}

// qmailReply turns a qmail-queue exit status (not 0) into a reply: the
// statuses qmail-queue(8) lists, then its rule for the others (11-40
// permanent, the rest temporary).
func qmailReply(code int) mailflow.Reply {
	perm := func(enh, text string) mailflow.Reply {
		return mailflow.Reply{Code: 554, Enhanced: enh, Text: text, Local: true}
	}
	text := fmt.Sprintf("qmail-queue exit %d", code)
	switch code {
	case 11:
		return perm("5.1.3", text+": envelope address too long")
	case 31:
		return perm("5.3.0", text+": message refused for good")
	case 51:
		return mailflow.TempFail("4.3.0", "%s", text+": out of memory")
	case 52:
		return mailflow.TempFail("4.3.0", "%s", text+": timed out")
	case 53:
		return mailflow.TempFail("4.3.0", "%s", text+": write error (queue disk full?)")
	case 54:
		return mailflow.TempFail("4.3.0", "%s", text+": cannot read the message or envelope")
	case 55:
		return mailflow.TempFail("4.3.0", "%s", text+": cannot read its configuration")
	case 61, 62, 63, 64, 65:
		return mailflow.TempFail("4.3.0", "%s", text+": trouble with the queue directory")
	case 81:
		return mailflow.TempFail("4.3.0", "%s", text+": internal bug")
	case 91:
		return mailflow.TempFail("4.3.0", "%s", text+": envelope format error")
	}
	if code >= 11 && code <= 40 {
		return perm("5.3.0", text+": permanent failure")
	}
	return mailflow.TempFail("4.3.0", "%s", text+": temporary failure")
}

// lfReader turns CRLF line ends into LF (qmail's queue format); a bare CR
// stays. A CR that ends one read is held until the next byte shows what
// it is.
type lfReader struct {
	r     *bufio.Reader
	heldR bool
}

func newLFReader(r io.Reader) *lfReader { return &lfReader{r: bufio.NewReaderSize(r, 64<<10)} }

func (l *lfReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.heldR {
		l.heldR = false
		if b, err := l.r.Peek(1); err == nil && b[0] == '\n' {
			l.r.Discard(1)
			p[0] = '\n'
			return 1, nil
		}
		p[0] = '\r'
		return 1, nil
	}
	for {
		n, err := l.r.Read(p)
		out := 0
		for i := 0; i < n; i++ {
			if p[i] == '\r' && i+1 < n && p[i+1] == '\n' {
				continue
			}
			p[out] = p[i]
			out++
		}
		if out > 0 && p[n-1] == '\r' && err == nil {
			out--
			l.heldR = true
		}
		if out > 0 || err != nil || l.heldR {
			return out, err
		}
	}
}

// firstLine is the first non-empty line of a child's output, on one
// printable line of at most 200 bytes.
func firstLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			l = mailflow.Sanitize(l)
			if len(l) > 200 {
				l = strings.ToValidUTF8(l[:200], "")
			}
			return l
		}
	}
	return ""
}
