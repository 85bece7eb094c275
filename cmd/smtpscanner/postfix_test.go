package main_test

// The Postfix end-to-end test: a real Postfix from Debian on loopback
// ports, content_filter to smtpscanner, re-injection on a second smtpd,
// delivery into Maildirs by virtual(8). Skipped where Postfix is not
// installed (apt-get install postfix) or the test does not run as root.

import (
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ave/internal/testkit"
)

const postfixBin = "/usr/sbin/postfix"

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// postfixMaster lists the services this instance needs, none chrooted.
const postfixMaster = `
127.0.0.1:%[1]d inet n - n - - smtpd
127.0.0.1:%[2]d inet n - n - - smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
  -o smtpd_client_restrictions=
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o mynetworks=127.0.0.0/8
smtp-ave unix - - n - 2 smtp
  -o smtp_data_done_timeout=1200
  -o smtp_send_xforward_command=yes
  -o smtp_line_length_limit=0
  -o disable_dns_lookups=yes
  -o max_use=20
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
local     unix  - n n -  - local
virtual   unix  - n n -  - virtual
lmtp      unix  - - n -  - lmtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
`

const postfixMain = `compatibility_level = 3.6
config_directory = %[1]s/etc
queue_directory = %[1]s/queue
data_directory = %[1]s/data
meta_directory = /etc/postfix
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test
mydomain = test
myorigin = test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
smtpd_banner = $myhostname ESMTP
disable_dns_lookups = yes
smtp_dns_support_level = disabled
biff = no
content_filter = smtp-ave:[127.0.0.1]:%[2]d
virtual_mailbox_domains = example.net
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = texthash:%[1]s/etc/vmailbox
virtual_uid_maps = static:%[3]s
virtual_gid_maps = static:%[4]s
smtpd_recipient_restrictions = permit_mynetworks, reject
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
`

func TestPostfixContentFilterEndToEnd(t *testing.T) {
	if _, err := os.Stat(postfixBin); err != nil {
		t.Skip("Postfix not installed (apt-get install postfix)")
	}
	if os.Getuid() != 0 {
		t.Skip("running a private Postfix instance needs root")
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Skip("no postfix user")
	}
	sock, _ := startAVEServer(t)

	root, err := os.MkdirTemp("", "pf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	for _, d := range []string{"etc", "queue", "data", "mail"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(root, 0o755)
	exec.Command("chown", pf.Uid+":"+pf.Gid, filepath.Join(root, "mail"), filepath.Join(root, "data")).Run()

	inPort, reinjectPort, scanPort := freePort(t), freePort(t), freePort(t)
	files := map[string]string{
		"etc/main.cf":   fmt.Sprintf(postfixMain, root, scanPort, pf.Uid, pf.Gid),
		"etc/master.cf": fmt.Sprintf(postfixMaster, inPort, reinjectPort),
		"etc/vmailbox":  "rcpt@example.net example.net/rcpt/\nsender@example.net example.net/sender/\nother@example.net example.net/other/\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(root, "etc")
	postfix := func(args ...string) {
		out, err := exec.Command(postfixBin, append([]string{"-c", conf}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("postfix %v: %v\n%s", args, err, out)
		}
	}

	// smtpscanner on the content_filter port, re-injecting into the
	// second smtpd.
	d := shortDir(t)
	r := &scannerRig{addr: fmt.Sprintf("127.0.0.1:%d", scanPort), spool: filepath.Join(d, "spool"), conf: filepath.Join(d, "ave.conf")}
	// other@ is in a group that takes infected mail as it is (tagged):
	// a message to rcpt@ and other@ is rejected for one, delivered to the
	// other.
	lenient := "[smtpscan.group:lenient]\nRecipients=^other@\nInfectedRecipientAction=unchanged\nCuredRecipientAction=unchanged\nQuarantine=no\n"
	scanConf := fmt.Sprintf("[smtpscan.general]\nListenAddress=%s\nForwardMailer=smtp:127.0.0.1:%d\nSpoolDir=%s\nServerAddress=%s\nHostname=scanner.test\n%s%s",
		r.addr, reinjectPort, r.spool, sock, lenient, rejectPolicy)
	if err := os.WriteFile(r.conf, []byte(scanConf), 0o600); err != nil {
		t.Fatal(err)
	}
	r.p = start(t, "smtpscanner", "-c", r.conf)
	waitTCP(t, r.addr)

	postfix("start")
	t.Cleanup(func() {
		exec.Command(postfixBin, "-c", conf, "abort").Run()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(root, "maillog"))
			t.Logf("maillog:\n%s", b)
		}
	})
	inAddr := fmt.Sprintf("127.0.0.1:%d", inPort)
	waitTCP(t, inAddr)

	clean := "From: sender@example.net\r\nTo: rcpt@example.net\r\nMessage-ID: <pf-clean@example.net>\r\nSubject: clean\r\n\r\n" +
		".leading dot\r\n" + strings.Repeat("long line ", 300) + "\r\nbye\r\n"
	if err := smtp.SendMail(inAddr, nil, "sender@example.net", []string{"rcpt@example.net"}, []byte(clean)); err != nil {
		t.Fatal(err)
	}
	infected := string(testkit.Mail("eicar.com", []byte(testkit.EICAR)))
	infected = strings.Replace(infected, "From: sender@example.org\r\nTo: rcpt@example.net\r\n", "From: sender@example.net\r\nTo: rcpt@example.net\r\n", 1)
	if err := smtp.SendMail(inAddr, nil, "sender@example.net", []string{"rcpt@example.net"}, []byte(infected)); err != nil {
		t.Fatal(err)
	}

	// The clean message reaches rcpt's Maildir with our header; the
	// infected one is bounced to the sender, naming the virus.
	got := waitMaildir(t, filepath.Join(root, "mail", "example.net", "rcpt"), 1)
	if !strings.Contains(got[0], "X-Virus-Scanned: AVE smtpscanner\n") || !strings.Contains(got[0], "\n.leading dot\n"+strings.Repeat("long line ", 300)+"\nbye\n") {
		t.Fatalf("delivered message:\n%s", got[0])
	}
	bounce := waitMaildir(t, filepath.Join(root, "mail", "example.net", "sender"), 1)
	if !strings.Contains(bounce[0], "EICAR-Test-File") || !strings.Contains(bounce[0], "554 5.7.1") {
		t.Fatalf("bounce:\n%s", bounce[0])
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(readMaildir(t, filepath.Join(root, "mail", "example.net", "rcpt"))); n != 1 {
		t.Fatalf("rcpt got %d messages, want only the clean one", n)
	}
	// XFORWARD: smtpscanner logged the original client, not Postfix.
	if log := r.p.log.String(); !strings.Contains(log, "client=127.0.0.1") {
		t.Fatalf("no XFORWARD client in the log:\n%s", log)
	}
	// ... and passed it on: the re-injecting smtpd logs it as orig_client
	// (Postfix writes that only for an XFORWARD client).
	waitFor(t, "orig_client= in Postfix's log", func() bool {
		b, _ := os.ReadFile(filepath.Join(root, "maillog"))
		return strings.Contains(string(b), "orig_client=")
	})

	// EICAR to rcpt@ (rejected) and other@ (delivered) in one
	// transaction: Postfix gets 250 and bounces nothing; other@ has the
	// tagged copy, and the sender gets smtpscanner's DSN for rcpt@ alone,
	// delivered by Postfix like any mail.
	if err := smtp.SendMail(inAddr, nil, "sender@example.net", []string{"rcpt@example.net", "other@example.net"}, []byte(infected)); err != nil {
		t.Fatal(err)
	}
	got = waitMaildir(t, filepath.Join(root, "mail", "example.net", "other"), 1)
	if !strings.Contains(got[0], "X-AVE-Status: ") {
		t.Fatalf("other@'s copy:\n%s", got[0])
	}
	mails := waitMaildir(t, filepath.Join(root, "mail", "example.net", "sender"), 2)
	var dsn string
	for _, m := range mails {
		if strings.Contains(m, "scanner.test") && strings.Contains(m, "multipart/report") {
			dsn = m
		}
	}
	if dsn == "" || !strings.Contains(dsn, "Final-Recipient: rfc822; rcpt@example.net") || strings.Contains(dsn, "Final-Recipient: rfc822; other@") ||
		!strings.Contains(dsn, "554 5.7.1") {
		t.Fatalf("no DSN from smtpscanner for rcpt@ alone among the sender's mail:\n%s", strings.Join(mails, "\n-----\n"))
	}
	time.Sleep(time.Second)
	if n := len(readMaildir(t, filepath.Join(root, "mail", "example.net", "sender"))); n != 2 {
		t.Fatalf("the sender got %d messages, want the first bounce and the DSN (no bounce from Postfix for other@)", n)
	}
	if n := len(readMaildir(t, filepath.Join(root, "mail", "example.net", "rcpt"))); n != 1 {
		t.Fatalf("rcpt got %d messages, want only the clean one", n)
	}
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

func readMaildir(t *testing.T, dir string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(dir, "new"))
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, "new", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func waitMaildir(t *testing.T, dir string, n int) []string {
	t.Helper()
	for i := 0; i < 300; i++ {
		if got := readMaildir(t, dir); len(got) >= n {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: fewer than %d messages after 30s", dir, n)
	return nil
}
