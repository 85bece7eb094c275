package smtpfilter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"ave/internal/testkit"
	"ave/pkg/config"
	"ave/pkg/mailer"
	"ave/pkg/mailflow"
	"ave/pkg/verdict"
)

// patternScanner finds EICAR by substring: these tests are about the
// protocol; the real aveserver is driven by cmd/smtpscanner's tests.
type patternScanner struct{ err error }

func (s patternScanner) Scan(ctx context.Context, name string, size int64, r io.Reader) (*verdict.Result, error) {
	if s.err != nil {
		return nil, s.err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	res := &verdict.Result{}
	if bytes.Contains(b, []byte(testkit.EICAR)) {
		res.Add(verdict.Detection{Status: verdict.Infected, Name: "EICAR-Test-File"})
	}
	return res, nil
}

type rig struct {
	srv   *Server
	addr  string
	mta   *testkit.FakeMTA
	spool string
}

func newRig(t testing.TB, lmtpIn, lmtpOut bool, opt Options, sc mailflow.Scanner) *rig {
	t.Helper()
	mta := testkit.StartMTA(t, "tcp", lmtpOut)
	proto := map[bool]string{false: "smtp", true: "lmtp"}[lmtpOut]
	spoolDir := t.TempDir()
	sp, err := mailflow.OpenSpool(spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	flow, err := mailflow.New(mailflow.Options{
		Scanner:   sc,
		Forwarder: &mailer.Mailer{Dest: config.Mailer{Protocol: proto, Network: "tcp", Address: mta.Addr}, Hostname: "scanner.test"},
		Policy: mailflow.BasicPolicy{Actions: map[verdict.Status]mailflow.BasicAction{verdict.Infected: mailflow.ActReject},
			ScannedHeader: "X-Virus-Scanned: AVE"},
		MaxCheckTime: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	opt.Flow, opt.Spool, opt.LMTP, opt.Domain = flow, sp, lmtpIn, "scanner.test"
	opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := New(opt)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &rig{srv: srv, addr: l.Addr().String(), mta: mta, spool: spoolDir}
}

// assertSpoolEmpty: no spool file holds a message (freed files are kept
// open for reuse, mailflow.Spool) within 2 s: a file is freed just after
// its message's reply.
func (r *rig) assertSpoolEmpty(t testing.TB) {
	t.Helper()
	var held []mailflow.Leftover
	for try := 0; try < 200; try++ {
		var err error
		if held, err = mailflow.Held(r.spool); err == nil && len(held) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("spool not empty: %v", held)
}

func sendSMTP(t *testing.T, addr string, opts *smtp.MailOptions, rcpts []string, body string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.org", opts); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	return w.Close()
}

// Shapes go-smtp's client sends unchanged (it turns bare LF into CRLF).
var cleanShapes = map[string]string{
	"8-bit":         "Subject: 8bit\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe \xe2\x82\xac\r\n",
	"smtputf8":      "From: j\u00f6rg@b\u00fccher.example\r\nSubject: \u00fcml\u00e4ut\r\n\r\n\u65e5\u672c\u8a9e\r\n",
	"long lines":    "Subject: long\r\n\r\n" + strings.Repeat("0123456789", 1000) + "\r\n" + strings.Repeat("y", 2001) + "\r\n",
	"dot-stuffing":  "Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n...three\r\n",
	"binary attach": string(testkit.Mail("blob.bin", []byte("\x00\x01\x02\xff\xfe binary\x00"))),
}

func TestCleanMailOfEveryShapeArrivesIdenticalButForTheAddedHeader(t *testing.T) {
	r := newRig(t, false, false, Options{}, patternScanner{})
	for name, body := range cleanShapes {
		t.Run(name, func(t *testing.T) {
			n := len(r.mta.Messages())
			opts := &smtp.MailOptions{Body: smtp.Body8BitMIME, UTF8: name == "smtputf8"}
			if err := sendSMTP(t, r.addr, opts, []string{"rcpt@example.net"}, body); err != nil {
				t.Fatal(err)
			}
			got := r.mta.Messages()[n]
			if want := "X-Virus-Scanned: AVE\r\n" + body; string(got.Data) != want {
				t.Fatalf("body differs:\n got %q\nwant %q", got.Data, want)
			}
			if got.MailOpts.UTF8 != opts.UTF8 {
				t.Fatalf("SMTPUTF8 not passed on: %+v", got.MailOpts)
			}
		})
	}
	t.Run("no trailing newline", func(t *testing.T) {
		n := len(r.mta.Messages())
		if err := sendSMTP(t, r.addr, nil, []string{"rcpt@example.net"}, "Subject: x\r\n\r\nno newline"); err != nil {
			t.Fatal(err)
		}
		if got := string(r.mta.Messages()[n].Data); got != "X-Virus-Scanned: AVE\r\nSubject: x\r\n\r\nno newline\r\n" {
			t.Fatalf("got %q", got)
		}
	})
	r.assertSpoolEmpty(t)
}

func TestEICARIsRejectedWithItsName(t *testing.T) {
	r := newRig(t, false, false, Options{}, patternScanner{})
	err := sendSMTP(t, r.addr, nil, []string{"rcpt@example.net"}, "Subject: eicar\r\n\r\n"+testkit.EICAR+"\r\n")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "EICAR-Test-File") {
		t.Fatalf("got %v", err)
	}
	if len(r.mta.Messages()) != 0 {
		t.Fatal("infected mail forwarded")
	}
	r.assertSpoolEmpty(t)
}

func TestFailuresGiveTemporaryReplies(t *testing.T) {
	t.Run("scanner down", func(t *testing.T) {
		r := newRig(t, false, false, Options{}, patternScanner{err: errors.New("unavailable")})
		err := sendSMTP(t, r.addr, nil, []string{"a@example.net"}, "Subject: x\r\n\r\nx\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode[0] != 4 {
			t.Fatalf("got %v", err)
		}
		r.assertSpoolEmpty(t)
	})
	t.Run("downstream 4xx", func(t *testing.T) {
		r := newRig(t, false, false, Options{}, patternScanner{})
		r.mta.DataErr = func(string) error {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}
		}
		err := sendSMTP(t, r.addr, nil, []string{"a@example.net"}, "Subject: x\r\n\r\nx\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code/100 != 4 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("downstream 5xx passed back", func(t *testing.T) {
		r := newRig(t, false, false, Options{}, patternScanner{})
		r.mta.DataErr = func(string) error {
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "too big here"}
		}
		err := sendSMTP(t, r.addr, nil, []string{"a@example.net"}, "Subject: x\r\n\r\nx\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 552 || se.Message != "too big here" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("spool unwritable", func(t *testing.T) {
		r := newRig(t, false, false, Options{}, patternScanner{})
		os.RemoveAll(r.spool)
		os.WriteFile(r.spool, nil, 0o600)
		t.Cleanup(func() { os.Remove(r.spool) })
		err := sendSMTP(t, r.addr, nil, []string{"a@example.net"}, "Subject: x\r\n\r\nx\r\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 451 {
			t.Fatalf("got %v", err)
		}
		if len(r.mta.Messages()) != 0 {
			t.Fatal("forwarded without spooling")
		}
	})
}

func TestLMTPGivesOneReplyPerRecipient(t *testing.T) {
	r := newRig(t, true, true, Options{}, patternScanner{})
	r.mta.DataErr = func(rcpt string) error {
		if rcpt == "full@example.net" {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}
	resp, err := sendLMTP(t, r.addr, "ok@example.net", "full@example.net")
	var le smtp.LMTPDataError
	if !errors.As(err, &le) {
		t.Fatalf("want per-recipient errors, got %v", err)
	}
	if e := le["full@example.net"]; e == nil || e.Code != 452 {
		t.Fatalf("full@: %+v", le)
	}
	if resp["ok@example.net"] == nil {
		t.Fatalf("ok@ not accepted: %+v %v", resp, err)
	}
	if msgs := r.mta.Messages(); len(msgs) != 1 || strings.Join(msgs[0].Rcpts, ",") != "ok@example.net" {
		t.Fatalf("delivered %+v", msgs)
	}
}

func TestSessionsPastTheLimitGet421(t *testing.T) {
	r := newRig(t, false, false, Options{MaxSessions: 1}, patternScanner{})
	first, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if l, _ := bufio.NewReader(first).ReadString('\n'); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("first greeting %q", l)
	}
	second, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, _ := bufio.NewReader(second).ReadString('\n'); !strings.HasPrefix(l, "421 4.3.2 ") {
		t.Fatalf("second greeting %q", l)
	}
}

func TestOversizedMessageIsRefused(t *testing.T) {
	r := newRig(t, false, false, Options{MaxMessage: 1024}, patternScanner{})
	err := sendSMTP(t, r.addr, nil, []string{"a@example.net"}, "Subject: x\r\n\r\n"+strings.Repeat("z", 4096)+"\r\n")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 552 {
		t.Fatalf("got %v", err)
	}
	r.assertSpoolEmpty(t)
}

func TestStdioServesOneLMTPSessionThroughPipes(t *testing.T) {
	r := newRig(t, true, false, Options{}, patternScanner{})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- r.srv.ServeStdio(inR, outW) }()
	script := "LHLO mta.test\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
	go io.WriteString(inW, script)
	br := bufio.NewReader(outR)
	readUntil := func(prefix string) string {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading %q: %v", prefix, err)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
	}
	readUntil("354 ")
	go io.WriteString(inW, "Subject: stdio\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
	for _, rc := range []string{"a@example.net", "b@example.net"} {
		if l := readUntil("2"); !strings.Contains(l, "<"+rc+">") {
			t.Fatalf("reply %q", l)
		}
	}
	readUntil("221 ")
	inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeStdio did not return after QUIT")
	}
	if msgs := r.mta.Messages(); len(msgs) != 1 || string(msgs[0].Data) != "X-Virus-Scanned: AVE\r\nSubject: stdio\r\n\r\n.dot\r\n" {
		t.Fatalf("got %+v", msgs)
	}
}

func TestXFORWARDFromPostfixIsPassedDownstream(t *testing.T) {
	r := newRig(t, false, false, Options{}, patternScanner{})
	conn, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	expect := func(prefix string) string {
		t.Helper()
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("want %q: %v", prefix, err)
			}
			if len(l) >= 4 && l[3] == '-' {
				if strings.Contains(l, "XFORWARD") && !strings.Contains(l, "NAME ADDR") {
					t.Fatalf("XFORWARD keyword without attributes: %q", l)
				}
				continue
			}
			if !strings.HasPrefix(l, prefix) {
				t.Fatalf("got %q, want %q", l, prefix)
			}
			return l
		}
	}
	expect("220 ")
	io.WriteString(conn, "EHLO postfix.test\r\n")
	expect("250 ")
	io.WriteString(conn, "XFORWARD NAME=client.example.org ADDR=192.0.2.7 PORT=40123\r\n")
	expect("250 ")
	io.WriteString(conn, "XFORWARD PROTO=ESMTP HELO=helo+2Bname SOURCE=REMOTE\r\n")
	expect("250 ")
	io.WriteString(conn, "XFORWARD BOGUS=1\r\n")
	expect("501 ")
	io.WriteString(conn, "MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n")
	expect("250 ")
	expect("250 ")
	expect("354 ")
	io.WriteString(conn, "Subject: xf\r\n\r\nhi\r\n.\r\n")
	expect("250 ")
	// A second transaction without XFORWARD carries none.
	io.WriteString(conn, "MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n")
	expect("250 ")
	expect("250 ")
	expect("354 ")
	io.WriteString(conn, "Subject: xf2\r\n\r\nhi\r\n.\r\nQUIT\r\n")
	expect("250 ")
	msgs := r.mta.Messages()
	if len(msgs) != 2 {
		t.Fatalf("got %d messages", len(msgs))
	}
	want := map[string]string{"NAME": "client.example.org", "ADDR": "192.0.2.7", "PORT": "40123", "PROTO": "ESMTP", "HELO": "helo+name", "SOURCE": "REMOTE"}
	for k, v := range want {
		if msgs[0].XForward[k] != v {
			t.Errorf("XFORWARD %s = %q, want %q (all: %v)", k, msgs[0].XForward[k], v, msgs[0].XForward)
		}
	}
	if len(msgs[1].XForward) != 0 {
		t.Errorf("second transaction got %v", msgs[1].XForward)
	}
}

type slowScanner struct{ d time.Duration }

func (s slowScanner) Scan(ctx context.Context, name string, size int64, r io.Reader) (*verdict.Result, error) {
	select {
	case <-time.After(s.d):
		return &verdict.Result{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestShutdownLetsMessagesInFlightFinish(t *testing.T) {
	r := newRig(t, false, false, Options{}, slowScanner{d: 300 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- sendSMTP(t, r.addr, nil, []string{"a@example.net"}, "Subject: x\r\n\r\nx\r\n") }()
	for i := 0; r.srv.inflight.Load() == 0; i++ {
		if i > 500 {
			t.Fatal("message never in flight")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("in-flight message: %v", err)
	}
	if len(r.mta.Messages()) != 1 {
		t.Fatal("in-flight message not forwarded")
	}
	if c, err := net.Dial("tcp", r.addr); err == nil {
		c.Close()
		t.Fatal("still accepting after Shutdown")
	}
}

func TestShutdownPastItsDeadlineAbortsWithoutA250(t *testing.T) {
	r := newRig(t, false, false, Options{}, slowScanner{d: time.Minute})
	done := make(chan error, 1)
	go func() { done <- sendSMTP(t, r.addr, nil, []string{"a@example.net"}, "Subject: x\r\n\r\nx\r\n") }()
	for i := 0; r.srv.inflight.Load() == 0; i++ {
		if i > 500 {
			t.Fatal("message never in flight")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r.srv.Shutdown(ctx)
	if err := <-done; err == nil {
		t.Fatal("aborted message got a 250")
	}
	if len(r.mta.Messages()) != 0 {
		t.Fatal("aborted message forwarded")
	}
}

// gateScanner holds every scan until release is closed, after telling
// started; then it scans as patternScanner.
type gateScanner struct {
	started chan struct{}
	release chan struct{}
}

func (g gateScanner) Scan(ctx context.Context, name string, size int64, r io.Reader) (*verdict.Result, error) {
	g.started <- struct{}{}
	<-g.release
	return patternScanner{}.Scan(ctx, name, size, r)
}

// TestSetFlowSwapsForNewMessagesAndDrainsTheOld: a reload's new Flow
// takes the messages received after it; a message already in flight
// finishes with the old one, and SetFlow's channel closes only once it
// has been answered.
func TestSetFlowSwapsForNewMessagesAndDrainsTheOld(t *testing.T) {
	gate := gateScanner{started: make(chan struct{}, 1), release: make(chan struct{})}
	r := newRig(t, false, false, Options{}, gate)
	// The new Flow tags instead of rejecting and adds its own header.
	flow2, err := mailflow.New(mailflow.Options{
		Scanner:   patternScanner{},
		Forwarder: &mailer.Mailer{Dest: config.Mailer{Protocol: "smtp", Network: "tcp", Address: r.mta.Addr}, Hostname: "scanner.test"},
		Policy: mailflow.BasicPolicy{Actions: map[verdict.Status]mailflow.BasicAction{verdict.Infected: mailflow.ActDiscard},
			ScannedHeader: "X-Virus-Scanned: AVE reloaded"},
	})
	if err != nil {
		t.Fatal(err)
	}

	const eicarBody = "Subject: eicar\r\n\r\n" + testkit.EICAR + "\r\n"
	old := make(chan error, 1)
	go func() { old <- sendSMTP(t, r.addr, nil, []string{"a@example.net"}, eicarBody) }()
	select {
	case <-gate.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first message never reached the scanner")
	}
	drained := r.srv.SetFlow(flow2)

	// Received after the swap: the new Flow (discard: a 250, nothing
	// delivered) while the old message is still being scanned.
	if err := sendSMTP(t, r.addr, nil, []string{"b@example.net"}, eicarBody); err != nil {
		t.Fatalf("new flow: %v", err)
	}
	if err := sendSMTP(t, r.addr, nil, []string{"b@example.net"}, "Subject: clean\r\n\r\nhello\r\n"); err != nil {
		t.Fatalf("new flow, clean: %v", err)
	}
	msgs := r.mta.Messages()
	if len(msgs) != 1 || !strings.HasPrefix(string(msgs[0].Data), "X-Virus-Scanned: AVE reloaded\r\n") {
		for _, m := range msgs {
			t.Logf("delivered: %.80q", m.Data)
		}
		t.Fatalf("after the swap the downstream got %d messages, want the clean one with the new header", len(msgs))
	}
	select {
	case <-drained:
		t.Fatal("drained while a message of the old flow is in flight")
	case <-time.After(50 * time.Millisecond):
	}

	close(gate.release)
	if err := <-old; smtpCode(err) != 554 {
		t.Fatalf("message in flight at the swap: got %v, want the old flow's 554", err)
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("the old flow was never reported drained")
	}
	r.assertSpoolEmpty(t)
}

// smtpCode is the SMTP reply code of err, 0 when it is not an SMTP error.
func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// TestAbortedBDATThenRSETLosesNothingAndRaces: a BDAT transfer cut by RSET
// (its message handled in a goroutine of its own while the connection
// goes on), or by the 552 of a chunk over the size limit, forwards
// nothing, and the next transaction on the connection, by DATA or by
// BDAT, gets its own reply: before the go-smtp fork took the goroutine's
// state at its start, the aborted transfer's error often answered the
// next BDAT message (451 for a message delivered downstream: a duplicate
// on retry). Run with -race, nothing is shared unguarded.
func TestAbortedBDATThenRSETLosesNothingAndRaces(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		for _, tc := range []struct{ abort, next string }{
			{"BDAT 5\r\nhelloRSET\r\n", "DATA"},
			{"BDAT 5\r\nhelloRSET\r\n", "BDAT"},
			{"BDAT 0\r\nRSET\r\n", "BDAT"},
			{"BDAT 150\r\n" + strings.Repeat("x", 150), "BDAT"}, // over MaxMessage: 552
		} {
			r := newRig(t, lmtp, false, Options{MaxMessage: 100}, patternScanner{})
			for it := 0; it < 20; it++ {
				abortedBDATThenNext(t, r.addr, lmtp, tc.abort, tc.next, it)
			}
			for _, m := range r.mta.Messages() {
				if strings.Join(m.Rcpts, ",") != "b@example.net" {
					t.Fatalf("lmtp=%v %q: delivered to %v", lmtp, tc.abort, m.Rcpts)
				}
			}
			if n := len(r.mta.Messages()); n != 20 {
				t.Fatalf("lmtp=%v %q then %s: %d of 20 next messages delivered", lmtp, tc.abort, tc.next, n)
			}
		}
	}
}

// abortedBDATThenNext runs one connection: the aborted transfer, then a
// whole message to b@ by DATA or BDAT LAST, pipelined, and checks its
// reply is 250.
func abortedBDATThenNext(t *testing.T, addr string, lmtp bool, abort, next string, it int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	read := func() string {
		var last string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("lmtp=%v %q: %v", lmtp, abort, err)
			}
			last = l
			if len(l) < 4 || l[3] != '-' {
				return last
			}
		}
	}
	read() // greeting
	hello := "EHLO"
	if lmtp {
		hello = "LHLO"
	}
	fmt.Fprintf(conn, "%s mta.test\r\n", hello)
	read()
	body := fmt.Sprintf("Subject: next %d\r\n\r\nwhole\r\n", it)
	fmt.Fprintf(conn, "MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.net>\r\n%s", abort)
	replies := 3 + strings.Count(abort, "RSET") // MAIL, RCPT, BDAT(s), RSET
	for i := 0; i < replies; i++ {
		read()
	}
	if next == "DATA" {
		fmt.Fprintf(conn, "MAIL FROM:<s@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
		read()
		read()
		read()
		fmt.Fprintf(conn, "%s.\r\n", body)
	} else {
		fmt.Fprintf(conn, "MAIL FROM:<s@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT %d LAST\r\n%s", len(body), body)
		read()
		read()
	}
	if l := read(); !strings.HasPrefix(l, "250") {
		t.Fatalf("lmtp=%v %q then %s, round %d: next message answered %q", lmtp, abort, next, it, l)
	}
	fmt.Fprintf(conn, "QUIT\r\n")
}

// TestLMTPStrayDownstreamCodeIsATemporaryFailure: a downstream LMTP reply
// that is neither 2xx, 4xx nor 5xx for a recipient reaches the MTA as a
// 451 for that recipient (retried), not as the stray code.
func TestLMTPStrayDownstreamCodeIsATemporaryFailure(t *testing.T) {
	r := newRig(t, true, true, Options{}, patternScanner{})
	r.mta.DataErr = func(rcpt string) error {
		if rcpt == "odd@example.net" {
			return &smtp.SMTPError{Code: 354, Message: "what"}
		}
		return nil
	}
	_, err := sendLMTP(t, r.addr, "ok@example.net", "odd@example.net")
	var le smtp.LMTPDataError
	if !errors.As(err, &le) {
		t.Fatalf("want per-recipient errors, got %v", err)
	}
	if e := le["odd@example.net"]; e == nil || e.Code != 451 {
		t.Fatalf("odd@: %+v", le["odd@example.net"])
	}
	if le["ok@example.net"] != nil {
		t.Fatalf("ok@: %+v", le["ok@example.net"])
	}
}

// sendLMTP sends one small message over LMTP to rcpts and returns the
// per-recipient outcome (an smtp.LMTPDataError for the refused ones).
func sendLMTP(t *testing.T, addr string, rcpts ...string) (map[string]*smtp.DataResponse, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	c.Mail("s@example.org", nil)
	for _, rc := range rcpts {
		c.Rcpt(rc, nil)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: x\r\n\r\nhi\r\n")
	return w.CloseWithLMTPResponse()
}
