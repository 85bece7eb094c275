package main_test

// End-to-end tests of the mail policy (docs/POLICY.md): the example
// configurations of etc/examples/ (the manual's sections 5.2.1-5.2.5) run
// by the real smtpscanner against the real aveserver, with a fake
// downstream MTA that receives both the mail and the notifications.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"ave/internal/testkit"
	"ave/pkg/quarantine"
)

// policyRig is smtpscanner with an example configuration, its quarantine
// and report file in a temp dir.
type policyRig struct {
	*scannerRig
	mta    *testkit.FakeMTA
	qdir   string
	key    string
	report string
}

// startPolicy runs smtpscanner with [smtpscan.general] for the test and
// the example file's sections, its paths moved into a temp dir.
func startPolicy(t *testing.T, aveSock, example string) *policyRig {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("../../etc/examples", example))
	if err != nil {
		t.Fatal(err)
	}
	d := shortDir(t)
	p := &policyRig{mta: testkit.StartMTA(t, "tcp", false), qdir: filepath.Join(d, "q"), key: filepath.Join(d, "q.key"), report: filepath.Join(d, "report.log")}
	p.scannerRig = &scannerRig{addr: filepath.Join(d, "smtp.sock"), spool: filepath.Join(d, "spool"), conf: filepath.Join(d, "ave.conf")}
	ex := strings.ReplaceAll(string(text), "/var/db/Quarantine", p.qdir)
	ex = strings.ReplaceAll(ex, "/tmp/report.log", p.report)
	// Groups without a QuarantinePath keep the default one: move it too.
	ex = regexp.MustCompile(`(?m)^(\[smtpscan\.group:[^\]]+\])$`).ReplaceAllString(ex, "$1\nQuarantinePath="+p.qdir)
	ex = dedupeQuarantinePath(ex)
	conf := fmt.Sprintf("[smtpscan.general]\nListenAddress=%s\nForwardMailer=smtp:%s\nSpoolDir=%s\nServerAddress=%s\nHostname=scanner.test\nQuarantineKeyFile=%s\n[smtpscan.limits]\nMaxCheckTime=20\n\n%s",
		p.addr, p.mta.Addr, p.spool, aveSock, p.key, ex)
	if !strings.Contains(conf, "[smtpscan.report]") {
		conf += "\n[smtpscan.report]\nShowOk=yes\nReportFileName=" + p.report + "\n"
	}
	if err := os.WriteFile(p.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(p.spool, 0o700)
	p.run(t)
	return p
}

// dedupeQuarantinePath keeps the example's own QuarantinePath of a group
// when it has one (the inserted line comes first: drop it).
func dedupeQuarantinePath(conf string) string {
	var out []string
	sections := strings.Split(conf, "\n[")
	for i, s := range sections {
		if strings.Count(s, "\nQuarantinePath=") > 1 {
			s = strings.Replace(s, "\nQuarantinePath=", "\nX-drop=", 1)
			lines := strings.Split(s, "\n")
			kept := lines[:0]
			for _, l := range lines {
				if !strings.HasPrefix(l, "X-drop=") {
					kept = append(kept, l)
				}
			}
			s = strings.Join(kept, "\n")
		}
		if i > 0 {
			s = "[" + s
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// sendFrom sends body from sender to rcpts over the rig's unix socket.
func sendFrom(t *testing.T, addr, sender string, rcpts []string, body string) error {
	t.Helper()
	return sendOpts(t, addr, sender, &smtp.MailOptions{Body: smtp.Body8BitMIME}, rcpts, nil, body)
}

// sendOpts is sendFrom with MAIL and RCPT parameters (rcptOpts[i] for
// rcpts[i], nil for none).
func sendOpts(t *testing.T, addr, sender string, mailOpts *smtp.MailOptions, rcpts []string, rcptOpts []*smtp.RcptOptions, body string) error {
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
	if err := c.Mail(sender, mailOpts); err != nil {
		return err
	}
	for i, r := range rcpts {
		var o *smtp.RcptOptions
		if i < len(rcptOpts) {
			o = rcptOpts[i]
		}
		if err := c.Rcpt(r, o); err != nil {
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

// delivered sorts what the fake MTA received: copies of the message (by
// recipient) and notifications (by kind and recipient).
type delivered struct {
	copies map[string][]byte // recipient -> message
	notes  map[string][]byte // "kind recipient" -> notification
	order  []string
}

func collect(t *testing.T, mta *testkit.FakeMTA) delivered {
	t.Helper()
	d := delivered{copies: map[string][]byte{}, notes: map[string][]byte{}}
	for _, m := range mta.Messages() {
		kind := ""
		if msg, err := mail.ReadMessage(bytes.NewReader(m.Data)); err == nil {
			kind = msg.Header.Get("X-AVE-Notification")
		}
		for _, r := range m.Rcpts {
			if kind != "" {
				if m.From != "" {
					t.Errorf("notification to %s has envelope sender %q, want null", r, m.From)
				}
				d.notes[kind+" "+r] = m.Data
				d.order = append(d.order, kind+" "+r)
			} else {
				d.copies[r] = m.Data
				d.order = append(d.order, "copy "+r)
			}
		}
	}
	return d
}

func (d delivered) wantNotes(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	for k := range d.notes {
		got = append(got, k)
	}
	if len(got) != len(want) {
		t.Fatalf("notifications %v, want %v (all: %v)", got, want, d.order)
	}
	for _, w := range want {
		if d.notes[w] == nil {
			t.Fatalf("no %q notification; got %v", w, got)
		}
	}
}

// parts returns the decoded leaf parts of a message: content type,
// file name, body.
type part struct {
	ctype, filename string
	body            []byte
}

func parts(t *testing.T, raw []byte) []part {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("unparsable message: %v\n%s", err, raw)
	}
	var out []part
	var walk func(ctype string, h map[string][]string, r io.Reader)
	walk = func(ctype string, h map[string][]string, r io.Reader) {
		mt, params, _ := mime.ParseMediaType(ctype)
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(r, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return
				}
				walk(p.Header.Get("Content-Type"), p.Header, p)
			}
		}
		body, _ := io.ReadAll(r)
		if enc := strings.ToLower(first(h["Content-Transfer-Encoding"])); enc == "base64" {
			body = decodeB64(body)
		} else if enc == "quoted-printable" {
			body = decodeQP(body)
		}
		_, dp, _ := mime.ParseMediaType(first(h["Content-Disposition"]))
		out = append(out, part{ctype: mt, filename: dp["filename"], body: body})
	}
	walk(msg.Header.Get("Content-Type"), msg.Header, msg.Body)
	return out
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func hasPart(ps []part, f func(part) bool) bool {
	for _, p := range ps {
		if f(p) {
			return true
		}
	}
	return false
}

func containsEICAR(raw []byte) bool {
	return bytes.Contains(raw, []byte(testkit.EICAR)) || bytes.Contains(raw, []byte("WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElW"))
}

// quarantined lists the rig's quarantine entries.
func (p *policyRig) quarantined(t *testing.T) []quarantine.Entry {
	t.Helper()
	if _, err := os.Stat(p.qdir); os.IsNotExist(err) {
		return nil
	}
	s, err := quarantine.Open(p.qdir, p.key)
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func (p *policyRig) reportLines(t *testing.T) []string {
	t.Helper()
	b, _ := os.ReadFile(p.report)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// Messages of the tests.
var (
	infectedAttachment = func() string { return string(testkit.Mail("eicar.com", []byte(testkit.EICAR))) }
	infectedBody       = "From: sender@example.org\r\nTo: a@example.com\r\nSubject: plain virus\r\nMessage-ID: <body-1@example.org>\r\n\r\n" + testkit.EICAR + "\r\n"
	cleanMail          = "From: sender@example.org\r\nSubject: hello\r\nMessage-ID: <clean-2@example.org>\r\n\r\nJust text.\r\n"
)

func TestPolicyExample521CuresAttachmentsAndNotifiesEveryone(t *testing.T) {
	sock, _ := startAVEServer(t)
	p := startPolicy(t, sock, "5.2.1-clean-and-cured.conf")

	// A curable message: the EICAR attachment is cut out.
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"a@example.com"}, infectedAttachment()); err != nil {
		t.Fatalf("infected attachment: %v", err)
	}
	d := collect(t, p.mta)
	cp := d.copies["a@example.com"]
	if cp == nil || containsEICAR(cp) {
		t.Fatalf("cured copy missing or still infected:\n%s", cp)
	}
	ps := parts(t, cp)
	if !hasPart(ps, func(x part) bool { return bytes.Contains(x.body, []byte("Hello.")) }) ||
		!hasPart(ps, func(x part) bool {
			return bytes.Contains(x.body, []byte(`removed "eicar.com"`)) && bytes.Contains(x.body, []byte("EICAR-Test-File"))
		}) ||
		!hasPart(ps, func(x part) bool { return x.filename == "ave-report.txt" }) {
		t.Fatalf("cured copy lacks the text, the notice or the report: %+v", ps)
	}
	if !bytes.Contains(cp, []byte("X-AVE-Status: CURED EICAR-Test-File")) {
		t.Fatalf("no status header:\n%s", cp)
	}
	d.wantNotes(t, "sender sender@example.org", "recipient a@example.com", "admin postmaster@example.com")
	// AdminAction=unchanged: the administrator gets the original.
	if !containsEICAR(d.notes["admin postmaster@example.com"]) {
		t.Fatal("admin notification lacks the unchanged original")
	}
	if containsEICAR(d.notes["sender sender@example.org"]) || containsEICAR(d.notes["recipient a@example.com"]) {
		t.Fatal("the virus was sent back in a notification")
	}

	// An uncurable message: the recipient gets no copy, only a notice
	// with the report; everything goes to quarantine.
	p.mta.Reset()
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"a@example.com"}, infectedBody); err != nil {
		t.Fatalf("infected body: %v", err)
	}
	d = collect(t, p.mta)
	if len(d.copies) != 0 {
		t.Fatalf("uncurable message delivered: %v", d.order)
	}
	d.wantNotes(t, "sender sender@example.org", "recipient a@example.com", "admin postmaster@example.com")
	if !hasPart(parts(t, d.notes["recipient a@example.com"]), func(x part) bool { return x.filename == "report.txt" }) {
		t.Fatal("recipient notification lacks the report (RecipientAttachReport=yes, no copy)")
	}
	var kinds []string
	for _, e := range p.quarantined(t) {
		kinds = append(kinds, e.Kind+":"+e.Status)
	}
	if strings.Join(kinds, ",") != "part:CURED,message:INFECTED" && strings.Join(kinds, ",") != "message:INFECTED,part:CURED" {
		t.Fatalf("quarantine holds %v, want the cured part and the infected message", kinds)
	}

	// A clean message: delivered, reported (ShowOk=yes), nobody notified.
	p.mta.Reset()
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"a@example.com"}, cleanMail); err != nil {
		t.Fatal(err)
	}
	d = collect(t, p.mta)
	if string(d.copies["a@example.com"]) != "X-Virus-Scanned: AVE smtpscanner\r\n"+cleanMail || len(d.notes) != 0 {
		t.Fatalf("clean mail: %v %q", d.order, d.copies["a@example.com"])
	}
	lines := p.reportLines(t)
	if len(lines) != 3 || !strings.Contains(lines[0], "status=CURED") || !strings.Contains(lines[0], "names=EICAR-Test-File") ||
		!strings.Contains(lines[0], "message_id=<t1@example.org>") || !strings.Contains(lines[1], "status=INFECTED") || !strings.Contains(lines[2], "status=CLEAN") {
		t.Fatalf("report file:\n%s", strings.Join(lines, "\n"))
	}
	if fi, err := os.Stat(p.report); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("report file mode: %v %v", fi.Mode(), err)
	}
}

func TestPolicyExample522UrgentGroupGetsEverythingOthersCuredSplitDelivery(t *testing.T) {
	sock, _ := startAVEServer(t)
	p := startPolicy(t, sock, "5.2.2-deliver-all-to-urgent.conf")
	rcpts := []string{"urgent@example.com", "x@lab.example.com", "b@example.net"}
	if err := sendFrom(t, p.addr, "sender@example.org", rcpts, infectedAttachment()); err != nil {
		t.Fatal(err)
	}
	d := collect(t, p.mta)
	for _, r := range rcpts[:2] {
		if !containsEICAR(d.copies[r]) || !hasPart(parts(t, d.copies[r]), func(x part) bool { return x.filename == "ave-report.txt" }) {
			t.Fatalf("urgent %s: want the unchanged message with the report:\n%s", r, d.copies[r])
		}
	}
	if cp := d.copies["b@example.net"]; cp == nil || containsEICAR(cp) {
		t.Fatalf("default group: want the cured copy:\n%s", cp)
	}
	if n := len(p.mta.Messages()); n < 2 {
		t.Fatalf("want split delivery, %d transactions", n)
	}
	// One admin notification per group (same address), sender notified
	// per group, each recipient notified.
	if _, ok := d.notes["admin postmaster@example.com"]; !ok {
		t.Fatal("no admin notification")
	}
	for _, r := range rcpts {
		if d.notes["recipient "+r] == nil {
			t.Fatalf("recipient %s not notified: %v", r, d.order)
		}
	}
	// Only the default group quarantines (urgent has Quarantine=no); its
	// entry names only its own recipient.
	es := p.quarantined(t)
	if len(es) != 1 || es[0].Group != "default" || strings.Join(es[0].Rcpts, ",") != "b@example.net" {
		t.Fatalf("quarantine: %+v", es)
	}
}

func TestPolicyExample523ProtectedArchivesDeliveredQuietly(t *testing.T) {
	sock, _ := startAVEServer(t)
	p := startPolicy(t, sock, "5.2.3-protected-archives.conf")
	enc := string(testkit.Mail("secret.zip", testkit.EncryptedZip(t, "doc.txt", []byte("secret text"))))
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"a@example.com"}, enc); err != nil {
		t.Fatal(err)
	}
	d := collect(t, p.mta)
	want := "X-Virus-Scanned: AVE smtpscanner\r\nX-AVE-Status: PROTECTED"
	if cp := d.copies["a@example.com"]; !bytes.HasPrefix(cp, []byte(want)) || !bytes.HasSuffix(cp, []byte(enc)) {
		t.Fatalf("protected: want the unchanged message with headers only:\n%.300s", cp)
	}
	d.wantNotes(t)

	// The same group reports and notifies the administrator about other
	// findings.
	p.mta.Reset()
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"a@example.com"}, infectedAttachment()); err != nil {
		t.Fatal(err)
	}
	d = collect(t, p.mta)
	if !hasPart(parts(t, d.copies["a@example.com"]), func(x part) bool { return x.filename == "ave-report.txt" }) {
		t.Fatal("cured copy without the report")
	}
	d.wantNotes(t, "admin postmaster@example.com")
}

func TestPolicyExample524BlocksAndQuarantinesTheOriginal(t *testing.T) {
	sock, _ := startAVEServer(t)
	p := startPolicy(t, sock, "5.2.4-block-delivery.conf")
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"a@example.com", "b@example.com"}, infectedBody); err != nil {
		t.Fatalf("the MTA must get 250 (the message is in quarantine): %v", err)
	}
	d := collect(t, p.mta)
	if len(d.copies) != 0 {
		t.Fatalf("blocked message delivered: %v", d.order)
	}
	d.wantNotes(t, "sender sender@example.org", "recipient a@example.com", "recipient b@example.com", "admin postmaster@example.com")
	es := p.quarantined(t)
	if len(es) != 1 || es[0].Kind != "message" || es[0].Status != "INFECTED" || es[0].From != "sender@example.org" ||
		strings.Join(es[0].Rcpts, ",") != "a@example.com,b@example.com" || es[0].MessageID != "<body-1@example.org>" {
		t.Fatalf("quarantine: %+v", es)
	}
	s, _ := quarantine.Open(p.qdir, p.key)
	var buf bytes.Buffer
	if _, err := s.WriteTo(es[0].ID, &buf); err != nil || buf.String() != infectedBody {
		t.Fatalf("quarantined bytes differ (%v):\n%q", err, buf.String())
	}
	// Encrypted at rest: no file of the store holds the plain message.
	files, _ := filepath.Glob(filepath.Join(p.qdir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("EICAR-STANDARD")) {
			t.Fatalf("%s holds the message in clear", f)
		}
	}
}

func TestPolicyExample525FiltersExecutablesForUsers(t *testing.T) {
	sock, _ := startAVEServer(t)
	p := startPolicy(t, sock, "5.2.5-filter-attachments.conf")
	exe := string(testkit.Mail("setup.exe", []byte("MZ harmless test program")))
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"user@example.com", "other@example.org"}, exe); err != nil {
		t.Fatal(err)
	}
	d := collect(t, p.mta)
	// users: the .exe is cut out (Filtered, RecipientAction=remove).
	cp := d.copies["user@example.com"]
	ps := parts(t, cp)
	if hasPart(ps, func(x part) bool { return x.filename == "setup.exe" }) ||
		!hasPart(ps, func(x part) bool { return bytes.Contains(x.body, []byte(`removed "setup.exe"`)) }) ||
		!hasPart(ps, func(x part) bool { return bytes.Contains(x.body, []byte("Hello.")) }) {
		t.Fatalf("users copy: %+v", ps)
	}
	// default group: no filter, the message is clean and unchanged.
	if string(d.copies["other@example.org"]) != "X-Virus-Scanned: AVE smtpscanner\r\n"+exe {
		t.Fatalf("default group copy changed:\n%s", d.copies["other@example.org"])
	}
	d.wantNotes(t, "sender sender@example.org", "recipient user@example.com", "admin postmaster@example.com")
	es := p.quarantined(t)
	if len(es) != 1 || es[0].Kind != "part" || es[0].Status != "FILTERED" || es[0].PartName != "setup.exe" || es[0].Group != "users" {
		t.Fatalf("quarantine: %+v", es)
	}

	// Encrypted archives: delivered to users unchanged, recipient told,
	// neither sender nor admin.
	p.mta.Reset()
	enc := string(testkit.Mail("secret.zip", testkit.EncryptedZip(t, "doc.txt", []byte("secret text"))))
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"user@example.com"}, enc); err != nil {
		t.Fatal(err)
	}
	d = collect(t, p.mta)
	if !bytes.HasSuffix(d.copies["user@example.com"], []byte(enc)) {
		t.Fatal("protected message not delivered unchanged")
	}
	d.wantNotes(t, "recipient user@example.com")
}

func TestPolicyNoNotificationsToNullSenderOrAboutAutomaticMail(t *testing.T) {
	sock, _ := startAVEServer(t)
	p := startPolicy(t, sock, "5.2.1-clean-and-cured.conf")
	// A bounce (null sender) carrying a virus: no sender notification.
	if err := sendFrom(t, p.addr, "", []string{"a@example.com"}, infectedAttachment()); err != nil {
		t.Fatal(err)
	}
	d := collect(t, p.mta)
	d.wantNotes(t, "recipient a@example.com", "admin postmaster@example.com")

	// An automatic message (for example another filter's notification):
	// nobody is notified, so two filters cannot ping-pong.
	p.mta.Reset()
	auto := strings.Replace(infectedAttachment(), "Subject: test\r\n", "Subject: test\r\nAuto-Submitted: auto-generated\r\n", 1)
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"a@example.com"}, auto); err != nil {
		t.Fatal(err)
	}
	d = collect(t, p.mta)
	d.wantNotes(t)
	if cp := d.copies["a@example.com"]; cp == nil || containsEICAR(cp) {
		t.Fatal("the automatic message must still be cured and delivered")
	}
}

func decodeB64(b []byte) []byte {
	out, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, b))))
	if err != nil {
		return b
	}
	return out
}

func decodeQP(b []byte) []byte {
	out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
	if err != nil {
		return b
	}
	return out
}

// startPolicyText runs smtpscanner with the given group sections.
func startPolicyText(t *testing.T, aveSock, sections string) *policyRig {
	t.Helper()
	d := shortDir(t)
	name := filepath.Join(d, "policy.conf")
	if err := os.WriteFile(name, []byte(sections), 0o600); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../../etc/examples")
	rel, err := filepath.Rel(abs, name)
	if err != nil {
		t.Fatal(err)
	}
	return startPolicy(t, aveSock, rel)
}

func TestPolicyFilterByRealTypeSubjectTagAndUncheckedGroup(t *testing.T) {
	sock, _ := startAVEServer(t)
	p := startPolicyText(t, sock, `
[smtpscan.group:raw]
Recipients=^raw@example\.com$
Check=no

[smtpscan.group:default]
FilterByType=^pe$
FilterByMIME=^application/x-msdownload$
FilteredRecipientAction=remove
FilteredSubjectTag=[FILTERED]
CuredSubjectTag=[CURED]
`)
	// An executable renamed to .txt is found by its real type.
	pe := make([]byte, 0x200) // a DOS header pointing at "PE\0\0": harmless
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	renamed := string(testkit.Mail("notes.txt", pe))
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"a@example.com", "raw@example.com"}, renamed); err != nil {
		t.Fatal(err)
	}
	d := collect(t, p.mta)
	cp := d.copies["a@example.com"]
	ps := parts(t, cp)
	if hasPart(ps, func(x part) bool { return x.filename == "notes.txt" }) || !hasPart(ps, func(x part) bool { return bytes.Contains(x.body, []byte("FILTERED by type pe")) }) {
		t.Fatalf("renamed executable not filtered: %+v", ps)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(cp))
	if err != nil || msg.Header.Get("Subject") != "[FILTERED] test" {
		t.Fatalf("subject tag: %v %q", err, msg.Header.Get("Subject"))
	}
	// Check=no: delivered as it came, no header added.
	if string(d.copies["raw@example.com"]) != renamed {
		t.Fatalf("unchecked group copy changed:\n%s", d.copies["raw@example.com"])
	}
	es := p.quarantined(t)
	if len(es) != 1 || es[0].Kind != "part" || es[0].PartName != "notes.txt" {
		t.Fatalf("quarantine: %+v", es)
	}

	// Declared type filter.
	p.mta.Reset()
	declared := strings.Replace(string(testkit.Mail("tool.bin", []byte("plain bytes"))), "application/octet-stream", "application/x-msdownload", 1)
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"a@example.com"}, declared); err != nil {
		t.Fatal(err)
	}
	d = collect(t, p.mta)
	if !hasPart(parts(t, d.copies["a@example.com"]), func(x part) bool {
		return bytes.Contains(x.body, []byte("FILTERED by MIME type application/x-msdownload"))
	}) {
		t.Fatalf("declared type not filtered:\n%s", d.copies["a@example.com"])
	}

	// Only unchecked recipients: the message is not scanned at all.
	p.mta.Reset()
	if err := sendFrom(t, p.addr, "sender@example.org", []string{"raw@example.com"}, infectedAttachment()); err != nil {
		t.Fatal(err)
	}
	if d := collect(t, p.mta); string(d.copies["raw@example.com"]) != infectedAttachment() {
		t.Fatal("unchecked group: message changed")
	}
	// The log reaches the test through a pipe, maybe after the reply.
	waitFor(t, "log line of the message unscanned (status=UNSCANNED)", func() bool {
		return strings.Contains(p.p.log.String(), "status=UNSCANNED")
	})
}

func TestPolicyQuarantinedMessageIsReleasedByAvectl(t *testing.T) {
	sock, _ := startAVEServer(t)
	p := startPolicy(t, sock, "5.2.4-block-delivery.conf")
	// The DSN parameters the message came with are kept for the release.
	mailOpts := &smtp.MailOptions{Body: smtp.Body8BitMIME, Return: smtp.DSNReturnHeaders, EnvelopeID: "q-env-1"}
	rcptOpts := []*smtp.RcptOptions{{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed},
		OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "A@Example.COM"}}
	if err := sendOpts(t, p.addr, "sender@example.org", mailOpts, []string{"a@example.com"}, rcptOpts, infectedBody); err != nil {
		t.Fatal(err)
	}
	es := p.quarantined(t)
	if len(es) != 1 {
		t.Fatalf("quarantine: %+v", es)
	}
	if d := es[0].RcptDSN["a@example.com"]; es[0].Ret != "HDRS" || es[0].EnvID != "q-env-1" ||
		strings.Join(d.Notify, ",") != "FAILURE,DELAY" || d.ORcptType != "rfc822" || d.ORcpt != "A@Example.COM" {
		t.Fatalf("quarantined DSN parameters: %+v", es[0])
	}
	p.mta.Reset()
	out, err := exec.Command(filepath.Join(binDir, "avectl"), "quarantine", "--store", p.qdir, "--key", p.key,
		"release", es[0].ID, "--mailer", "smtp:"+p.mta.Addr).CombinedOutput()
	if err != nil {
		t.Fatalf("release: %v\n%s", err, out)
	}
	msgs := p.mta.Messages()
	if len(msgs) != 1 || string(msgs[0].Data) != infectedBody || msgs[0].From != "sender@example.org" || strings.Join(msgs[0].Rcpts, ",") != "a@example.com" {
		t.Fatalf("released: %+v", msgs)
	}
	if mo, ro := msgs[0].MailOpts, msgs[0].RcptOpts[0]; mo.Return != smtp.DSNReturnHeaders || mo.EnvelopeID != "q-env-1" ||
		len(ro.Notify) != 2 || ro.OriginalRecipient != "A@Example.COM" {
		t.Fatalf("released with MAIL %+v RCPT %+v", mo, ro)
	}
	list, _ := exec.Command(filepath.Join(binDir, "avectl"), "quarantine", "--store", p.qdir, "--key", p.key, "list").CombinedOutput()
	if !strings.Contains(string(list), es[0].ID) || !strings.Contains(string(list), "<body-1@example.org>") {
		t.Fatalf("list:\n%s", list)
	}
}
