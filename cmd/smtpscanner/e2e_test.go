package main_test

// End-to-end tests: the real aveserver (shipped DB) and smtpscanner
// binaries, built by TestMain, over real sockets, with a fake downstream
// MTA that records what it receives byte for byte.

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
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"ave/internal/testkit"
	"ave/internal/timerslack"
	"ave/pkg/mailflow"
	"ave/pkg/scanclient"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "smtpscan-e2e-bin")
	if err != nil {
		panic(err)
	}
	for _, c := range []string{"aveserver", "smtpscanner", "avectl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c), "ave/cmd/"+c)
		if c != "aveserver" {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", c, ":", err)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// shortDir is a temp dir with a path short enough for unix sockets.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

type proc struct {
	cmd *exec.Cmd
	log *testkit.SyncBuffer
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

func start(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(filepath.Join(binDir, name), args...), log: &testkit.SyncBuffer{}}
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.log.String())
		}
	})
	return p
}

// startAVEServer runs aveserver on the shipped DB and waits until it answers.
func startAVEServer(t testing.TB) (string, *proc) {
	t.Helper()
	sock := filepath.Join(shortDir(t), "ave.sock")
	p := start(t, "aveserver", "--db", "../../etc/db", "--socket", sock)
	c, err := scanclient.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitReady(ctx); err != nil {
		t.Fatalf("%v\n%s", err, p.log.String())
	}
	return sock, p
}

// rejectPolicy is the policy of the tests of the SMTP/LMTP filter itself:
// infected and suspicious mail is rejected with 554 (the MTA bounces it),
// everything else delivered, nothing kept.
const rejectPolicy = "[smtpscan.group:default]\nInfectedRecipientAction=reject\nCuredRecipientAction=reject\nSuspiciousRecipientAction=reject\nQuarantine=no\n"

type scannerRig struct {
	addr, spool, conf string
	p                 *proc
}

// startScanner runs smtpscanner on a unix socket, forwarding to forward;
// extra holds [smtpscan.limits] lines.
func startScanner(t testing.TB, aveSock, forward, protocol string, extra string) *scannerRig {
	t.Helper()
	d := shortDir(t)
	r := &scannerRig{addr: filepath.Join(d, "smtp.sock"), spool: filepath.Join(d, "spool"), conf: filepath.Join(d, "ave.conf")}
	if !strings.Contains(extra, "MaxCheckTime") {
		extra += "\nMaxCheckTime=20\n"
	}
	conf := fmt.Sprintf("[smtpscan.general]\nListenAddress=%s\nProtocol=%s\nForwardMailer=%s\nSpoolDir=%s\nServerAddress=%s\nHostname=scanner.test\n[smtpscan.limits]\n%s\n%s",
		r.addr, protocol, forward, r.spool, aveSock, extra, rejectPolicy)
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(r.spool, 0o700)
	return r.run(t)
}

func (r *scannerRig) run(t testing.TB) *scannerRig {
	t.Helper()
	r.p = start(t, "smtpscanner", "-c", r.conf)
	network := "tcp"
	if strings.HasPrefix(r.addr, "/") {
		network = "unix"
	}
	for i := 0; i < 600; i++ {
		if c, err := net.Dial(network, r.addr); err == nil {
			c.Close()
			return r
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("smtpscanner did not come up:\n%s", r.p.log.String())
	return nil
}

// spoolFiles lists the spool files that hold a message (freed files are
// kept for reuse), waiting up to 2 s for them to be freed: a file is
// freed just after its message's reply.
func (r *scannerRig) spoolFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	for try := 0; try < 200; try++ {
		held, err := mailflow.Held(r.spool)
		if err != nil {
			t.Fatal(err)
		}
		out = out[:0]
		for _, l := range held {
			out = append(out, l.Name)
		}
		if len(out) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return out
}

func send(t *testing.T, addr string, rcpts []string, body string) error {
	t.Helper()
	conn, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.org", &smtp.MailOptions{Body: smtp.Body8BitMIME, Return: smtp.DSNReturnHeaders, EnvelopeID: "ENV1"}); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure}}); err != nil {
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

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

const cleanBody = "Message-ID: <clean-1@example.org>\r\nSubject: clean \xc3\xa9\r\n\r\n.dot\r\n" +
	"1234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890" +
	"\r\nend\r\n"

func TestCleanMailIsForwardedAndEICARIsRejectedByTheRealEngine(t *testing.T) {
	sock, _ := startAVEServer(t)
	mta := testkit.StartMTA(t, "tcp", false)
	r := startScanner(t, sock, "smtp:"+mta.Addr, "smtp", "")
	// Server mode runs with the 1 ms timer slack on every thread.
	if slacks, err := timerslack.OfProcess(r.p.cmd.Process.Pid); err == nil {
		for _, s := range slacks {
			if s != time.Millisecond {
				t.Fatalf("smtpscanner thread slacks %v, want 1ms on every thread", slacks)
			}
		}
	}

	body := cleanBody + string(testkit.Mail("data.bin", bytes.Repeat([]byte{0, 1, 2, 0xff}, 3000)))
	if err := send(t, r.addr, []string{"a@example.net", "b@example.net"}, body); err != nil {
		t.Fatal(err)
	}
	msgs := mta.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	if want := "X-Virus-Scanned: AVE smtpscanner\r\n" + body; string(msgs[0].Data) != want {
		t.Fatalf("body differs:\n got %q\nwant %q", msgs[0].Data, want)
	}
	if msgs[0].MailOpts.EnvelopeID != "ENV1" || msgs[0].MailOpts.Return != smtp.DSNReturnHeaders || len(msgs[0].RcptOpts[1].Notify) != 1 {
		t.Fatalf("DSN parameters lost: %+v %+v", msgs[0].MailOpts, msgs[0].RcptOpts)
	}

	err := send(t, r.addr, []string{"a@example.net"}, string(testkit.Mail("eicar.com", []byte(testkit.EICAR))))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 554 || !strings.Contains(se.Message, "EICAR-Test-File") {
		t.Fatalf("EICAR: got %v", err)
	}
	zipped := testkit.Zip(t, testkit.File{Name: "inner/eicar.txt", Data: []byte(testkit.EICAR)})
	if err := send(t, r.addr, []string{"a@example.net"}, string(testkit.Mail("docs.zip", zipped))); smtpCode(err) != 554 {
		t.Fatalf("zipped EICAR: got %v", err)
	}
	if len(mta.Messages()) != 1 {
		t.Fatal("infected mail forwarded")
	}
	if files := r.spoolFiles(t); len(files) != 0 {
		t.Fatalf("spool not emptied: %v", files)
	}
	// The log line may follow the reply: wait for it (bounded).
	wants := []string{"message_id=<clean-1@example.org>", "status=INFECTED", "names=EICAR-Test-File", "action=reject", "scan=", "forward="}
	waitFor(t, "log line of both messages", func() bool {
		log := r.p.log.String()
		for _, want := range wants {
			if !strings.Contains(log, want) {
				return false
			}
		}
		return true
	})
}

func TestEveryFailureIsTemporaryAndLosesNothing(t *testing.T) {
	sock, ave := startAVEServer(t)
	mta := testkit.StartMTA(t, "tcp", false)
	r := startScanner(t, sock, "smtp:"+mta.Addr, "smtp", "")
	body := "Subject: retry me\r\n\r\nbody\r\n"

	t.Run("downstream 4xx", func(t *testing.T) {
		mta.DataErr = func(string) error {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}
		}
		defer func() { mta.DataErr = nil }()
		if err := send(t, r.addr, []string{"a@example.net"}, body); smtpCode(err)/100 != 4 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("downstream 5xx passed back", func(t *testing.T) {
		mta.DataErr = func(string) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "policy"}
		}
		defer func() { mta.DataErr = nil }()
		if err := send(t, r.addr, []string{"a@example.net"}, body); smtpCode(err) != 550 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("spool unwritable", func(t *testing.T) {
		os.RemoveAll(r.spool)
		os.WriteFile(r.spool, nil, 0o600)
		defer func() { os.Remove(r.spool); os.MkdirAll(r.spool, 0o700) }()
		if err := send(t, r.addr, []string{"a@example.net"}, body); smtpCode(err) != 451 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("aveserver stopped", func(t *testing.T) {
		ave.stop()
		if err := send(t, r.addr, []string{"a@example.net"}, body); smtpCode(err) != 451 {
			t.Fatalf("got %v", err)
		}
	})
	if n := len(mta.Messages()); n != 0 {
		t.Fatalf("%d messages forwarded on failure paths", n)
	}
	if files := r.spoolFiles(t); len(files) != 0 {
		t.Fatalf("spool not emptied: %v", files)
	}
}

func TestDownstreamStoppedGives451(t *testing.T) {
	sock, _ := startAVEServer(t)
	mta := testkit.StartMTA(t, "tcp", false)
	r := startScanner(t, sock, "smtp:"+mta.Addr, "smtp", "")
	mta.Stop()
	if err := send(t, r.addr, []string{"a@example.net"}, "Subject: x\r\n\r\nx\r\n"); smtpCode(err) != 451 {
		t.Fatalf("got %v", err)
	}
}

func TestSpoolLeftoversAreReportedAndRemovedAtStartUp(t *testing.T) {
	sock, _ := startAVEServer(t)
	mta := testkit.StartMTA(t, "tcp", false)
	r := startScanner(t, sock, "smtp:"+mta.Addr, "smtp", "")
	r.p.stop()
	if err := os.WriteFile(filepath.Join(r.spool, "DEADBEEF0001.msg"), []byte("Subject: old\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.run(t)
	if files := r.spoolFiles(t); len(files) != 0 {
		t.Fatalf("leftover kept: %v", files)
	}
	waitFor(t, "report of the leftover DEADBEEF0001.msg in the log", func() bool {
		return strings.Contains(r.p.log.String(), "DEADBEEF0001.msg")
	})
}

func TestLMTPPerRecipientRepliesToAnLMTPDownstream(t *testing.T) {
	sock, _ := startAVEServer(t)
	mta := testkit.StartMTA(t, "unix", true)
	mta.DataErr = func(rcpt string) error {
		if rcpt == "full@example.net" {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
		}
		return nil
	}
	r := startScanner(t, sock, "lmtp:"+mta.Addr, "lmtp", "")
	conn, err := net.Dial("unix", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	c.Mail("s@example.org", nil)
	c.Rcpt("ok@example.net", nil)
	c.Rcpt("full@example.net", nil)
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: lmtp\r\n\r\nhi\r\n")
	resp, err := w.CloseWithLMTPResponse()
	var le smtp.LMTPDataError
	if !errors.As(err, &le) || le["full@example.net"] == nil || le["full@example.net"].Code != 452 || resp["ok@example.net"] == nil {
		t.Fatalf("got %+v, %v", resp, err)
	}
}

func TestStdioModeServesOneLMTPSessionOnAPipe(t *testing.T) {
	sock, _ := startAVEServer(t)
	mta := testkit.StartMTA(t, "tcp", false)
	d := shortDir(t)
	conf := filepath.Join(d, "ave.conf")
	if err := os.WriteFile(conf, []byte(rejectPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "smtpscanner"), "--stdio", "--lmtp", "--socket", sock,
		"--forward", "smtp:"+mta.Addr, "--spool", filepath.Join(d, "spool"), "-c", conf)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var log testkit.SyncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	var transcript []string
	readUntil := func(prefix string) string {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading %q: %v\n%s\n%s", prefix, err, strings.Join(transcript, ""), log.String())
			}
			transcript = append(transcript, l)
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
	}
	io.WriteString(in, "LHLO exim.test\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
	readUntil("354 ")
	// A SIGHUP meant for the daemon (pkill -HUP smtpscanner, logrotate)
	// does not end a --stdio session in the middle of its DATA.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "Subject: clean\r\n\r\nok\r\n.\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n")
	for _, rc := range []string{"a@", "b@"} {
		if l := readUntil("2"); !strings.Contains(l, "<"+rc) {
			t.Fatalf("reply %q", l)
		}
	}
	readUntil("354 ")
	io.WriteString(in, testkit.EICAR+"\r\n.\r\nQUIT\r\n")
	if l := readUntil("5"); !strings.HasPrefix(l, "554 5.7.1 <c@example.net>") || !strings.Contains(l, "EICAR-Test-File") {
		t.Fatalf("EICAR reply %q", l)
	}
	readUntil("221 ")
	in.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, log.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("smtpscanner --stdio did not exit after QUIT")
	}
	if msgs := mta.Messages(); len(msgs) != 1 || strings.Join(msgs[0].Rcpts, ",") != "a@example.net,b@example.net" {
		t.Fatalf("delivered %+v", msgs)
	}
}

func TestAVEServerFrozenOrKilledMidScanGives451(t *testing.T) {
	t.Run("frozen past MaxCheckTime", func(t *testing.T) {
		sock, ave := startAVEServer(t)
		mta := testkit.StartMTA(t, "tcp", false)
		r := startScanner(t, sock, "smtp:"+mta.Addr, "smtp", "MaxCheckTime=1")
		ave.cmd.Process.Signal(syscall.SIGSTOP)
		defer ave.cmd.Process.Signal(syscall.SIGCONT)
		start := time.Now()
		if err := send(t, r.addr, []string{"a@example.net"}, "Subject: x\r\n\r\nx\r\n"); smtpCode(err) != 451 {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v with MaxCheckTime=1", d)
		}
		if len(mta.Messages()) != 0 || len(r.spoolFiles(t)) != 0 {
			t.Fatal("message forwarded or left in the spool")
		}
	})
	t.Run("killed mid-scan", func(t *testing.T) {
		sock, ave := startAVEServer(t)
		mta := testkit.StartMTA(t, "tcp", false)
		r := startScanner(t, sock, "smtp:"+mta.Addr, "smtp", "")
		// Warm the connection, then freeze the daemon so the next scan
		// is surely in progress when it is killed.
		if err := send(t, r.addr, []string{"a@example.net"}, "Subject: warm\r\n\r\nx\r\n"); err != nil {
			t.Fatal(err)
		}
		ave.cmd.Process.Signal(syscall.SIGSTOP)
		done := make(chan error, 1)
		go func() {
			done <- send(t, r.addr, []string{"a@example.net"}, "Subject: x\r\n\r\n"+strings.Repeat("payload ", 100000)+"\r\n")
		}()
		time.Sleep(500 * time.Millisecond)
		ave.cmd.Process.Kill()
		select {
		case err := <-done:
			if smtpCode(err) != 451 {
				t.Fatalf("got %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no reply after aveserver was killed")
		}
		if len(mta.Messages()) != 1 || len(r.spoolFiles(t)) != 0 {
			t.Fatalf("%d forwarded (want only the warm-up), spool %v", len(mta.Messages()), r.spoolFiles(t))
		}
	})
}

func TestBadConfigurationIsRefusedNamingFileSectionAndKey(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "ave.conf")
	os.WriteFile(conf, []byte("[smtpscan.general]\nForwardMailer=uucp:host\n[smtpscan.limits]\nMaxSessions=0\n[smtpscan.group:default]\nRecipientAction=bounce\n"), 0o600)
	cmd := exec.Command(filepath.Join(binDir, "smtpscanner"), "-c", conf)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("started with a bad configuration:\n%s", out)
	}
	for _, want := range []string{conf + ": [smtpscan.general] ForwardMailer=uucp:host", "[smtpscan.group:default] RecipientAction=bounce", "[smtpscan.limits] MaxSessions=0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
