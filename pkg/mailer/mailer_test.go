package mailer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-smtp"

	"ave/internal/testkit"
	"ave/internal/xtext"
	"ave/pkg/config"
	"ave/pkg/mailflow"
)

// TestMain doubles as the child of exec forwarding tests: with
// MAILER_BRIDGE=addr it copies stdin/stdout to and from that SMTP server.
func TestMain(m *testing.M) {
	if addr := os.Getenv("MAILER_BRIDGE"); addr != "" {
		network := "tcp"
		if strings.HasPrefix(addr, "/") {
			network = "unix"
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			os.Exit(3)
		}
		go func() { io.Copy(c, os.Stdin); c.(interface{ CloseWrite() error }).CloseWrite() }()
		io.Copy(os.Stdout, c)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// noChunking: this run's downstream MTAs do not announce CHUNKING, so
// transactions send DATA (TestForwardWithoutChunking runs the tests so).
var noChunking = os.Getenv("MAILER_NO_CHUNKING") != ""

func startMTA(t testing.TB, network string, lmtp bool) *testkit.FakeMTA {
	t.Helper()
	if noChunking {
		return testkit.StartMTANoChunking(t, network, lmtp)
	}
	return testkit.StartMTA(t, network, lmtp)
}

// TestForwardWithoutChunking runs every Forward test again against
// downstream MTAs that do not announce CHUNKING (RFC 3030): there the
// message goes with DATA, dot-stuffed, after the 354.
func TestForwardWithoutChunking(t *testing.T) {
	if noChunking {
		t.Skip("this is the run without CHUNKING")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestForward", "-test.count", "1")
	cmd.Env = append(os.Environ(), "MAILER_NO_CHUNKING=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the Forward tests without CHUNKING failed: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("PASS")) {
		t.Fatalf("no test ran:\n%s", out)
	}
}

func send(t *testing.T, dest config.Mailer, env *mailflow.Envelope, msg []byte) []mailflow.Reply {
	t.Helper()
	m := &Mailer{Dest: dest, Hostname: "scanner.test", Timeout: 20 * time.Second}
	return m.Forward(context.Background(), env, int64(len(msg)), func() io.Reader { return bytes.NewReader(msg) })
}

var shapes = map[string]string{
	"several BDAT chunks": "Subject: big\r\n\r\n" + strings.Repeat(".dot line\r\nplain line of text\r\n", 12000),
	"dot-stuffing":        "Subject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\nmiddle . dot\r\n. \r\n",
	"8-bit":               "Subject: =?utf-8?q?x?=\r\n\r\nGr\xc3\xbc\xc3\x9fe, \xff\xfe raw bytes\r\n",
	"long line":           "Subject: long\r\n\r\n" + strings.Repeat("x", 5000) + "\r\nend\r\n",
	"bare LF and CR":      "Subject: bare\r\n\r\nline\nwith\rbare\n.dot after bare LF\r\n",
	"binary with NULs":    "Subject: bin\r\n\r\n\x00\x01\x02\r\n\x00.\r\n",
	"starts with a dot":   ".Subject: odd\r\n\r\nbody\r\n",
}

func TestForwardSMTPIsByteExactForEveryShape(t *testing.T) {
	mta := startMTA(t, "tcp", false)
	dest := config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}
	for name, body := range shapes {
		t.Run(name, func(t *testing.T) {
			n := len(mta.Messages())
			env := &mailflow.Envelope{From: "a@example.org", Body: "8BITMIME", Rcpts: []mailflow.Recipient{{Addr: "b@example.net"}}}
			replies := send(t, dest, env, []byte(body))
			if len(replies) != 1 || replies[0].Code != 250 || replies[0].Local {
				t.Fatalf("replies %+v", replies)
			}
			got := mta.Messages()[n]
			if !bytes.Equal(got.Data, []byte(body)) {
				t.Fatalf("body differs:\n got %q\nwant %q", got.Data, body)
			}
		})
	}
}

func TestForwardAddsCRLFOnlyWhenTheLastLineLacksIt(t *testing.T) {
	mta := startMTA(t, "tcp", false)
	dest := config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}
	env := &mailflow.Envelope{From: "a@example.org", Rcpts: []mailflow.Recipient{{Addr: "b@example.net"}}}
	send(t, dest, env, []byte("Subject: x\r\n\r\nno newline at end"))
	if got := string(mta.Messages()[0].Data); got != "Subject: x\r\n\r\nno newline at end\r\n" {
		t.Fatalf("got %q", got)
	}
}

func TestForwardPassesEnvelopeDSNAndSMTPUTF8(t *testing.T) {
	mta := startMTA(t, "tcp", false)
	dest := config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}
	env := &mailflow.Envelope{From: "s\u00e9nder@example.org", Body: "8BITMIME", UTF8: true, Ret: "HDRS", EnvID: "Q+1=x y",
		Rcpts: []mailflow.Recipient{
			{Addr: "one@example.net", Notify: []string{"SUCCESS", "FAILURE"}, ORcptType: "rfc822", ORcpt: "one+tag@example.net"},
			{Addr: "two@example.net", Notify: []string{"NEVER"}},
			{Addr: "three@example.net", ORcptType: "utf-8", ORcpt: "j\u00f6rg+a=b\\c\u4e2d@\u00e9xample.net"},
		}}
	replies := send(t, dest, env, []byte("Subject: x\r\n\r\nhi\r\n"))
	if replies[0].Code != 250 || replies[1].Code != 250 {
		t.Fatalf("replies %+v", replies)
	}
	got := mta.Messages()[0]
	if got.From != env.From || !got.MailOpts.UTF8 || got.MailOpts.Return != smtp.DSNReturnHeaders || got.MailOpts.EnvelopeID != "Q+1=x y" || got.MailOpts.Body != smtp.Body8BitMIME {
		t.Fatalf("mail options %+v from %q", got.MailOpts, got.From)
	}
	if strings.Join(got.Rcpts, ",") != "one@example.net,two@example.net,three@example.net" {
		t.Fatalf("rcpts %v", got.Rcpts)
	}
	o := got.RcptOpts[0]
	if len(o.Notify) != 2 || o.Notify[0] != smtp.DSNNotifySuccess || o.OriginalRecipient != "one+tag@example.net" || !strings.EqualFold(string(o.OriginalRecipientType), "rfc822") {
		t.Fatalf("rcpt options %+v", o)
	}
	if n := got.RcptOpts[1].Notify; len(n) != 1 || n[0] != smtp.DSNNotifyNever {
		t.Fatalf("second notify %v", n)
	}
	// An original recipient of type utf-8 goes as utf-8-addr-xtext
	// (RFC 6533), which the server decodes back to the same address.
	if o := got.RcptOpts[2]; o.OriginalRecipient != env.Rcpts[2].ORcpt || !strings.EqualFold(string(o.OriginalRecipientType), "utf-8") {
		t.Fatalf("utf-8 ORCPT arrived as %q (%s), want %q", o.OriginalRecipient, o.OriginalRecipientType, env.Rcpts[2].ORcpt)
	}
}

func TestForwardLMTPGivesOneReplyPerRecipient(t *testing.T) {
	mta := startMTA(t, "unix", true)
	mta.RcptErr = func(to string) error {
		if to == "unknown@example.net" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
	mta.DataErr = func(rcpt string) error {
		if rcpt == "full@example.net" {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}
	dest := config.Mailer{Protocol: "lmtp", Network: "unix", Address: mta.Addr}
	env := &mailflow.Envelope{From: "a@example.org", Rcpts: []mailflow.Recipient{{Addr: "ok@example.net"}, {Addr: "unknown@example.net"}, {Addr: "full@example.net"}}}
	replies := send(t, dest, env, []byte("Subject: x\r\n\r\nhi\r\n"))
	want := []struct {
		code int
		enh  string
	}{{250, "2.0.0"}, {550, "5.1.1"}, {452, "4.2.2"}}
	for i, w := range want {
		if replies[i].Code != w.code || replies[i].Enhanced != w.enh || replies[i].Local {
			t.Errorf("reply %d = %+v, want %d %s", i, replies[i], w.code, w.enh)
		}
	}
	if msgs := mta.Messages(); len(msgs) != 1 || strings.Join(msgs[0].Rcpts, ",") != "ok@example.net" {
		t.Fatalf("delivered %+v", msgs)
	}
}

func TestForwardFailuresAreTemporary(t *testing.T) {
	t.Run("nobody listening", func(t *testing.T) {
		mta := startMTA(t, "tcp", false)
		mta.Stop()
		dest := config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}
		r := send(t, dest, &mailflow.Envelope{Rcpts: []mailflow.Recipient{{Addr: "b@x"}, {Addr: "c@x"}}}, []byte("x\r\n"))
		for _, rep := range r {
			if rep.Code != 451 || rep.Enhanced != "4.4.2" || !rep.Local {
				t.Fatalf("got %+v", r)
			}
		}
	})
	t.Run("hang-up during DATA", func(t *testing.T) {
		mta := startMTA(t, "tcp", false)
		mta.HangUp = true
		dest := config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}
		r := send(t, dest, &mailflow.Envelope{Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}, []byte("Subject: x\r\n\r\n"+strings.Repeat("y", 1<<20)+"\r\n"))
		if r[0].Code != 451 || !r[0].Local {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("downstream 4xx and 5xx passed back", func(t *testing.T) {
		mta := startMTA(t, "tcp", false)
		code := 451
		mta.DataErr = func(string) error {
			return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 3, 0}, Message: "not now"}
		}
		dest := config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}
		env := &mailflow.Envelope{Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}
		if r := send(t, dest, env, []byte("x\r\n")); r[0].Code != 451 || r[0].Enhanced != "4.3.0" || r[0].Text != "not now" || r[0].Local {
			t.Fatalf("got %+v", r)
		}
		code = 554
		if r := send(t, dest, env, []byte("x\r\n")); r[0].Code != 554 || r[0].Enhanced != "5.3.0" || r[0].Local {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("child command missing", func(t *testing.T) {
		dest := config.Mailer{Protocol: "smtp", Network: "exec", Argv: []string{"/nonexistent/sendmail", "-bs"}}
		if r := send(t, dest, &mailflow.Envelope{Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}, []byte("x\r\n")); r[0].Code != 451 {
			t.Fatalf("got %+v", r)
		}
	})
}

func TestForwardToChildProcessOnStdinStdout(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		proto := map[bool]string{false: "smtp", true: "lmtp"}[lmtp]
		t.Run(proto, func(t *testing.T) {
			mta := startMTA(t, "unix", lmtp)
			t.Setenv("MAILER_BRIDGE", mta.Addr)
			dest := config.Mailer{Protocol: proto, Network: "exec", Argv: []string{os.Args[0], "-test.run=^$"}}
			body := shapes["dot-stuffing"]
			r := send(t, dest, &mailflow.Envelope{From: "a@x", Rcpts: []mailflow.Recipient{{Addr: "b@x"}, {Addr: "c@x"}}}, []byte(body))
			if r[0].Code != 250 || r[1].Code != 250 {
				t.Fatalf("got %+v", r)
			}
			if msgs := mta.Messages(); len(msgs) != 1 || string(msgs[0].Data) != body {
				t.Fatalf("got %+v", msgs)
			}
		})
	}
}

func TestXtext(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "a+b": "a+2Bb", "x=y z": "x+3Dy+20z", "\u00e9": "+C3+A9"} {
		if got := xtext.Encode(in); got != want {
			t.Errorf("xtext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitEnhanced(t *testing.T) {
	for _, tc := range []struct {
		text      string
		code      int
		enh, rest string
	}{
		{"2.0.0 Ok: queued as X", 250, "2.0.0", "Ok: queued as X"},
		{"Ok", 250, "", "Ok"},
		{"5.1.1 no user", 450, "", "5.1.1 no user"},
		{"4.7.1", 451, "4.7.1", ""},
	} {
		enh, rest := splitEnhanced(tc.text, tc.code)
		if enh != tc.enh || rest != tc.rest {
			t.Errorf("splitEnhanced(%q) = %q %q", tc.text, enh, rest)
		}
	}
}

func TestForwardSendsXFORWARDOnlyToServersThatAnnounceIt(t *testing.T) {
	mta := startMTA(t, "tcp", false)
	dest := config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}
	env := &mailflow.Envelope{From: "a@x", XForward: map[string]string{"ADDR": "192.0.2.1", "NAME": "[UNAVAILABLE]", "HELO": "h e+llo"},
		Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}
	if r := send(t, dest, env, []byte("x\r\n")); r[0].Code != 250 {
		t.Fatalf("got %+v", r)
	}
	got := mta.Messages()[0].XForward
	if got["ADDR"] != "192.0.2.1" || got["NAME"] != "[UNAVAILABLE]" || got["HELO"] != "h e+llo" {
		t.Fatalf("got %v", got)
	}
}

func TestForwardToARefusingSessionIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "554 5.7.1 no service for you\r\n")
			bufio.NewReader(c).ReadString('\n')
			io.WriteString(c, "221 2.0.0 bye\r\n")
			c.Close()
		}
	}()
	dest := config.Mailer{Protocol: "smtp", Network: "tcp", Address: l.Addr().String()}
	r := send(t, dest, &mailflow.Envelope{Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}, []byte("x\r\n"))
	if r[0].Code != 451 || !r[0].Local || !strings.Contains(r[0].Text, "554") {
		t.Fatalf("got %+v", r)
	}
}

func TestForwardSendsRecipientsPastA452TooManyInAnotherTransaction(t *testing.T) {
	mta := startMTA(t, "tcp", false)
	// Like Postfix's smtpd_recipient_limit: every RCPT past the second
	// of a transaction gets 452 4.5.3. A transaction starts with a
	// recipient already tried (they are tried in order, once each per
	// transaction): the fake MTA has no MAIL hook.
	var mu sync.Mutex
	perTx := 0
	tried := map[string]bool{}
	mta.RcptErr = func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		if tried[to] {
			perTx, tried = 0, map[string]bool{}
		}
		tried[to] = true
		perTx++
		if perTx > 2 {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "too many recipients"}
		}
		return nil
	}
	dest := config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}
	env := &mailflow.Envelope{From: "a@x"}
	for _, a := range []string{"first@x", "b@x", "c@x", "d@x", "e@x"} {
		env.Rcpts = append(env.Rcpts, mailflow.Recipient{Addr: a})
	}
	r := send(t, dest, env, []byte("Subject: x\r\n\r\nx\r\n"))
	for i, rep := range r {
		if rep.Code != 250 {
			t.Fatalf("reply %d: %+v", i, rep)
		}
	}
	var got []string
	for _, m := range mta.Messages() {
		got = append(got, strings.Join(m.Rcpts, ","))
		if string(m.Data) != "Subject: x\r\n\r\nx\r\n" {
			t.Fatalf("data %q", m.Data)
		}
	}
	if strings.Join(got, " ") != "first@x,b@x c@x,d@x e@x" {
		t.Fatalf("transactions %q", got)
	}
}

func TestForwardReusesIdleSessionsAndRecoversFromStaleOnes(t *testing.T) {
	mta := startMTA(t, "tcp", true)
	m := &Mailer{Dest: config.Mailer{Protocol: "lmtp", Network: "tcp", Address: mta.Addr}, MaxIdle: 2, Timeout: 20 * time.Second}
	defer m.Close()
	fwd := func(i int) {
		t.Helper()
		body := fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)
		env := &mailflow.Envelope{From: "a@x", XForward: map[string]string{"ADDR": fmt.Sprintf("192.0.2.%d", i)}, Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}
		r := m.Forward(context.Background(), env, int64(len(body)), func() io.Reader { return strings.NewReader(body) })
		if r[0].Code != 250 {
			t.Fatalf("message %d: %+v", i, r)
		}
	}
	for i := 1; i <= 3; i++ {
		fwd(i)
	}
	if n := mta.Sessions(); n != 1 {
		t.Fatalf("3 messages used %d sessions, want 1", n)
	}
	// The downstream dropped the idle session: RSET fails, a new one opens.
	m.mu.Lock()
	m.idle[0].c.conn.Close()
	m.mu.Unlock()
	fwd(4)
	if n := mta.Sessions(); n != 2 {
		t.Fatalf("sessions %d, want 2", n)
	}
	// Past IdleTimeout a session is not reused.
	m.IdleTimeout = time.Nanosecond
	time.Sleep(time.Millisecond)
	fwd(5)
	if n := mta.Sessions(); n != 3 {
		t.Fatalf("sessions %d, want 3", n)
	}
	msgs := mta.Messages()
	for i, msg := range msgs {
		if want := fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i+1); string(msg.Data) != want || msg.XForward["ADDR"] != fmt.Sprintf("192.0.2.%d", i+1) {
			t.Fatalf("message %d: %q %v", i, msg.Data, msg.XForward)
		}
	}
	if len(msgs) != 5 {
		t.Fatalf("%d messages", len(msgs))
	}
}

// TestForwardPipelinedSessionReuse: a go-smtp downstream announces
// PIPELINING, so RSET, MAIL, RCPT and DATA go in one write. A session
// whose transaction was refused (every recipient rejected, so DATA is
// refused too) is reused cleanly; a session the downstream dropped is
// noticed at its RSET and replaced, with nothing sent twice.
func TestForwardPipelinedSessionReuse(t *testing.T) {
	mta := startMTA(t, "tcp", false)
	mta.RcptErr = func(to string) error {
		if strings.HasPrefix(to, "nobody") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
	m := &Mailer{Dest: config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}, MaxIdle: 2, Timeout: 20 * time.Second}
	defer m.Close()
	fwd := func(i int, rcpts ...string) []mailflow.Reply {
		t.Helper()
		body := fmt.Sprintf("Subject: %d\r\n\r\n.body\r\n", i)
		env := &mailflow.Envelope{From: "a@x"}
		for _, r := range rcpts {
			env.Rcpts = append(env.Rcpts, mailflow.Recipient{Addr: r})
		}
		return m.Forward(context.Background(), env, int64(len(body)), func() io.Reader { return strings.NewReader(body) })
	}
	if r := fwd(1, "b@x"); r[0].Code != 250 {
		t.Fatalf("message 1: %+v", r)
	}
	if r := fwd(2, "nobody@x", "nobody2@x"); r[0].Code != 550 || r[1].Code != 550 || r[0].Local {
		t.Fatalf("message 2: %+v", r)
	}
	if r := fwd(3, "nobody@x", "c@x"); r[0].Code != 550 || r[1].Code != 250 {
		t.Fatalf("message 3: %+v", r)
	}
	if n := mta.Sessions(); n != 1 {
		t.Fatalf("3 messages used %d sessions, want 1", n)
	}
	m.mu.Lock()
	m.idle[0].c.conn.Close()
	m.mu.Unlock()
	if r := fwd(4, "d@x"); r[0].Code != 250 {
		t.Fatalf("message 4: %+v", r)
	}
	if n := mta.Sessions(); n != 2 {
		t.Fatalf("sessions %d, want 2", n)
	}
	var got []string
	for _, msg := range mta.Messages() {
		got = append(got, strings.Join(msg.Rcpts, ",")+" "+string(msg.Data))
	}
	want := []string{"b@x Subject: 1\r\n\r\n.body\r\n", "c@x Subject: 3\r\n\r\n.body\r\n", "d@x Subject: 4\r\n\r\n.body\r\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
}

// TestForwardPipelinedKeepsRecipientsAcceptedAfterA452: with the RCPTs
// pipelined, a recipient the server accepts after a "452 4.5.3" is in
// this transaction (not sent again); only the 452s are retried.
func TestForwardPipelinedKeepsRecipientsAcceptedAfterA452(t *testing.T) {
	mta := startMTA(t, "tcp", false)
	var mu sync.Mutex
	seen := map[string]int{}
	mta.RcptErr = func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		seen[to]++
		if to == "b@x" && seen[to] == 1 {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "too many recipients"}
		}
		return nil
	}
	env := &mailflow.Envelope{From: "a@x", Rcpts: []mailflow.Recipient{{Addr: "a@x"}, {Addr: "b@x"}, {Addr: "c@x"}}}
	r := send(t, config.Mailer{Protocol: "smtp", Network: "tcp", Address: mta.Addr}, env, []byte("x\r\n"))
	for i, rep := range r {
		if rep.Code != 250 {
			t.Fatalf("reply %d: %+v", i, rep)
		}
	}
	var got []string
	for _, m := range mta.Messages() {
		got = append(got, strings.Join(m.Rcpts, ","))
	}
	if strings.Join(got, " ") != "a@x,c@x b@x" {
		t.Fatalf("transactions %q", got)
	}
}

// TestForwardDeliversNothingWhenTheMessageEndsInAnError: a message whose
// reader fails (a spool read error) is not delivered: no final dot, the
// session is closed at once (no QUIT, which would be content), 451.
func TestForwardDeliversNothingWhenTheMessageEndsInAnError(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		mta := startMTA(t, "tcp", lmtp)
		proto := map[bool]string{false: "smtp", true: "lmtp"}[lmtp]
		m := &Mailer{Dest: config.Mailer{Protocol: proto, Network: "tcp", Address: mta.Addr}, MaxIdle: 1, Timeout: 20 * time.Second}
		body := "Subject: x\r\n\r\nbody\r\n"
		env := &mailflow.Envelope{From: "a@x", Rcpts: []mailflow.Recipient{{Addr: "b@x"}, {Addr: "c@x"}}}
		r := m.Forward(context.Background(), env, int64(len(body)), func() io.Reader {
			return io.MultiReader(strings.NewReader(body), iotest.ErrReader(errors.New("mailflow: spool: read failed")))
		})
		for i, rep := range r {
			if rep.Code != 451 || !rep.Local {
				t.Fatalf("%s reply %d: %+v", proto, i, rep)
			}
		}
		// The next message goes through (a new session).
		r = m.Forward(context.Background(), env, int64(len(body)), func() io.Reader { return strings.NewReader(body) })
		if r[0].Code != 250 || r[1].Code != 250 {
			t.Fatalf("%s: %+v", proto, r)
		}
		if msgs := mta.Messages(); len(msgs) != 1 {
			t.Fatalf("%s: %d messages delivered, want 1", proto, len(msgs))
		}
		m.Close()
	}
}

// scriptedServer accepts one session on loopback: it greets, answers
// EHLO with exts, then calls step with what each read(2) returned and
// writes the replies step gives (none: it reads on), until the client
// closes the connection.
func scriptedServer(t *testing.T, exts string, step func(got []byte) string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		fmt.Fprintf(c, "220 scripted.test ESMTP\r\n")
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "EHLO") {
			return
		}
		fmt.Fprintf(c, "250-scripted.test\r\n%s250 ENHANCEDSTATUSCODES\r\n", exts)
		buf := make([]byte, 1<<20)
		for {
			n, err := r.Read(buf)
			if err != nil {
				return
			}
			if reply := step(buf[:n]); reply != "" {
				io.WriteString(c, reply)
			}
		}
	}()
	return l.Addr().String()
}

// TestChunkingSendsTheTransactionInOneWrite: to a server with
// PIPELINING and CHUNKING, MAIL, RCPT and the message as "BDAT n LAST"
// leave in one write, before any reply: one round trip.
func TestChunkingSendsTheTransactionInOneWrite(t *testing.T) {
	body := "Subject: one\r\n\r\n.a dot stays single\r\nno CRLF at the end"
	var first []byte
	addr := scriptedServer(t, "250-PIPELINING\r\n250-CHUNKING\r\n", func(got []byte) string {
		if first == nil {
			first = append([]byte(nil), got...)
			return "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued as X1\r\n"
		}
		return "221 2.0.0 bye\r\n"
	})
	env := &mailflow.Envelope{From: "a@x", Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}
	r := send(t, config.Mailer{Protocol: "smtp", Network: "tcp", Address: addr}, env, []byte(body))
	if r[0].Code != 250 || !strings.Contains(r[0].Text, "queued as X1") {
		t.Fatalf("reply %+v", r[0])
	}
	want := fmt.Sprintf("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT %d LAST\r\n%s\r\n", len(body)+2, body)
	if string(first) != want {
		t.Fatalf("first write\n got %q\nwant %q", first, want)
	}
}

// TestChunkRefusedInTheMiddle: a BDAT refused before the last
// (here: too big) gives its reply to the accepted recipients; the
// replies still due are read and the session stays usable.
func TestChunkRefusedInTheMiddle(t *testing.T) {
	body := strings.Repeat("0123456789abcdef\r\n", 10000) // three chunks
	var got bytes.Buffer
	done := false
	addr := scriptedServer(t, "250-PIPELINING\r\n250-CHUNKING\r\n", func(b []byte) string {
		if done {
			return "221 2.0.0 bye\r\n" // QUIT at m.Close
		}
		got.Write(b)
		if !bytes.HasSuffix(got.Bytes(), []byte("0123456789abcdef\r\n\r\n")) && !bytes.HasSuffix(got.Bytes(), []byte("LAST\r\n0123456789abcdef\r\n")) {
			// until the end of the last chunk
			i := bytes.LastIndex(got.Bytes(), []byte(" LAST\r\n"))
			if i < 0 {
				return ""
			}
			var n int
			fmt.Sscanf(string(got.Bytes()[bytes.LastIndex(got.Bytes()[:i], []byte("BDAT ")):]), "BDAT %d", &n)
			if len(got.Bytes())-(i+len(" LAST\r\n")) < n {
				return ""
			}
		}
		done = true
		chunks := bytes.Count(got.Bytes(), []byte("BDAT "))
		rep := "250 2.1.0 ok\r\n250 2.1.5 ok\r\n552 5.3.4 message too big\r\n"
		for i := 1; i < chunks; i++ {
			rep += "503 5.5.1 no transaction\r\n"
		}
		return rep
	})
	m := &Mailer{Dest: config.Mailer{Protocol: "smtp", Network: "tcp", Address: addr}, MaxIdle: 1, Timeout: 20 * time.Second}
	defer m.Close()
	env := &mailflow.Envelope{From: "a@x", Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}
	r := m.Forward(context.Background(), env, int64(len(body)), func() io.Reader { return strings.NewReader(body) })
	if r[0].Code != 552 || r[0].Enhanced != "5.3.4" || r[0].Local {
		t.Fatalf("reply %+v", r[0])
	}
	if n := bytes.Count(got.Bytes(), []byte("BDAT ")); n != 3 {
		t.Fatalf("%d BDAT commands, want 3", n)
	}
	m.mu.Lock()
	idle := len(m.idle)
	m.mu.Unlock()
	if idle != 1 {
		t.Fatal("the session was not kept after a refused chunk")
	}
}

// TestChunkingRefusedRSETIsNotRetried: a reused session whose RSET is
// refused, while the MAIL, RCPT and BDAT LAST behind it were accepted,
// may have taken the message: it is not sent again in another session
// (that could deliver it twice) but deferred, 451, for the MTA.
func TestChunkingRefusedRSETIsNotRetried(t *testing.T) {
	var mu sync.Mutex
	var got bytes.Buffer
	addr := scriptedServer(t, "250-PIPELINING\r\n250-CHUNKING\r\n", func(b []byte) string {
		mu.Lock()
		defer mu.Unlock()
		got.Write(b)
		switch {
		case bytes.HasPrefix(b, []byte("RSET")):
			return "502 5.5.1 RSET not now\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued as X2\r\n"
		case bytes.HasPrefix(b, []byte("MAIL")):
			return "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued as X1\r\n"
		}
		return ""
	})
	m := &Mailer{Dest: config.Mailer{Protocol: "smtp", Network: "tcp", Address: addr}, MaxIdle: 1, Timeout: 20 * time.Second}
	defer m.Close()
	env := &mailflow.Envelope{From: "a@x", Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}
	body := "Subject: x\r\n\r\nx\r\n"
	open := func() io.Reader { return strings.NewReader(body) }
	if r := m.Forward(context.Background(), env, int64(len(body)), open); r[0].Code != 250 {
		t.Fatalf("message 1: %+v", r[0])
	}
	r := m.Forward(context.Background(), env, int64(len(body)), open)
	if r[0].Code != 451 || !r[0].Local || !strings.Contains(r[0].Text, "RSET") {
		t.Fatalf("message 2: %+v", r[0])
	}
	mu.Lock()
	defer mu.Unlock()
	if n := bytes.Count(got.Bytes(), []byte("BDAT ")); n != 2 {
		t.Fatalf("%d BDAT commands, want one per message", n)
	}
}

// TestDATAAnsweredWithoutA354IsNeverDelivered: a downstream answering DATA
// with a 2xx instead of 354 got no byte of the message: the recipients
// get a local 451 (the MTA retries), not the 2xx that read as delivered;
// a 5xx to DATA is passed back as it is. With and without PIPELINING.
func TestDATAAnsweredWithoutA354IsNeverDelivered(t *testing.T) {
	for _, tc := range []struct {
		exts, dataReply string
		want            int
	}{
		{"", "250 2.0.0 ok?\r\n", 451},
		{"250-PIPELINING\r\n", "250 2.0.0 ok?\r\n", 451},
		{"", "554 5.5.1 no valid recipients\r\n", 554},
		{"250-PIPELINING\r\n", "554 5.5.1 no valid recipients\r\n", 554},
	} {
		var pending string
		addr := scriptedServer(t, tc.exts, func(got []byte) string {
			pending += string(got)
			var out string
			for {
				i := strings.Index(pending, "\r\n")
				if i < 0 {
					return out
				}
				line := pending[:i]
				pending = pending[i+2:]
				switch {
				case strings.HasPrefix(line, "DATA"):
					out += tc.dataReply
				case strings.HasPrefix(line, "QUIT"):
					out += "221 2.0.0 bye\r\n"
				default: // MAIL, RCPT, RSET
					out += "250 2.0.0 ok\r\n"
				}
			}
		})
		env := &mailflow.Envelope{From: "a@x", Rcpts: []mailflow.Recipient{{Addr: "b@x"}}}
		r := send(t, config.Mailer{Protocol: "smtp", Network: "tcp", Address: addr}, env, []byte("Subject: x\r\n\r\nbody\r\n"))
		if r[0].Code != tc.want {
			t.Errorf("%q, DATA answered %q: reply %+v, want %d", tc.exts, tc.dataReply, r[0], tc.want)
		}
	}
}
