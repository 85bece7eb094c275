package testkit

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// Received is one message as a FakeMTA got it: the envelope and the DATA
// content byte for byte (after dot-unstuffing, as any MTA stores it).
type Received struct {
	From     string
	MailOpts smtp.MailOptions
	Rcpts    []string
	RcptOpts []smtp.RcptOptions
	Data     []byte
	XForward map[string]string // XFORWARD attributes given before MAIL
}

// FakeMTA is a downstream MTA for tests: a go-smtp server on a loopback
// TCP port or a unix socket that records what it accepts. Its behaviour
// hooks may be set before the first message and must not change while
// sessions run.
type FakeMTA struct {
	Addr    string // host:port or socket path
	Network string // "tcp" or "unix"

	// RcptErr, if set, gives the reply to RCPT TO (nil = 250).
	RcptErr func(to string) error
	// DataErr, if set, gives the reply after DATA for each recipient
	// (LMTP) or for the message (SMTP, rcpt = ""); nil = 250. A message
	// is recorded only if at least one recipient got nil.
	DataErr func(rcpt string) error
	// HangUp closes the connection in the middle of DATA.
	HangUp bool
	// Sink reads and drops the content and keeps only a count (Count):
	// a benchmark's transport ceiling.
	Sink bool

	srv      *smtp.Server
	l        net.Listener
	mu       sync.Mutex
	msgs     []Received
	count    int
	sessions int
}

// Sessions is the number of sessions (EHLO/LHLO) so far.
func (m *FakeMTA) Sessions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions
}

// Count is the number of messages accepted so far.
func (m *FakeMTA) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count
}

// StartMTA starts a FakeMTA speaking SMTP, or LMTP if lmtp, on a loopback
// TCP port (network "tcp") or a unix socket in a short temp dir ("unix").
// It stops at the end of the test.
func StartMTA(t testing.TB, network string, lmtp bool) *FakeMTA {
	t.Helper()
	return startMTA(t, network, lmtp, false)
}

// StartMTANoChunking is StartMTA for a server that does not announce
// CHUNKING, so clients send DATA.
func StartMTANoChunking(t testing.TB, network string, lmtp bool) *FakeMTA {
	t.Helper()
	return startMTA(t, network, lmtp, true)
}

func startMTA(t testing.TB, network string, lmtp, noChunking bool) *FakeMTA {
	t.Helper()
	m := &FakeMTA{Network: network}
	var l net.Listener
	var err error
	if network == "unix" {
		dir, derr := os.MkdirTemp("", "mta")
		if derr != nil {
			t.Fatal(derr)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		l, err = net.Listen("unix", filepath.Join(dir, "lmtp.sock"))
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	m.Addr, m.l = l.Addr().String(), l
	m.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		m.mu.Lock()
		m.sessions++
		m.mu.Unlock()
		return &mtaSession{m: m, c: c}, nil
	}))
	m.srv.LMTP = lmtp
	m.srv.Domain = "downstream.test"
	m.srv.MaxLineLength = 0
	m.srv.EnableSMTPUTF8 = true
	m.srv.EnableDSN = true
	m.srv.EnableXFORWARD = true
	m.srv.DisableCHUNKING = noChunking
	m.srv.ErrorLog = nopLogger{}
	go m.srv.Serve(l)
	t.Cleanup(func() { m.srv.Close() })
	return m
}

// Stop closes the listener and every session: later connections fail.
func (m *FakeMTA) Stop() {
	m.l.Close()
	m.srv.Close()
}

// Messages returns what was accepted so far.
func (m *FakeMTA) Messages() []Received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Received(nil), m.msgs...)
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type mtaSession struct {
	m    *FakeMTA
	c    *smtp.Conn
	cur  Received
	xfwd map[string]string
}

func (s *mtaSession) Reset() { s.cur, s.xfwd = Received{}, nil }

func (s *mtaSession) XForward(attrs map[string]string) error {
	if s.xfwd == nil {
		s.xfwd = map[string]string{}
	}
	for k, v := range attrs {
		s.xfwd[k] = v
	}
	return nil
}
func (s *mtaSession) Logout() error { return nil }
func (s *mtaSession) Mail(from string, opts *smtp.MailOptions) error {
	s.cur = Received{From: from, XForward: s.xfwd}
	if opts != nil {
		s.cur.MailOpts = *opts
	}
	return nil
}

func (s *mtaSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.m.RcptErr != nil {
		if err := s.m.RcptErr(to); err != nil {
			return err
		}
	}
	s.cur.Rcpts = append(s.cur.Rcpts, to)
	if opts != nil {
		s.cur.RcptOpts = append(s.cur.RcptOpts, *opts)
	} else {
		s.cur.RcptOpts = append(s.cur.RcptOpts, smtp.RcptOptions{})
	}
	return nil
}

func (s *mtaSession) read(r io.Reader) error {
	if s.m.HangUp {
		buf := make([]byte, 10)
		io.ReadFull(r, buf)
		s.c.Conn().Close()
		return errors.New("hung up")
	}
	if s.m.Sink {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = data
	return nil
}

func (s *mtaSession) Data(r io.Reader) error {
	if err := s.read(r); err != nil {
		return err
	}
	if s.m.DataErr != nil {
		if err := s.m.DataErr(""); err != nil {
			return err
		}
	}
	s.record(s.cur)
	return nil
}

func (s *mtaSession) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	if err := s.read(r); err != nil {
		return err
	}
	got := s.cur
	got.Rcpts, got.RcptOpts = nil, nil
	errs := make([]error, len(s.cur.Rcpts))
	for i, rc := range s.cur.Rcpts {
		if s.m.DataErr != nil {
			errs[i] = s.m.DataErr(rc)
		}
		if errs[i] == nil {
			got.Rcpts = append(got.Rcpts, rc)
			got.RcptOpts = append(got.RcptOpts, s.cur.RcptOpts[i])
		}
	}
	// Recorded before any reply leaves: SetStatus may send it at once,
	// and a client that saw 250 must find the message in Messages.
	if len(got.Rcpts) > 0 {
		s.record(got)
	}
	for i, rc := range s.cur.Rcpts {
		st.SetStatus(rc, errs[i])
	}
	return nil
}

func (s *mtaSession) record(r Received) {
	s.m.mu.Lock()
	s.m.count++
	if !s.m.Sink {
		s.m.msgs = append(s.m.msgs, r)
	}
	s.m.mu.Unlock()
}

// Reset forgets the messages accepted so far.
func (m *FakeMTA) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs, m.count = nil, 0
}
