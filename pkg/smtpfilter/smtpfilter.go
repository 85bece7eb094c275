// Package smtpfilter is smtpscanner's receiving side: a go-smtp backend
// that speaks SMTP (RFC 5321) or LMTP (RFC 2033) to the MTA on a socket,
// or one session on standard input/output, and hands every message to a
// mailflow.Flow. It turns the flow's per-recipient Replies into SMTP
// replies: one per recipient after DATA in LMTP, their mailflow.Combine in
// SMTP. It owns the session limit (421 when exceeded). It is not the
// policy and not the forwarder.
package smtpfilter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"ave/pkg/mailflow"
)

// Options configure a Server. Flow and Spool are required; zero limits
// mean "none" except where noted.
type Options struct {
	Flow          *mailflow.Flow
	Spool         *mailflow.Spool
	LMTP          bool          // speak LMTP instead of SMTP
	Domain        string        // name in the greeting ("" = "localhost")
	MaxMessage    int64         // SIZE advertised and enforced (0 = no limit)
	MaxRecipients int           // per message (0 = no limit)
	MaxSessions   int           // concurrent sessions on Serve; more get 421 (0 = no limit)
	ReadTimeout   time.Duration // one command or one whole DATA transfer (0 = 10 minutes)
	WriteTimeout  time.Duration // one reply (0 = 1 minute)
	Log           *slog.Logger  // nil = slog.Default()
}

// Server serves the MTA. Safe for concurrent use; Serve may be called on
// several listeners.
type Server struct {
	opt      Options
	srv      *smtp.Server
	gen      atomic.Pointer[generation] // the Flow new messages get (SetFlow)
	ctx      context.Context            // cancelled by Close: aborts scans and forwards in flight
	cancel   context.CancelFunc
	sessions atomic.Int64
	seq      atomic.Uint64
	inflight atomic.Int64 // messages between DATA and their reply
	// removing counts spool files being emptied after their reply
	// (session.process); Shutdown, Close and ServeStdio wait for them.
	removing atomic.Int64

	mu    sync.Mutex
	conns map[*countedConn]struct{} // sessions of Serve, closed by Shutdown
}

// New returns a Server.
func New(opt Options) *Server {
	if opt.Domain == "" {
		opt.Domain = "localhost"
	}
	if opt.ReadTimeout <= 0 {
		opt.ReadTimeout = 10 * time.Minute
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = time.Minute
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	// A message held in memory (up to 4 MiB) is scanned while its spool
	// file is written and synced; it is forwarded only once synced
	// (its reader withholds the last bytes until then), and process
	// waits for the sync before it replies.
	opt.Spool.SetSyncBehind(true)
	s := &Server{opt: opt, conns: map[*countedConn]struct{}{}}
	s.gen.Store(&generation{flow: opt.Flow})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.LMTP = opt.LMTP
	srv.Domain = opt.Domain
	srv.MaxMessageBytes = opt.MaxMessage
	srv.MaxRecipients = opt.MaxRecipients
	// DATA lines are unlimited: the filter must pass any message the
	// MTA accepted (go-smtp's default 2000 applies inside DATA too).
	srv.MaxLineLength = 0
	// DATA is taken in large reads (go-smtp's default buffer is 4 KiB).
	srv.ReadBufferSize = 64 << 10
	// go-smtp sets the read deadline before each command line only, so
	// the whole DATA transfer has to fit in one ReadTimeout.
	srv.ReadTimeout = opt.ReadTimeout
	srv.WriteTimeout = opt.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	// Postfix sends the original client's attributes (XFORWARD_README);
	// they are passed on to a downstream that announces XFORWARD.
	srv.EnableXFORWARD = true
	srv.ErrorLog = slogLogger{opt.Log}
	s.srv = srv
	return s
}

// generation is one Flow and the messages processing with it: each holds
// a read lock from its DATA to its reply.
type generation struct {
	flow    *mailflow.Flow
	mu      sync.RWMutex
	retired bool // set under mu's write lock once no message uses flow
}

// acquire returns the current generation, read-locked; the caller unlocks
// it when its message is answered.
func (s *Server) acquire() *generation {
	for {
		g := s.gen.Load()
		g.mu.RLock()
		if !g.retired {
			return g
		}
		// Replaced (SetFlow) between the load and the lock, and drained
		// since: the new one is in place.
		g.mu.RUnlock()
	}
}

// SetFlow makes f the Flow of every message received from now on
// (a configuration reload); messages already in flight finish with the
// Flow they started with. The returned channel is closed once none of
// them is left, when what the old Flow uses (its scanner connection,
// forwarder, policy) may be closed.
func (s *Server) SetFlow(f *mailflow.Flow) <-chan struct{} {
	old := s.gen.Swap(&generation{flow: f})
	done := make(chan struct{})
	go func() {
		old.mu.Lock() // waits for the messages that hold it
		old.retired = true
		old.mu.Unlock()
		close(done)
	}()
	return done
}

// Serve accepts sessions on l until Close. Past MaxSessions a new
// connection gets "421 4.3.2" and is closed.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(&limitListener{Listener: l, s: s})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Close stops listening, closes sessions and aborts messages in flight
// (their MTA gets no 250, so keeps them).
func (s *Server) Close() error {
	s.cancel()
	err := s.srv.Close()
	s.waitRemovals()
	return err
}

// waitRemovals waits (up to 5 s) until the spool files of answered
// messages are emptied: a file left with its message would be reported
// as a leftover at the next start.
func (s *Server) waitRemovals() {
	for i := 0; i < 2500 && s.removing.Load() > 0; i++ {
		time.Sleep(2 * time.Millisecond)
	}
}

// Shutdown stops listening, lets the messages in flight finish (until
// ctx ends), then aborts what is left and closes every session. An
// aborted message got no 250, so its MTA keeps it and retries.
func (s *Server) Shutdown(ctx context.Context) error {
	stop, cancel := context.WithCancel(context.Background())
	go s.srv.Shutdown(stop) // closes the listeners at once
	defer cancel()
	var err error
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.inflight.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-tick.C:
		}
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Conn.Close()
	}
	s.mu.Unlock()
	s.waitRemovals()
	return err
}

type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) {
	l.l.Warn("smtp server", "detail", fmt.Sprintf(format, v...))
}

func (l slogLogger) Println(v ...any) {
	l.l.Warn("smtp server", "detail", strings.TrimSpace(fmt.Sprintln(v...)))
}

// limitListener answers 421 past MaxSessions.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		max := int64(l.s.opt.MaxSessions)
		if n := l.s.sessions.Add(1); max > 0 && n > max {
			l.s.sessions.Add(-1)
			l.s.opt.Log.Warn("session limit reached", "remote", c.RemoteAddr().String(), "max", max)
			go func() {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "421 4.3.2 "+l.s.opt.Domain+" too many sessions, try again later\r\n")
				c.Close()
			}()
			continue
		}
		cc := &countedConn{Conn: c, s: l.s}
		l.s.mu.Lock()
		l.s.conns[cc] = struct{}{}
		l.s.mu.Unlock()
		return cc, nil
	}
}

type countedConn struct {
	net.Conn
	s    *Server
	done atomic.Bool
}

func (c *countedConn) Close() error {
	if c.done.CompareAndSwap(false, true) {
		c.s.sessions.Add(-1)
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	}
	return c.Conn.Close()
}

// newSession is called by go-smtp at EHLO/LHLO/HELO.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	id := strconv.FormatUint(s.seq.Add(1), 10)
	remote := ""
	if c.Conn() != nil && c.Conn().RemoteAddr() != nil {
		remote = c.Conn().RemoteAddr().String()
	}
	return &session{s: s, log: s.opt.Log.With("session", id, "remote", remote, "helo", c.Hostname())}, nil
}

// session is one SMTP/LMTP session. go-smtp calls it from the
// connection's goroutine, except Data/LMTPData for BDAT, which run in a
// goroutine of their own while the connection may go on to RSET: the
// transaction's state is under mu, and a message works on its copy.
type session struct {
	s    *Server
	log  *slog.Logger
	mu   sync.Mutex
	env  mailflow.Envelope
	xfwd map[string]string // XFORWARD attributes for the next transaction
}

func (ss *session) Reset() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.env, ss.xfwd = mailflow.Envelope{}, nil
}

// envelope returns a copy of the transaction's envelope.
func (ss *session) envelope() mailflow.Envelope {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	env := ss.env
	env.Rcpts = slices.Clone(env.Rcpts)
	return env
}

// XForward collects Postfix XFORWARD attributes (several commands may
// each carry some) until the transaction ends.
func (ss *session) XForward(attrs map[string]string) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.xfwd == nil {
		ss.xfwd = map[string]string{}
	}
	for k, v := range attrs {
		ss.xfwd[k] = v
	}
	return nil
}
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.env = mailflow.Envelope{From: from, XForward: ss.xfwd, PerRecipientReplies: ss.s.opt.LMTP}
	if opts != nil {
		if opts.Body == smtp.Body8BitMIME {
			ss.env.Body = "8BITMIME"
		}
		ss.env.UTF8 = opts.UTF8
		ss.env.Ret = string(opts.Return)
		ss.env.EnvID = opts.EnvelopeID
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	r := mailflow.Recipient{Addr: to}
	if opts != nil {
		for _, n := range opts.Notify {
			r.Notify = append(r.Notify, string(n))
		}
		if opts.OriginalRecipient != "" {
			r.ORcptType = strings.ToLower(string(opts.OriginalRecipientType))
			r.ORcpt = opts.OriginalRecipient
		}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.env.Rcpts = append(ss.env.Rcpts, r)
	return nil
}

// Data handles SMTP DATA: one reply for every recipient.
func (ss *session) Data(r io.Reader) error {
	replies, _ := ss.process(ss.envelope(), r)
	return toError(mailflow.Combine(replies))
}

// LMTPData handles LMTP DATA: one reply per recipient (RFC 2033 4.2).
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	env := ss.envelope()
	replies, recvErr := ss.process(env, r)
	if errors.Is(recvErr, smtp.ErrDataReset) {
		// The client aborted the transfer (RSET during BDAT): nobody
		// waits for these replies, and a copy of the envelope taken
		// after the reset may not be this transaction's.
		return smtp.ErrDataReset
	}
	for i, rc := range env.Rcpts {
		rep := replies[i]
		if rep.Stray() {
			// A stray code from downstream: retried, as Combine does
			// for SMTP, not passed on as a reply the MTA cannot read.
			rep = mailflow.TempFail("4.3.0", "unexpected reply %s", rep)
		}
		status.SetStatus(rc.Addr, toError(rep))
	}
	return nil
}

// process spools, scans, decides and forwards one message and returns
// one reply per recipient, and the error that cut the message's reception
// short, if one did. The spool file is gone when it returns.
func (ss *session) process(env mailflow.Envelope, r io.Reader) ([]mailflow.Reply, error) {
	ss.s.inflight.Add(1)
	defer ss.s.inflight.Add(-1)
	all := func(rep mailflow.Reply) []mailflow.Reply {
		out := make([]mailflow.Reply, len(env.Rcpts))
		for i := range out {
			out[i] = rep
		}
		return out
	}
	msg, err := ss.s.opt.Spool.Create()
	if err != nil {
		ss.log.Error("spool", "from", env.From, "rcpts", strings.Join(env.Addrs(), ","), "error", err.Error(), "action", "defer")
		return all(mailflow.TempFail("4.3.0", "cannot spool the message, try again later")), nil
	}
	// The outcome is final once process returns: the spool file is
	// emptied while the reply goes out, not before it (its ftruncate
	// costs about 0.1 ms on ext4).
	ss.s.removing.Add(1)
	defer func() {
		go func() {
			defer ss.s.removing.Add(-1)
			if err := msg.Remove(); err != nil {
				ss.log.Error("spool remove", "queue_id", msg.ID, "error", err.Error())
			}
		}()
	}()
	if _, err := msg.ReadFrom(r); err != nil {
		var se *smtp.SMTPError
		rep := mailflow.TempFail("4.4.2", "message not received completely")
		switch {
		case errors.Is(err, smtp.ErrDataReset):
			rep = mailflow.TempFail("4.4.2", "message transfer aborted")
		case errors.As(err, &se):
			rep = mailflow.Reply{Code: se.Code, Enhanced: enhanced(se.EnhancedCode), Text: se.Message, Local: true}
		case errors.Is(err, mailflow.ErrSpool):
			rep = mailflow.TempFail("4.3.0", "cannot spool the message, try again later")
		}
		ss.log.Error("receive", "queue_id", msg.ID, "client", env.XForward["ADDR"], "from", env.From, "rcpts", strings.Join(env.Addrs(), ","),
			"size", msg.Size(), "error", err.Error(), "reply", rep.String())
		return all(rep), err
	}
	g := ss.s.acquire()
	defer g.mu.RUnlock()
	out := g.flow.Process(ss.s.ctx, &env, msg)
	if err := msg.Synced(); err != nil {
		// The spool file is written and synced while the message is
		// scanned (Spool.SetSyncBehind): no reply before it is durable.
		// Process checks it too once it forwarded; this covers its
		// early returns (scan or policy failure), whose replies are
		// 451s already. Nothing reached the downstream: the forwarder's
		// reader gave this error instead of the message's last bytes.
		rep := mailflow.TempFail("4.3.0", "cannot spool the message, try again later")
		ss.log.Error("spool", "queue_id", msg.ID, "client", env.XForward["ADDR"], "from", env.From, "rcpts", strings.Join(env.Addrs(), ","),
			"size", msg.Size(), "error", err.Error(), "reply", rep.String())
		return all(rep), nil
	}
	if !ss.s.opt.LMTP {
		// One reply for the message: recipients refused beside
		// delivered ones are told to the sender by a DSN instead.
		g.flow.SettleRefused(ss.s.ctx, out, msg)
	}
	level := slog.LevelInfo
	if out.ScanErr != nil {
		level = slog.LevelWarn
	}
	ss.log.LogAttrs(ss.s.ctx, level, "message", out.LogAttrs()...)
	return out.Replies, nil
}

func enhanced(c smtp.EnhancedCode) string {
	if c == smtp.NoEnhancedCode || c == smtp.EnhancedCodeNotSet {
		return ""
	}
	return strconv.Itoa(c[0]) + "." + strconv.Itoa(c[1]) + "." + strconv.Itoa(c[2])
}

// toError renders a Reply for go-smtp: an *smtp.SMTPError for every code,
// 250 included, so the downstream's own text ("queued as ...") reaches
// the MTA's log.
func toError(r mailflow.Reply) error {
	ec := smtp.EnhancedCodeNotSet
	if parts := strings.Split(r.Enhanced, "."); len(parts) == 3 {
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil {
				ec = smtp.EnhancedCodeNotSet
				break
			}
			ec[i] = n
		}
	}
	text := r.Text
	if text == "" {
		text = "OK"
	}
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: ec, Message: text}
}
