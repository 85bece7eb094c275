package main_test

// The Exim end-to-end test: a real Exim from Debian (unpacked beside
// Postfix, see exim_helpers_test.go) on loopback ports, with smtpscanner
// as its lmtp transport command= (--stdio --lmtp) re-injecting the mail
// it passes into a second port of the same Exim, which delivers it into
// Maildirs: the Kaspersky manual's Exim integration, with the
// re-injection over SMTP as in the Postfix test. Skipped unless the test
// runs as root and apt-get can download the packages.

import (
	"context"
	"fmt"
	"io"
	"net/smtp"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ave/internal/testkit"
	"ave/pkg/scanclient"
)

// eximConf: %[1]s the test root, %[2]d the incoming port, %[3]d the
// re-injection port, %[4]s the exim binary, %[5]s the transport command.
//
// Mail received on the incoming port goes through smtpscanner; mail
// re-injected by it, and bounces Exim generates itself, are delivered.
// exim_user = root keeps every Exim process root, so its re-executions
// keep the loader variables (exim_helpers_test.go); the transports run as
// Debian-exim (Debian's Exim never delivers as root), the user the
// Kaspersky manual's smtpscanner runs as.
const eximConf = `exim_path = %[4]s
keep_environment = LD_PRELOAD : LD_LIBRARY_PATH : NSS_WRAPPER_PASSWD : NSS_WRAPPER_GROUP
primary_hostname = mx.test
qualify_domain = test
exim_user = root
exim_group = root
spool_directory = %[1]s/spool
log_file_path = %[1]s/log/%%slog
daemon_smtp_ports = %[2]d : %[3]d
local_interfaces = 127.0.0.1
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
acl_smtp_rcpt = accept
bounce_return_size_limit = 100K

begin routers

delivered:
  driver = accept
  domains = example.net
  local_parts = rcpt : other : sender
  condition = ${if !eq{$received_port}{%[2]d}}
  transport = maildir

scanned:
  driver = accept
  domains = example.net
  transport = ave_lmtp

begin transports

ave_lmtp:
  driver = lmtp
  command = %[5]s
  user = Debian-exim
  batch_max = 50
  timeout = 2m

maildir:
  driver = appendfile
  directory = %[1]s/mail/${local_part_data}
  maildir_format
  create_directory
  user = Debian-exim

begin retry

*  *  F,1h,1m
`

func TestEximLMTPTransportEndToEnd(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running a private Exim instance needs root")
	}
	root, err := os.MkdirTemp("", "exim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	exim := unpackExim(t, root)

	// The transport runs smtpscanner as Debian-exim: its binary, its
	// configuration, its spool, aveserver's socket and the Maildirs are
	// made reachable for that uid, as an installation would.
	os.Chmod(root, 0o755)
	for _, d := range []string{"bin", "ave", "scanspool", "mail", "log", "spool"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(eximUID)
	for _, d := range []string{"scanspool", "mail", "log"} {
		if err := os.Chown(filepath.Join(root, d), uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	scanner := filepath.Join(root, "bin", "smtpscanner")
	copyFile(t, filepath.Join(binDir, "smtpscanner"), scanner, 0o755)

	sock := filepath.Join(root, "ave", "ave.sock")
	aveConf := filepath.Join(root, "ave", "aveserver.conf")
	if err := os.WriteFile(aveConf, []byte("[aveserver.general]\nSocketMode=0666\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startAVE := func() *proc {
		p := start(t, "aveserver", "-c", aveConf, "--db", "../../etc/db", "--socket", sock)
		waitAVEServer(t, sock, p)
		return p
	}
	ave := startAVE()

	inPort, reinjectPort := freePort(t), freePort(t)
	scanConf := filepath.Join(root, "ave", "ave.conf")
	text := fmt.Sprintf("[smtpscan.general]\nForwardMailer=smtp:127.0.0.1:%d\nSpoolDir=%s\nServerAddress=%s\nHostname=scanner.test\n[smtpscan.limits]\nMaxCheckTime=20\n%s",
		reinjectPort, filepath.Join(root, "scanspool"), sock, rejectPolicy)
	if err := os.WriteFile(scanConf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "exim.conf")
	// Exim runs the command with its stderr joined to stdout (the LMTP
	// channel), and smtpscanner --stdio logs on stderr: the shell sends
	// the log to a file, or Exim would read the log line as the reply.
	// No redirection: smtpscanner itself keeps its log off the joined stdout/stderr pipe.
	command := fmt.Sprintf(`%s --stdio --lmtp -c %s`, scanner, scanConf)
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(eximConf, root, inPort, reinjectPort, exim.bin, command)), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exim.command(conf, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("exim %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	mainlog := func() string {
		b, _ := os.ReadFile(filepath.Join(root, "log", "mainlog"))
		return string(b)
	}

	// The daemon in the foreground (-bdf), no queue runner: a deferred
	// message waits for the explicit -qff below.
	daemon := exim.command(conf, "-bdf")
	var daemonOut testkit.SyncBuffer
	daemon.Stdout, daemon.Stderr = &daemonOut, &daemonOut
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemon.Process.Kill()
		daemon.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(root, "log", "paniclog"))
			t.Logf("exim output:\n%s\nmainlog:\n%s\npaniclog:\n%s", daemonOut.String(), mainlog(), b)
		}
	})
	inAddr := fmt.Sprintf("127.0.0.1:%d", inPort)
	waitTCP(t, inAddr)
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", reinjectPort))

	// A clean message to two recipients (one LMTP transaction), with a
	// leading dot and a 3,000-character line.
	clean := "From: sender@example.net\r\nTo: rcpt@example.net, other@example.net\r\nDate: Sun, 22 Nov 2026 06:00:00 +0000\r\n" +
		"Message-ID: <exim-clean@example.net>\r\nSubject: clean\r\n\r\n" +
		".leading dot\r\n" + strings.Repeat("long line ", 300) + "\r\n\tindented \xc3\xa9\r\nbye\r\n"
	if err := smtp.SendMail(inAddr, nil, "sender@example.net", []string{"rcpt@example.net", "other@example.net"}, []byte(clean)); err != nil {
		t.Fatal(err)
	}
	infected := strings.Replace(string(testkit.Mail("eicar.com", []byte(testkit.EICAR))),
		"From: sender@example.org\r\n", "From: sender@example.net\r\n", 1)
	if err := smtp.SendMail(inAddr, nil, "sender@example.net", []string{"rcpt@example.net"}, []byte(infected)); err != nil {
		t.Fatal(err)
	}

	// The clean message reaches both Maildirs unchanged but for
	// smtpscanner's header and Exim's Received lines (Maildirs store LF).
	want := strings.ReplaceAll(clean, "\r\n", "\n")
	for _, rc := range []string{"rcpt", "other"} {
		got := waitMaildir(t, filepath.Join(root, "mail", rc), 1)
		if err := checkScanned(got[0], want); err != nil {
			t.Fatalf("%s: %v\ndelivered:\n%s", rc, err, got[0])
		}
	}
	// The infected one is bounced to the sender naming the virus.
	bounce := waitMaildir(t, filepath.Join(root, "mail", "sender"), 1)
	if !strings.Contains(bounce[0], "554 5.7.1") || !strings.Contains(bounce[0], "EICAR-Test-File") {
		t.Fatalf("bounce:\n%s", bounce[0])
	}
	waitQueueEmpty(t, run)
	if n := len(readMaildir(t, filepath.Join(root, "mail", "rcpt"))); n != 1 {
		t.Fatalf("rcpt got %d messages, want only the clean one", n)
	}

	// aveserver stopped: smtpscanner answers 451, Exim keeps the message
	// queued; once aveserver is back, a forced queue run delivers it.
	ave.stop()
	retry := "From: sender@example.net\r\nTo: rcpt@example.net\r\nDate: Sun, 22 Nov 2026 06:00:00 +0000\r\n" +
		"Message-ID: <exim-retry@example.net>\r\nSubject: retry\r\n\r\nkept in the queue\r\n"
	if err := smtp.SendMail(inAddr, nil, "sender@example.net", []string{"rcpt@example.net"}, []byte(retry)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a deferral in the mainlog", func() bool {
		return strings.Contains(mainlog(), "== rcpt@example.net R=scanned T=ave_lmtp defer")
	})
	if !strings.Contains(mainlog(), "LMTP error after end of data: 451 4.") {
		t.Fatalf("the deferral does not carry smtpscanner's 451:\n%s", mainlog())
	}
	if n := strings.TrimSpace(run("-bpc")); n != "1" {
		t.Fatalf("%s messages queued after the temporary failure, want 1:\n%s", n, run("-bp"))
	}
	if n := len(readMaildir(t, filepath.Join(root, "mail", "rcpt"))); n != 1 {
		t.Fatalf("rcpt got %d messages while aveserver was down", n)
	}
	startAVE()
	run("-qff")
	got := waitMaildir(t, filepath.Join(root, "mail", "rcpt"), 2)
	var found bool
	for _, m := range got {
		if strings.Contains(m, "<exim-retry@example.net>") {
			found = true
			if err := checkScanned(m, strings.ReplaceAll(retry, "\r\n", "\n")); err != nil {
				t.Fatalf("retried message: %v\n%s", err, m)
			}
		}
	}
	if !found {
		t.Fatalf("the queued message was not delivered after -qff:\n%v", got)
	}
	waitQueueEmpty(t, run)
	if ents, _ := os.ReadDir(filepath.Join(root, "scanspool")); len(ents) != 0 {
		t.Fatalf("smtpscanner spool not emptied: %v", ents)
	}
}

// checkScanned checks a delivered message: Exim's Received headers, then
// smtpscanner's header, then the message exactly as it was sent, after
// the Received header of the first reception.
func checkScanned(got, sent string) error {
	rest := skipReceived(got)
	const hdr = "X-Virus-Scanned: AVE smtpscanner\n"
	if !strings.HasPrefix(rest, hdr) {
		return fmt.Errorf("no %q after the Received headers", strings.TrimSpace(hdr))
	}
	if rest = skipReceived(rest[len(hdr):]); rest != sent {
		return fmt.Errorf("message differs:\n got %q\nwant %q", rest, sent)
	}
	return nil
}

// skipReceived drops leading Received: header fields and their
// continuation lines.
func skipReceived(s string) string {
	for strings.HasPrefix(s, "Received:") {
		for {
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
			if s == "" || (s[0] != ' ' && s[0] != '\t') {
				break
			}
		}
	}
	return s
}

func waitQueueEmpty(t *testing.T, run func(...string) string) {
	t.Helper()
	waitFor(t, "an empty Exim queue", func() bool { return strings.TrimSpace(run("-bpc")) == "0" })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s after 30s", what)
}

// waitAVEServer waits until the aveserver at sock answers.
func waitAVEServer(t *testing.T, sock string, p *proc) {
	t.Helper()
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
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
