package mailpolicy

// Tests of the policy driving a real mailflow.Flow: a spooled message, a
// stand-in scanner and a fakeMTA for the downstream and the notifier.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"ave/pkg/config"
	"ave/pkg/mailedit"
	"ave/pkg/mailflow"
	"ave/pkg/quarantine"
	"ave/pkg/verdict"
)

type failingScanner struct{}

func (failingScanner) Scan(context.Context, string, int64, io.Reader) (*verdict.Result, error) {
	return nil, errors.New("aveserver unavailable: connection refused")
}

// spooled writes a message to a spool in dir, removed when the test ends.
func spooled(t *testing.T, dir, text string) *mailflow.Message {
	t.Helper()
	sp, err := mailflow.OpenSpool(filepath.Join(dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := sp.Create()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { msg.Remove() })
	if _, err := msg.ReadFrom(strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestDeferredMessagesAreReported: a message deferred because the scan
// failed gets one report line per group, status ERROR with the error and
// the 451 replies; nothing is forwarded and no notification is sent
// (the MTA retries the message).
func TestDeferredMessagesAreReported(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	vip := config.DefaultMailGroup("vip")
	vip.Recipients = []*regexp.Regexp{regexp.MustCompile(`^boss@`)}
	for s := range vip.Rules {
		vip.Rules[s].AdminNotify, vip.Rules[s].SenderNotify = true, true
	}
	pol.Groups = append([]config.MailGroup{vip}, pol.Groups...)
	for i := range pol.Groups {
		pol.Groups[i].Quarantine = false
	}
	pol.Report.ReportFileName = filepath.Join(d, "report.log")
	notes := &fakeMTA{}
	p, err := New(Options{Policy: pol, Notifier: notes})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fwd := &fakeMTA{}
	flow, err := mailflow.New(mailflow.Options{Scanner: failingScanner{}, Forwarder: fwd, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	msg := spooled(t, d, "Message-ID: <m1@example.org>\r\nSubject: x\r\n\r\nbody\r\n")
	env := &mailflow.Envelope{From: "s@example.org", Rcpts: []mailflow.Recipient{{Addr: "boss@example.net"}, {Addr: "u@example.net"}}}
	o := flow.Process(context.Background(), env, msg)
	if o.ScanErr == nil || o.Replies[0].Code != 451 {
		t.Fatalf("outcome %+v", o)
	}
	if len(fwd.copies) != 0 || len(notes.copies) != 0 {
		t.Fatalf("forwarded %d times, %d notifications", len(fwd.copies), len(notes.copies))
	}
	b, err := os.ReadFile(pol.Report.ReportFileName)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a line per group, got:\n%s", b)
	}
	for i, want := range []string{"rcpts=boss@example.net group=vip", "rcpts=u@example.net group=default"} {
		l := lines[i]
		if !strings.Contains(l, "queue_id="+msg.ID) || !strings.Contains(l, want) || !strings.Contains(l, "status=ERROR") ||
			!strings.Contains(l, "replies=451") || !strings.Contains(l, `error="aveserver unavailable: connection refused"`) {
			t.Errorf("line %d: %s", i, l)
		}
	}
}

type infectedScanner struct{}

func (infectedScanner) Scan(_ context.Context, name string, _ int64, _ io.Reader) (*verdict.Result, error) {
	return &verdict.Result{Status: verdict.Infected, Detections: []verdict.Detection{{Path: name, Status: verdict.Infected, Name: "EICAR-Test-File"}}}, nil
}

// TestMaxNotificationsCapsAMessagesNotifications: an infected message to
// many recipients, each to be notified, with the administrator too, sends
// no more than MaxNotifications notifications; the rest are logged.
func TestMaxNotificationsCapsAMessagesNotifications(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	g := &pol.Groups[0]
	g.Quarantine = false
	r := &g.Rules[config.StatusInfected]
	r.RecipientAction, r.RecipientNotify, r.AdminNotify, r.SenderNotify = config.ActionReject, true, true, false
	pol.Notify.MaxNotifications = 3
	notes := &fakeMTA{}
	var logBuf strings.Builder
	p, err := New(Options{Policy: pol, Notifier: notes, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	flow, err := mailflow.New(mailflow.Options{Scanner: infectedScanner{}, Forwarder: &fakeMTA{}, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	msg := spooled(t, d, "Subject: x\r\n\r\nbody\r\n")
	env := &mailflow.Envelope{From: "s@example.org"}
	for i := range 10 {
		env.Rcpts = append(env.Rcpts, mailflow.Recipient{Addr: fmt.Sprintf("u%d@example.net", i)})
	}
	o := flow.Process(context.Background(), env, msg)
	if o.Replies[0].Code != 554 {
		t.Fatalf("replies %+v", o.Replies)
	}
	if len(notes.to) != 3 {
		t.Fatalf("%d notifications (%v), want 3", len(notes.to), notes.to)
	}
	if n := strings.Count(logBuf.String(), "MaxNotifications reached"); n != 8 {
		t.Fatalf("%d notifications logged as not sent, want 8 (10 recipients + admin - 3):\n%s", n, logBuf.String())
	}
}

// TestQuarantineStoresAreOpenedAtStart: the stores the rules may write to
// are made when the policy is built, so a store or key the program cannot
// use stops it at start, naming group, path and key file, instead of
// deferring every non-clean message later.
func TestQuarantineStoresAreOpenedAtStart(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	pol.Groups[0].QuarantinePath = filepath.Join(d, "mail-quarantine")
	p, err := New(Options{Policy: pol, KeyFile: filepath.Join(d, "keys", "q.key"), OpenStores: true})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	for _, f := range []string{pol.Groups[0].QuarantinePath, filepath.Join(d, "keys", "q.key")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("not made at start: %v", err)
		}
	}
	// A key file under a regular file cannot be made, whoever runs this.
	os.WriteFile(filepath.Join(d, "file"), nil, 0o600)
	_, err = New(Options{Policy: pol, KeyFile: filepath.Join(d, "file", "q.key"), OpenStores: true})
	if err == nil || !strings.Contains(err.Error(), "[smtpscan.group:default] QuarantinePath="+pol.Groups[0].QuarantinePath) || !strings.Contains(err.Error(), "q.key") {
		t.Fatalf("got %v", err)
	}
	// A program run per message (qmail-queue, --stdio) opens them when a
	// message needs one: clean mail still passes.
	p, err = New(Options{Policy: pol, KeyFile: filepath.Join(d, "file", "q.key")})
	if err != nil {
		t.Fatalf("without OpenStores: %v", err)
	}
	p.Close()
}

type cleanScanner struct{}

func (cleanScanner) Scan(context.Context, string, int64, io.Reader) (*verdict.Result, error) {
	return &verdict.Result{Status: verdict.Clean}, nil
}

// TestFilterByMIMESeesIntoForwardedMessages: a part whose declared type
// the group filters, wrapped in a forwarded message (message/rfc822),
// makes the forwarded message Filtered: it is cut out of the copy, the
// rest delivered.
func TestFilterByMIMESeesIntoForwardedMessages(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	pol.Groups[0].Quarantine = false
	pol.Groups[0].FilterByMIME = []*regexp.Regexp{regexp.MustCompile(`(?i)^application/x-msdownload$`)}
	p, err := New(Options{Policy: pol, TagHeader: "X-AVE-Status"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, wrapper := range []string{"message/rfc822", "message/global", "message/news"} {
		fwd := &fakeMTA{}
		flow, _ := mailflow.New(mailflow.Options{Scanner: cleanScanner{}, Forwarder: fwd, Policy: p})
		msg := spooled(t, d, "Subject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n"+
			"--outer\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"+
			"--outer\r\nContent-Type: "+wrapper+"\r\n\r\n"+
			"Subject: inner\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n"+
			"--inner\r\nContent-Type: text/plain\r\n\r\nrun it\r\n"+
			"--inner\r\nContent-Type: application/x-msdownload; name=\"tool.bin\"\r\n\r\nMZ-PROGRAM-BYTES\r\n"+
			"--inner--\r\n"+
			"--outer--\r\n")
		o := flow.Process(context.Background(), &mailflow.Envelope{From: "s@example.org", Rcpts: []mailflow.Recipient{{Addr: "u@example.net"}}}, msg)
		if o.Replies[0].Code != 250 || len(fwd.copies) != 1 {
			t.Fatalf("replies %+v, %d copies", o.Replies, len(fwd.copies))
		}
		c := fwd.copies[0]
		if strings.Contains(c, "MZ-PROGRAM-BYTES") || !strings.Contains(c, "see below") || !strings.Contains(c, "X-AVE-Status: FILTERED") {
			t.Fatalf("%s: delivered copy:\n%s", wrapper, c)
		}
	}
}

// TestAFailedCureMakesTheMessageInfected: when the byte-exact cure cannot
// be made, the message is not Cured but Infected, and the Infected rules
// apply: here reject, where the Cured rule would have delivered a copy.
func TestAFailedCureMakesTheMessageInfected(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	pol.Groups[0].Quarantine = false
	pol.Groups[0].Rules[config.StatusInfected].RecipientAction = config.ActionReject
	p, err := New(Options{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	text := "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=\"bad.bin\"\r\n\r\nVIRUS\r\n--b--\r\n"
	run := func() *mailflow.Outcome {
		fwd := &fakeMTA{}
		sc := scanFunc(func(name string) *verdict.Result {
			return &verdict.Result{Status: verdict.Infected, Detections: []verdict.Detection{{Path: name + "/bad.bin", Status: verdict.Infected, Name: "Test-Virus"}}}
		})
		flow, _ := mailflow.New(mailflow.Options{Scanner: sc, Forwarder: fwd, Policy: p})
		return flow.Process(context.Background(), &mailflow.Envelope{From: "s@example.org", Rcpts: []mailflow.Recipient{{Addr: "u@example.net"}}}, spooled(t, d, text))
	}
	if o := run(); o.Replies[0].Code != 250 || o.Decisions[0].Reason != "Cured cured" {
		t.Fatalf("cure possible: %+v %q", o.Replies, o.Decisions[0].Reason)
	}
	replaceParts = func([]byte, []mailedit.Edit) ([]byte, error) { return nil, mailedit.ErrStructure }
	defer func() { replaceParts = mailedit.Replace }()
	if o := run(); o.Replies[0].Code != 554 || !strings.HasPrefix(o.Decisions[0].Reason, "Infected") {
		t.Fatalf("cure impossible: %+v %q", o.Replies, o.Decisions[0].Reason)
	}
}

type scanFunc func(name string) *verdict.Result

func (f scanFunc) Scan(_ context.Context, name string, _ int64, _ io.Reader) (*verdict.Result, error) {
	return f(name), nil
}

// TestNotificationsWaitForTheAttemptThatSettlesTheMessage: a downstream
// 4xx makes the MTA offer the message again, and that attempt notifies:
// none is sent for the deferred one (the sender and the administrator got
// one per attempt). In LMTP a recipient whose reply is final is settled.
func TestNotificationsWaitForTheAttemptThatSettlesTheMessage(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	g := &pol.Groups[0]
	g.Quarantine = false
	r := &g.Rules[config.StatusInfected]
	r.RecipientAction, r.SenderNotify, r.AdminNotify = config.ActionUnchanged, true, true
	for _, tc := range []struct {
		name  string
		reply mailflow.Reply
		lmtp  bool
		notes int
	}{
		{"downstream 451, SMTP", mailflow.Reply{Code: 451, Enhanced: "4.3.0", Text: "try later"}, false, 0},
		{"downstream 451, LMTP", mailflow.Reply{Code: 451, Enhanced: "4.3.0", Text: "try later"}, true, 0},
		{"downstream 250", mailflow.Reply{Code: 250, Text: "queued"}, false, 2},
		{"downstream 550", mailflow.Reply{Code: 550, Text: "no such user"}, true, 2},
	} {
		notes := &fakeMTA{}
		p, err := New(Options{Policy: pol, Notifier: notes})
		if err != nil {
			t.Fatal(err)
		}
		flow, _ := mailflow.New(mailflow.Options{Scanner: infectedScanner{}, Forwarder: &fakeMTA{reply: tc.reply}, Policy: p})
		env := &mailflow.Envelope{From: "s@example.org", Rcpts: []mailflow.Recipient{{Addr: "u@example.net"}}, PerRecipientReplies: tc.lmtp}
		o := flow.Process(context.Background(), env, spooled(t, d, "Subject: x\r\n\r\nbody\r\n"))
		p.Close()
		if o.Replies[0].Code != tc.reply.Code || len(notes.to) != tc.notes {
			t.Errorf("%s: reply %v, notifications %v (want %d)", tc.name, o.Replies[0], notes.to, tc.notes)
		}
	}
}

func TestEnvelopeRetried(t *testing.T) {
	ok, tmp, odd := mailflow.Reply{Code: 250}, mailflow.Reply{Code: 452}, mailflow.Reply{Code: 354}
	smtp := &mailflow.Envelope{}
	lmtp := &mailflow.Envelope{PerRecipientReplies: true}
	if !smtp.Retried([]mailflow.Reply{ok, tmp}, 0) || smtp.Retried([]mailflow.Reply{ok, ok}, 0) {
		t.Error("SMTP: any temporary failure retries every recipient")
	}
	if lmtp.Retried([]mailflow.Reply{ok, tmp}, 0) || !lmtp.Retried([]mailflow.Reply{ok, tmp}, 1) {
		t.Error("LMTP: only the recipient that failed temporarily")
	}
	if !smtp.Retried([]mailflow.Reply{ok, odd}, 0) || !lmtp.Retried([]mailflow.Reply{ok, odd}, 1) {
		t.Error("a stray code (Combine makes it 451) is retried too")
	}
}

// TestAMessageOfferedAgainIsQuarantinedOnce: the same message offered
// again after a downstream 4xx (new queue id, same bytes and envelope)
// adds no second quarantine entry; another message does.
func TestAMessageOfferedAgainIsQuarantinedOnce(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	g := &pol.Groups[0]
	g.QuarantinePath = filepath.Join(d, "q")
	g.Rules[config.StatusInfected].RecipientAction = config.ActionUnchanged
	g.Rules[config.StatusInfected].Quarantine = true
	p, err := New(Options{Policy: pol, KeyFile: filepath.Join(d, "q.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	env := func() *mailflow.Envelope {
		return &mailflow.Envelope{From: "s@example.org", Rcpts: []mailflow.Recipient{{Addr: "u@example.net"}}}
	}
	for i, tc := range []struct {
		body  string
		reply int
	}{{"Subject: x\r\n\r\nbody\r\n", 451}, {"Subject: x\r\n\r\nbody\r\n", 250}, {"Subject: y\r\n\r\nother\r\n", 250}} {
		flow, _ := mailflow.New(mailflow.Options{Scanner: infectedScanner{}, Forwarder: &fakeMTA{reply: mailflow.Reply{Code: tc.reply}}, Policy: p})
		if o := flow.Process(context.Background(), env(), spooled(t, d, tc.body)); o.Replies[0].Code != tc.reply {
			t.Fatalf("attempt %d: %+v", i, o.Replies)
		}
	}
	s, err := quarantine.OpenExisting(g.QuarantinePath, filepath.Join(d, "q.key"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.List()
	if err != nil || len(entries) != 2 {
		t.Fatalf("%d entries, want 2 (one per message): %v", len(entries), err)
	}
}

// TestRejectForSomeRecipientsInSMTPGivesA250AndADSN: one group rejects,
// the other delivers. An SMTP client can get one reply: a 554 would make
// the MTA bounce the message for the recipient who got it too, so the
// reply is 250 and the sender gets a DSN (null envelope sender) for the
// rejected recipient, unless it asked for none (NOTIFY=NEVER) or the
// sender is null. LMTP keeps the per-recipient 554, no DSN. A DSN that
// cannot be sent leaves the 554.
func TestRejectForSomeRecipientsInSMTPGivesA250AndADSN(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	strict := config.DefaultMailGroup("strict")
	strict.Recipients = []*regexp.Regexp{regexp.MustCompile(`^boss@`)}
	strict.Rules[config.StatusInfected].RecipientAction = config.ActionReject
	pol.Groups = append([]config.MailGroup{strict}, pol.Groups...)
	for i := range pol.Groups {
		pol.Groups[i].Quarantine = false
		pol.Groups[i].Rules[config.StatusInfected].Quarantine = false
	}
	pol.Groups[1].Rules[config.StatusInfected].RecipientAction = config.ActionUnchanged
	for _, tc := range []struct {
		name       string
		from       string
		notify     []string
		lmtp       bool
		noteReply  int
		wantCodes  string
		wantDSN    bool
		wantBounce bool
	}{
		{"SMTP", "s@example.org", nil, false, 250, "250,250", true, true},
		{"SMTP, NOTIFY=NEVER", "s@example.org", []string{"NEVER"}, false, 250, "250,250", false, true},
		{"SMTP, null sender", "", nil, false, 250, "250,250", false, true},
		{"LMTP", "s@example.org", nil, true, 250, "554,250", false, false},
		{"SMTP, DSN refused", "s@example.org", nil, false, 451, "554,250", true, false},
	} {
		notes := &fakeMTA{reply: mailflow.Reply{Code: tc.noteReply}}
		p, err := New(Options{Policy: pol, Notifier: notes, Hostname: "mx.test"})
		if err != nil {
			t.Fatal(err)
		}
		flow, _ := mailflow.New(mailflow.Options{Scanner: infectedScanner{}, Forwarder: &fakeMTA{reply: mailflow.Reply{Code: 250, Text: "queued as X1"}}, Policy: p})
		env := &mailflow.Envelope{From: tc.from, PerRecipientReplies: tc.lmtp,
			Rcpts: []mailflow.Recipient{{Addr: "boss@example.net", Notify: tc.notify}, {Addr: "u@example.net"}}}
		msg := spooled(t, d, "Subject: invoice\r\n\r\nbody\r\n")
		o := flow.Process(context.Background(), env, msg)
		if !tc.lmtp { // what smtpfilter does for an SMTP session
			flow.SettleRefused(context.Background(), o, msg)
		}
		p.Close()
		codes := fmt.Sprintf("%d,%d", o.Replies[0].Code, o.Replies[1].Code)
		if codes != tc.wantCodes || (len(o.Bounced) > 0) != tc.wantBounce || o.DSNSent != (tc.wantDSN && tc.wantBounce) {
			t.Errorf("%s: replies %v, bounced %v, dsn error %v", tc.name, o.Replies, o.Bounced, o.DSNErr)
		}
		if got := len(notes.copies) > 0; got != tc.wantDSN {
			t.Errorf("%s: DSN sent %v, want %v (%v)", tc.name, got, tc.wantDSN, notes.to)
		} else if got && (notes.to[0] != ">s@example.org" || !strings.Contains(notes.copies[0], "Final-Recipient: rfc822; boss@example.net") ||
			!strings.Contains(notes.copies[0], "Diagnostic-Code: smtp; 554 5.7.1 message rejected")) {
			t.Errorf("%s: DSN to %v:\n%s", tc.name, notes.to, notes.copies[0])
		}
		if c := mailflow.Combine(o.Replies); !tc.lmtp && tc.wantBounce && (c.Code != 250 || c.Text != "queued as X1") {
			t.Errorf("%s: combined reply %v", tc.name, c)
		}
	}
}

// TestQuarantineOrNotificationFailures: a quarantine that cannot be
// written defers the message (451, nothing delivered: the MTA keeps it);
// a refused notification is logged and changes nothing else.
func TestQuarantineOrNotificationFailures(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	g := &pol.Groups[0]
	g.QuarantinePath = filepath.Join(d, "q")
	r := &g.Rules[config.StatusInfected]
	r.RecipientAction, r.Quarantine, r.AdminNotify = config.ActionUnchanged, true, true
	notes := &fakeMTA{reply: mailflow.Reply{Code: 550, Text: "no such user"}}
	var logBuf strings.Builder
	p, err := New(Options{Policy: pol, KeyFile: filepath.Join(d, "q.key"), Notifier: notes, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fwd := &fakeMTA{}
	flow, _ := mailflow.New(mailflow.Options{Scanner: infectedScanner{}, Forwarder: fwd, Policy: p})
	env := func() *mailflow.Envelope {
		return &mailflow.Envelope{From: "s@example.org", Rcpts: []mailflow.Recipient{{Addr: "u@example.net"}}}
	}

	o := flow.Process(context.Background(), env(), spooled(t, d, "Subject: x\r\n\r\nbody\r\n"))
	if o.Replies[0].Code != 250 || len(fwd.copies) != 1 || len(notes.to) != 1 || !strings.Contains(logBuf.String(), "notification refused") {
		t.Fatalf("refused notification: replies %v, copies %d, notes %v\n%s", o.Replies, len(fwd.copies), notes.to, logBuf.String())
	}

	// The store's directory replaced by a file: nothing can be written.
	os.RemoveAll(g.QuarantinePath)
	os.WriteFile(g.QuarantinePath, nil, 0o600)
	o = flow.Process(context.Background(), env(), spooled(t, d, "Subject: y\r\n\r\nother\r\n"))
	if o.Replies[0].Code != 451 || o.PolicyErr == nil || len(fwd.copies) != 1 {
		t.Fatalf("quarantine failure: replies %v, policy error %v, copies %d", o.Replies, o.PolicyErr, len(fwd.copies))
	}
}

// TestLMTPNotifiesTheSettledRecipientsNow: in LMTP a temporary failure
// brings back only its recipient, so the recipient whose reply is final
// is notified in this attempt, the other in the one that settles it.
func TestLMTPNotifiesTheSettledRecipientsNow(t *testing.T) {
	d := t.TempDir()
	pol := config.DefaultMailPolicy()
	g := &pol.Groups[0]
	g.Quarantine = false
	r := &g.Rules[config.StatusInfected]
	r.RecipientAction, r.RecipientNotify, r.SenderNotify = config.ActionUnchanged, true, true
	notes := &fakeMTA{reply: mailflow.Reply{Code: 250}}
	p, err := New(Options{Policy: pol, Notifier: notes})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fwd := &fakeMTA{byAddr: map[string]mailflow.Reply{"r1@example.net": {Code: 250}, "r2@example.net": {Code: 451, Enhanced: "4.2.2", Text: "mailbox full"}}}
	flow, _ := mailflow.New(mailflow.Options{Scanner: infectedScanner{}, Forwarder: fwd, Policy: p})
	env := &mailflow.Envelope{From: "s@example.org", PerRecipientReplies: true, Rcpts: []mailflow.Recipient{{Addr: "r1@example.net"}, {Addr: "r2@example.net"}}}
	flow.Process(context.Background(), env, spooled(t, d, "Subject: x\r\n\r\nbody\r\n"))
	if strings.Join(notes.to, ",") != ">s@example.org,>r1@example.net" {
		t.Fatalf("first attempt notified %v, want the sender and r1", notes.to)
	}
	// The sender's notice is about the settled recipient alone.
	if s := notes.copies[0]; !strings.Contains(s, "r1@example.net") || strings.Contains(s, "r2@example.net") || strings.Contains(s, "not delivered yet") {
		t.Fatalf("sender's notice:\n%s", s)
	}
	// The retry: r2 alone, now accepted.
	fwd.byAddr["r2@example.net"] = mailflow.Reply{Code: 250}
	env = &mailflow.Envelope{From: "s@example.org", PerRecipientReplies: true, Rcpts: []mailflow.Recipient{{Addr: "r2@example.net"}}}
	flow.Process(context.Background(), env, spooled(t, d, "Subject: x\r\n\r\nbody\r\n"))
	if strings.Join(notes.to, ",") != ">s@example.org,>r1@example.net,>s@example.org,>r2@example.net" {
		t.Fatalf("after the retry: %v", notes.to)
	}
}

// fakeMTA stands for the downstream MTA and for the notifier: it answers
// each recipient with byAddr's reply for its address, else with reply
// (250 when unset), and keeps every message and "FROM>RCPT" it was given.
type fakeMTA struct {
	reply  mailflow.Reply
	byAddr map[string]mailflow.Reply
	to     []string
	copies []string
}

func (f *fakeMTA) Forward(_ context.Context, env *mailflow.Envelope, _ int64, open func() io.Reader) []mailflow.Reply {
	b, _ := io.ReadAll(open())
	f.copies = append(f.copies, string(b))
	out := make([]mailflow.Reply, len(env.Rcpts))
	for i, r := range env.Rcpts {
		f.to = append(f.to, env.From+">"+r.Addr)
		rep, ok := f.byAddr[r.Addr]
		if !ok {
			rep = f.reply
		}
		if rep.Code == 0 {
			rep = mailflow.Reply{Code: 250}
		}
		out[i] = rep
	}
	return out
}
