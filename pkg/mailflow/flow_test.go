package mailflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ave/pkg/verdict"
)

type fakeScanner struct {
	res   *verdict.Result
	err   error
	delay time.Duration
	seen  []byte
}

func (s *fakeScanner) Scan(ctx context.Context, name string, size int64, r io.Reader) (*verdict.Result, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	s.seen = b
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.res, s.err
}

type sent struct {
	env  Envelope
	data string
}

type fakeForwarder struct {
	mu    sync.Mutex
	sent  []sent
	reply func(rcpt string) Reply
}

func (f *fakeForwarder) Forward(ctx context.Context, env *Envelope, size int64, open func() io.Reader) []Reply {
	b, _ := io.ReadAll(open())
	f.mu.Lock()
	f.sent = append(f.sent, sent{*env, string(b)})
	f.mu.Unlock()
	out := make([]Reply, len(env.Rcpts))
	for i, r := range env.Rcpts {
		out[i] = Reply{Code: 250, Enhanced: "2.0.0", Text: "queued"}
		if f.reply != nil {
			out[i] = f.reply(r.Addr)
		}
	}
	return out
}

func spoolMessage(t *testing.T, sp *Spool, text string) *Message {
	t.Helper()
	m, err := sp.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadFrom(strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Remove() })
	return m
}

var basic = BasicPolicy{
	Actions:       map[verdict.Status]BasicAction{verdict.Infected: ActReject, verdict.Suspicious: ActDiscard, verdict.Protected: ActTag},
	ScannedHeader: "X-Virus-Scanned: AVE",
	TagHeader:     "X-AVE-Status",
}

func env2() *Envelope {
	return &Envelope{From: "s@example.org", Rcpts: []Recipient{{Addr: "a@example.net"}, {Addr: "b@example.net"}}}
}

const msgText = "Message-ID: <m1@example.org>\r\nSubject: hi\r\n\r\nbody\r\n"

func run(t *testing.T, sc Scanner, fw Forwarder, p Policy, text string, maxCheck time.Duration) *Outcome {
	t.Helper()
	sp, err := OpenSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Options{Scanner: sc, Forwarder: fw, Policy: p, MaxCheckTime: maxCheck})
	if err != nil {
		t.Fatal(err)
	}
	return f.Process(context.Background(), env2(), spoolMessage(t, sp, text))
}

func TestProcessCleanMessageIsForwardedWithTheScannedHeader(t *testing.T) {
	sc := &fakeScanner{res: &verdict.Result{}}
	fw := &fakeForwarder{}
	o := run(t, sc, fw, basic, msgText, 0)
	if len(fw.sent) != 1 || fw.sent[0].data != "X-Virus-Scanned: AVE\r\n"+msgText || len(fw.sent[0].env.Rcpts) != 2 {
		t.Fatalf("sent %+v", fw.sent)
	}
	if string(sc.seen) != msgText {
		t.Fatalf("scanner saw %q", sc.seen)
	}
	if o.Replies[0].Code != 250 || o.Replies[1].Code != 250 || o.MessageID != "<m1@example.org>" {
		t.Fatalf("outcome %+v", o)
	}
}

func TestProcessInfectedIsRejectedWithTheVirusName(t *testing.T) {
	res := &verdict.Result{}
	res.Add(verdict.Detection{Path: "m/2", Status: verdict.Infected, Name: "EICAR-Test-File"})
	fw := &fakeForwarder{}
	o := run(t, &fakeScanner{res: res}, fw, basic, msgText, 0)
	if len(fw.sent) != 0 {
		t.Fatal("infected mail was forwarded")
	}
	for _, r := range o.Replies {
		if r.Code != 554 || r.Enhanced != "5.7.1" || !strings.Contains(r.Text, "EICAR-Test-File") {
			t.Fatalf("reply %+v", r)
		}
	}
}

func TestProcessDiscardAcceptsWithoutForwarding(t *testing.T) {
	res := &verdict.Result{Status: verdict.Suspicious}
	fw := &fakeForwarder{}
	o := run(t, &fakeScanner{res: res}, fw, basic, msgText, 0)
	if len(fw.sent) != 0 || o.Replies[0].Code != 250 || o.Replies[1].Code != 250 {
		t.Fatalf("sent %d, replies %+v", len(fw.sent), o.Replies)
	}
}

func TestProcessTagAddsTheStatusHeaderInTheMessagesLineEnding(t *testing.T) {
	res := &verdict.Result{}
	res.Add(verdict.Detection{Status: verdict.Protected, Reason: "encrypted zip"})
	fw := &fakeForwarder{}
	lf := strings.ReplaceAll(msgText, "\r\n", "\n")
	run(t, &fakeScanner{res: res}, fw, basic, lf, 0)
	want := "X-Virus-Scanned: AVE\nX-AVE-Status: PROTECTED (encrypted zip)\n" + lf
	if len(fw.sent) != 1 || fw.sent[0].data != want {
		t.Fatalf("sent %+v", fw.sent)
	}
}

func TestProcessScannerFailureIsTemporaryAndForwardsNothing(t *testing.T) {
	for _, tc := range []struct {
		name, wantText string
		sc             *fakeScanner
	}{
		{"unavailable", "virus scanner unavailable", &fakeScanner{err: errors.New("scanclient: aveserver unavailable")}},
		{"too slow", "not finished in time", &fakeScanner{res: &verdict.Result{}, delay: 5 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := &fakeForwarder{}
			o := run(t, tc.sc, fw, basic, msgText, 100*time.Millisecond)
			if len(fw.sent) != 0 || o.ScanErr == nil {
				t.Fatalf("sent %d, err %v", len(fw.sent), o.ScanErr)
			}
			for _, r := range o.Replies {
				if r.Code != 451 || r.Enhanced != "4.3.0" || !strings.Contains(r.Text, tc.wantText) {
					t.Fatalf("reply %+v, want 451 4.3.0 %q", r, tc.wantText)
				}
			}
		})
	}
}

// splitPolicy tags b@ differently and rejects c@: the shape of issue 6's
// per-group outcomes.
type splitPolicy struct{}

func (splitPolicy) Decide(_ context.Context, in *Input) (*Plan, error) {
	env := in.Env
	out := make([]Decision, len(env.Rcpts))
	for i, r := range env.Rcpts {
		switch r.Addr {
		case "b@example.net":
			out[i] = Decision{Action: Deliver, Headers: []string{"X-Group: b"}}
		case "c@example.net":
			out[i] = Decision{Action: Reject, Reply: Reply{Code: 554, Enhanced: "5.7.1", Text: "no"}}
		default:
			out[i] = Decision{Action: Deliver, Headers: []string{"X-Group: default"}}
		}
	}
	return &Plan{Decisions: out}, nil
}

func TestProcessSplitsDeliveryByHeaderSetAndKeepsReplyOrder(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir())
	fw := &fakeForwarder{reply: func(r string) Reply {
		if r == "d@example.net" {
			return Reply{Code: 452, Enhanced: "4.2.2", Text: "full"}
		}
		return Reply{Code: 250, Text: "ok " + r}
	}}
	f, _ := New(Options{Scanner: &fakeScanner{res: &verdict.Result{}}, Forwarder: fw, Policy: splitPolicy{}})
	env := &Envelope{From: "s@x", Rcpts: []Recipient{{Addr: "a@example.net"}, {Addr: "b@example.net"}, {Addr: "c@example.net"}, {Addr: "d@example.net"}}}
	o := f.Process(context.Background(), env, spoolMessage(t, sp, msgText))
	if len(fw.sent) != 2 {
		t.Fatalf("want 2 transactions, got %d", len(fw.sent))
	}
	if got := fw.sent[0].env.Addrs(); strings.Join(got, ",") != "a@example.net,d@example.net" || !strings.HasPrefix(fw.sent[0].data, "X-Group: default\r\n") {
		t.Fatalf("first transaction %v %q", got, fw.sent[0].data)
	}
	if got := fw.sent[1].env.Addrs(); strings.Join(got, ",") != "b@example.net" || !strings.HasPrefix(fw.sent[1].data, "X-Group: b\r\n") {
		t.Fatalf("second transaction %v", got)
	}
	codes := []int{250, 250, 554, 452}
	for i, c := range codes {
		if o.Replies[i].Code != c {
			t.Errorf("reply %d = %+v, want %d", i, o.Replies[i], c)
		}
	}
	if o.Replies[0].Text != "ok a@example.net" || o.Replies[1].Text != "ok b@example.net" {
		t.Fatalf("replies %+v", o.Replies)
	}
}

func TestCombine(t *testing.T) {
	ok := Reply{Code: 250, Text: "queued"}
	tmp := Reply{Code: 452, Text: "full"}
	perm := Reply{Code: 550, Text: "no user"}
	for _, tc := range []struct {
		name string
		in   []Reply
		code int
	}{
		{"all accepted", []Reply{ok, ok}, 250},
		{"one temporary failure defers all", []Reply{ok, tmp, perm}, 451},
		{"single temporary passed as is", []Reply{tmp}, 452},
		{"permanent with accepted passes the 5xx", []Reply{ok, perm}, 550},
		{"nothing", nil, 451},
	} {
		if got := Combine(tc.in); got.Code != tc.code {
			t.Errorf("%s: got %+v, want %d", tc.name, got, tc.code)
		}
	}
	// A copy discarded by policy (a local 250) first, a delivered one
	// after: the MTA logs the downstream's "queued as", not the discard.
	discarded := Reply{Code: 250, Enhanced: "2.7.0", Text: "message discarded by the virus filter", Local: true}
	if got := Combine([]Reply{discarded, ok}); got != ok {
		t.Errorf("discarded then delivered: got %+v, want %+v", got, ok)
	}
	if got := Combine([]Reply{discarded, discarded}); got != discarded {
		t.Errorf("all discarded: got %+v", got)
	}
}

func TestSpoolRecoverReportsAndRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := sp.Create()
	m.ReadFrom(strings.NewReader("left behind"))
	live, _ := sp.Create() // still open: another process's message in flight
	defer live.Remove()
	m.f.Close() // its session died
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not ours"), 0o600)
	left, err := sp.Recover()
	if err != nil || len(left) != 1 || left[0].Name != m.ID+".msg" || left[0].Size != 11 {
		t.Fatalf("got %+v, %v", left, err)
	}
	if _, err := os.Stat(filepath.Join(dir, m.ID+".msg")); !os.IsNotExist(err) {
		t.Fatal("leftover still there")
	}
	if _, err := os.Stat(filepath.Join(dir, live.ID+".msg")); err != nil {
		t.Fatal("removed a spool file still in use")
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal("removed a file that is not a spool file")
	}
}

func TestSpoolWriteFailureIsErrSpool(t *testing.T) {
	// The directory replaced by a file: fails for root too, unlike chmod.
	dir := filepath.Join(t.TempDir(), "spool")
	sp, _ := OpenSpool(dir)
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Create(); !errors.Is(err, ErrSpool) {
		t.Fatalf("got %v", err)
	}
}

func TestMessageID(t *testing.T) {
	for in, want := range map[string]string{
		"Subject: x\r\nMessage-Id:\r\n <folded@x>\r\n\r\nb": "<folded@x>",
		"message-id: <a@b>\n\nbody":                         "<a@b>",
		"Subject: x\r\n\r\nMessage-ID: <in-body@x>\r\n":     "",
		"Message-ID: <last@x>":                              "<last@x>",
	} {
		if got := messageID(strings.NewReader(in)); got != want {
			t.Errorf("messageID(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzMessageID(f *testing.F) {
	for _, s := range []string{msgText, "Message-ID:\r\n <x@y>\r\n\r\n", "\r\n", "Message-ID: a\n b\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id := messageID(strings.NewReader(in))
		if len(id) > len(in) {
			t.Fatalf("id %q longer than the input", id)
		}
	})
}

// hookPolicy delivers a cured Variant to cured@, records the hooks' calls
// and can fail Before or ask for no scan.
type hookPolicy struct {
	before    error
	noScan    bool
	gotResult *verdict.Result
	afterSaw  []Reply
	events    []string
}

func (p *hookPolicy) NeedScan(*Envelope) bool { return !p.noScan }

func (p *hookPolicy) Decide(_ context.Context, in *Input) (*Plan, error) {
	p.gotResult = in.Result
	out := make([]Decision, len(in.Env.Rcpts))
	for i, r := range in.Env.Rcpts {
		out[i] = Decision{Action: Deliver}
		if r.Addr == "cured@example.net" {
			out[i] = Decision{Action: Deliver, Content: []byte("Subject: cured\r\n\r\nclean now\r\n"), Variant: "cured"}
		}
	}
	return &Plan{Decisions: out,
		Before: func(context.Context) error { p.events = append(p.events, "before"); return p.before },
		After: func(_ context.Context, o *Outcome) {
			p.events = append(p.events, "after")
			p.afterSaw = append([]Reply(nil), o.Replies...)
		}}, nil
}

func TestProcessDeliversVariantsAndRunsHooksInOrder(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir())
	fw := &fakeForwarder{reply: func(r string) Reply { return Reply{Code: 250, Text: "ok " + r} }}
	p := &hookPolicy{}
	f, _ := New(Options{Scanner: &fakeScanner{res: &verdict.Result{}}, Forwarder: fw, Policy: p})
	env := &Envelope{From: "s@x", Rcpts: []Recipient{{Addr: "a@example.net"}, {Addr: "cured@example.net"}, {Addr: "b@example.net"}}}
	o := f.Process(context.Background(), env, spoolMessage(t, sp, msgText))
	if len(fw.sent) != 2 {
		t.Fatalf("want 2 transactions (original, cured), got %d", len(fw.sent))
	}
	if fw.sent[0].data != msgText || strings.Join(fw.sent[0].env.Addrs(), ",") != "a@example.net,b@example.net" {
		t.Fatalf("original copy: %v %q", fw.sent[0].env.Addrs(), fw.sent[0].data)
	}
	if fw.sent[1].data != "Subject: cured\r\n\r\nclean now\r\n" || fw.sent[1].env.Addrs()[0] != "cured@example.net" {
		t.Fatalf("cured copy: %v %q", fw.sent[1].env.Addrs(), fw.sent[1].data)
	}
	if strings.Join(p.events, ",") != "before,after" || len(p.afterSaw) != 3 || p.afterSaw[1].Text != "ok cured@example.net" {
		t.Fatalf("hooks: %v %v", p.events, p.afterSaw)
	}
	if o.PolicyErr != nil || p.gotResult == nil {
		t.Fatalf("outcome %+v", o)
	}
}

func TestProcessDefersEverythingWhenBeforeFails(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir())
	fw := &fakeForwarder{reply: func(r string) Reply { return Reply{Code: 250} }}
	p := &hookPolicy{before: errors.New("quarantine disk full")}
	f, _ := New(Options{Scanner: &fakeScanner{res: &verdict.Result{}}, Forwarder: fw, Policy: p})
	env := &Envelope{From: "s@x", Rcpts: []Recipient{{Addr: "a@example.net"}, {Addr: "cured@example.net"}}}
	o := f.Process(context.Background(), env, spoolMessage(t, sp, msgText))
	if len(fw.sent) != 0 || o.PolicyErr == nil || strings.Join(p.events, ",") != "before" {
		t.Fatalf("sent %d, err %v, events %v", len(fw.sent), o.PolicyErr, p.events)
	}
	for _, r := range o.Replies {
		if r.Code != 451 {
			t.Fatalf("reply %v, want 451", r)
		}
	}
}

func TestProcessSkipsTheScanWhenThePolicySaysSo(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir())
	fw := &fakeForwarder{reply: func(r string) Reply { return Reply{Code: 250} }}
	sc := &fakeScanner{err: errors.New("must not be called")}
	p := &hookPolicy{noScan: true}
	f, _ := New(Options{Scanner: sc, Forwarder: fw, Policy: p})
	env := &Envelope{From: "s@x", Rcpts: []Recipient{{Addr: "a@example.net"}}}
	o := f.Process(context.Background(), env, spoolMessage(t, sp, msgText))
	if o.ScanErr != nil || p.gotResult != nil || len(fw.sent) != 1 || o.Replies[0].Code != 250 {
		t.Fatalf("outcome %+v sent %d", o, len(fw.sent))
	}
}

// dsnPolicy is a DSNSender that counts its DSNs and can refuse them.
type dsnPolicy struct {
	splitPolicy
	sent   [][]int
	refuse bool
}

func (p *dsnPolicy) SendDSN(_ context.Context, _ *Outcome, _ *Message, refused []int) (bool, error) {
	if p.refuse {
		return false, errors.New("DSN refused")
	}
	p.sent = append(p.sent, refused)
	return true, nil
}

// TestSettleRefused: 250s and 5xx only, one of each at least: the 5xx go
// to a DSN and become local 250s; any other code (a 4xx, or a stray 354
// that Combine makes 451) or a DSN that cannot be sent leaves the replies
// as they are, and no DSN goes out for a message the MTA will offer again.
func TestSettleRefused(t *testing.T) {
	sp, err := OpenSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := sp.Create()
	defer msg.Remove()
	msg.ReadFrom(strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	ok, perm, tmp, odd := Reply{Code: 250, Text: "queued"}, Reply{Code: 554, Enhanced: "5.7.1", Text: "rejected"}, Reply{Code: 451}, Reply{Code: 354}
	for _, tc := range []struct {
		name    string
		replies []Reply
		refuse  bool
		dsn     bool
	}{
		{"mixed", []Reply{ok, perm}, false, true},
		{"all refused", []Reply{perm, perm}, false, false},
		{"a temporary failure", []Reply{ok, perm, tmp}, false, false},
		{"a stray code", []Reply{ok, perm, odd}, false, false},
		{"DSN refused", []Reply{ok, perm}, true, false},
	} {
		p := &dsnPolicy{refuse: tc.refuse}
		f, _ := New(Options{Scanner: &fakeScanner{}, Forwarder: &fakeForwarder{}, Policy: p})
		rcpts := make([]Recipient, len(tc.replies))
		for i := range rcpts {
			rcpts[i] = Recipient{Addr: fmt.Sprintf("r%d@example.net", i)}
		}
		o := &Outcome{Env: &Envelope{From: "s@example.org", Rcpts: rcpts}, Replies: slices.Clone(tc.replies)}
		f.SettleRefused(context.Background(), o, msg)
		if (len(p.sent) == 1) != tc.dsn {
			t.Errorf("%s: DSNs %v", tc.name, p.sent)
		}
		if tc.dsn {
			if o.Replies[1].Code != 250 || !o.Replies[1].Local || Combine(o.Replies) != ok || len(o.Bounced) != 1 {
				t.Errorf("%s: replies %+v bounced %v", tc.name, o.Replies, o.Bounced)
			}
		} else if !slices.Equal(o.Replies, tc.replies) {
			t.Errorf("%s: replies changed to %+v", tc.name, o.Replies)
		}
	}
}
