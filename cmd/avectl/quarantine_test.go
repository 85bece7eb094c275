package main

// avectl quarantine on mail entries, run in-process (run) against a
// temporary store and a fake downstream MTA on 127.0.0.1
// (internal/testkit.FakeMTA, go-smtp, records what it accepts).

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"ave/internal/testkit"
	"ave/pkg/quarantine"

	"github.com/emersion/go-smtp"
)

// testMsg has what a byte-exact re-injection must keep: 8-bit text, a
// line that starts with a dot (stuffed on the wire), a lone "." line, a
// long line and CRLF endings.
var testMsg = "From: Sender <sender@example.org>\r\n" +
	"To: b@example.net\r\n" +
	"Subject: quarantined\r\n" +
	"Message-ID: <q1@example.org>\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"Grüße, plain text marker\r\n" +
	".leading dot\r\n" +
	".\r\n" +
	strings.Repeat("x", 1500) + "\r\n" +
	"end\r\n"

type qenv struct {
	dir, store, key string
}

func newQEnv(t *testing.T) *qenv {
	dir := t.TempDir()
	return &qenv{dir: dir, store: filepath.Join(dir, "mail-quarantine"), key: filepath.Join(dir, "q.key")}
}

func (q *qenv) open(t *testing.T) *quarantine.Store {
	t.Helper()
	s, err := quarantine.Open(q.store, q.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (q *qenv) put(t *testing.T, e quarantine.Entry, data string) quarantine.Entry {
	t.Helper()
	e, err := q.open(t).Put(strings.NewReader(data), e)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// avectl runs avectl in-process with -c pointing at an empty config file
// (built-in defaults, never /etc/ave/ave.conf).
func (q *qenv) avectl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	conf := filepath.Join(q.dir, "ave.conf")
	if _, err := os.Stat(conf); err != nil {
		os.WriteFile(conf, nil, 0o600)
	}
	var out, errOut bytes.Buffer
	code := run(append([]string{"-c", conf, "quarantine", "--mail", "--store", q.store, "--key", q.key}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

func messageEntry() quarantine.Entry {
	return quarantine.Entry{Kind: quarantine.KindMessage, Reason: "mail quarantine", Status: "INFECTED",
		Names: []string{"EICAR-Test-File"}, From: "sender@example.org", Rcpts: []string{"b@example.net", "c@example.net"},
		Body: "8BITMIME", SMTPUTF8: true, Group: "default", MessageID: "<q1@example.org>", QueueID: "Q123",
		Producer: "smtpscanner"}
}

func TestReleaseReinjectsTheStoredMessageByteExact(t *testing.T) {
	q := newQEnv(t)
	mta := testkit.StartMTA(t, "tcp", false)
	e := q.put(t, messageEntry(), testMsg)

	// Encryption at rest.
	enc, err := os.ReadFile(filepath.Join(q.store, e.ID+".age"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte("plain text marker")) || bytes.Contains(enc, []byte("Subject:")) {
		t.Fatal("the data file holds the plain message")
	}

	out, errOut, code := q.avectl(t, "release", e.ID, "--mailer", "smtp:"+mta.Addr)
	if code != 0 {
		t.Fatalf("release: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"b@example.net: 250", "c@example.net: 250", "released " + e.ID} {
		if !strings.Contains(out, want) {
			t.Errorf("release output lacks %q:\n%s", want, out)
		}
	}
	msgs := mta.Messages()
	if len(msgs) != 1 {
		t.Fatalf("downstream got %d messages", len(msgs))
	}
	m := msgs[0]
	if string(m.Data) != testMsg {
		t.Fatalf("downstream bytes differ:\n got %q\nwant %q", m.Data, testMsg)
	}
	if m.From != "sender@example.org" || !reflect.DeepEqual(m.Rcpts, []string{"b@example.net", "c@example.net"}) {
		t.Fatalf("envelope MAIL FROM %q RCPT TO %q", m.From, m.Rcpts)
	}
	if m.MailOpts.Body != smtp.Body8BitMIME || !m.MailOpts.UTF8 || m.MailOpts.Size != int64(len(testMsg)) {
		t.Fatalf("MAIL parameters %+v", m.MailOpts)
	}

	got, err := q.open(t).Get(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Released.IsZero() || !reflect.DeepEqual(got.ReleasedTo, e.Rcpts) || got.SHA256 != e.SHA256 {
		t.Fatalf("entry after release: %+v", got)
	}
	// Released once: a second release needs --force.
	if _, errOut, code := q.avectl(t, "release", e.ID, "--mailer", "smtp:"+mta.Addr); code == 0 || !strings.Contains(errOut, "--force") {
		t.Fatalf("second release: exit %d %s", code, errOut)
	}
	if len(mta.Messages()) != 1 {
		t.Fatal("a refused second release reached downstream")
	}
	out, _, _ = q.avectl(t, "show", e.ID)
	if !strings.Contains(out, "released-to: b@example.net, c@example.net") {
		t.Fatalf("show after release:\n%s", out)
	}
}

func TestReleaseToOtherRecipientsWithNullSenderAndDelete(t *testing.T) {
	q := newQEnv(t)
	mta := testkit.StartMTA(t, "tcp", false)
	in := messageEntry()
	in.From, in.Body, in.SMTPUTF8 = "", "", false
	e := q.put(t, in, testMsg)
	out, errOut, code := q.avectl(t, "release", "--to", "admin@example.com", e.ID, "--to", "x@example.com",
		"--mailer", "smtp:"+mta.Addr, "--delete")
	if code != 0 {
		t.Fatalf("release: exit %d\n%s%s", code, out, errOut)
	}
	msgs := mta.Messages()
	if len(msgs) != 1 || msgs[0].From != "" || !reflect.DeepEqual(msgs[0].Rcpts, []string{"admin@example.com", "x@example.com"}) ||
		string(msgs[0].Data) != testMsg || msgs[0].MailOpts.Body != "" || msgs[0].MailOpts.UTF8 {
		t.Fatalf("downstream got %+v", msgs)
	}
	if _, err := q.open(t).Get(e.ID); !errors.Is(err, quarantine.ErrNotFound) {
		t.Fatalf("entry after release --delete: %v", err)
	}
	if !strings.Contains(out, "deleted "+e.ID) {
		t.Fatalf("output:\n%s", out)
	}
}

func TestReleaseUsesForwardMailerOfTheConfiguration(t *testing.T) {
	q := newQEnv(t)
	mta := testkit.StartMTA(t, "tcp", false)
	conf := filepath.Join(q.dir, "ave.conf")
	if err := os.WriteFile(conf, []byte("[smtpscan.general]\nForwardMailer = smtp:"+mta.Addr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := q.put(t, messageEntry(), testMsg)
	out, errOut, code := q.avectl(t, "release", e.ID)
	if code != 0 || len(mta.Messages()) != 1 {
		t.Fatalf("release: exit %d, %d messages\n%s%s", code, len(mta.Messages()), out, errOut)
	}
}

func TestReleaseRefusedDownstreamKeepsTheEntry(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*testkit.FakeMTA)
		want string
	}{
		{"5xx after DATA", func(m *testkit.FakeMTA) {
			m.DataErr = func(string) error {
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "no thanks"}
			}
		}, "554 5.7.1 no thanks"},
		{"4xx to RCPT", func(m *testkit.FakeMTA) {
			m.RcptErr = func(to string) error {
				if to == "c@example.net" {
					return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"}
				}
				return nil
			}
		}, "c@example.net: 450 4.2.1 mailbox busy"},
		{"downstream down", func(m *testkit.FakeMTA) { m.Stop() }, "451 4.4.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQEnv(t)
			mta := testkit.StartMTA(t, "tcp", false)
			tc.set(mta)
			e := q.put(t, messageEntry(), testMsg)
			out, errOut, code := q.avectl(t, "release", e.ID, "--mailer", "smtp:"+mta.Addr, "--delete")
			if code == 0 {
				t.Fatalf("release exit 0\n%s%s", out, errOut)
			}
			if !strings.Contains(out, tc.want) || !strings.Contains(errOut, "not marked released") {
				t.Fatalf("want %q in\n%s%s", tc.want, out, errOut)
			}
			got, err := q.open(t).Get(e.ID)
			if err != nil || !got.Released.IsZero() {
				t.Fatalf("entry after a refused release: %+v %v", got, err)
			}
		})
	}
}

func TestReleaseOfAPartOrAFileIsRefused(t *testing.T) {
	q := newQEnv(t)
	mta := testkit.StartMTA(t, "tcp", false)
	part := messageEntry()
	part.Kind, part.PartName = quarantine.KindPart, "invoice.exe"
	p := q.put(t, part, "MZ...")
	_, errOut, code := q.avectl(t, "release", p.ID, "--mailer", "smtp:"+mta.Addr)
	if code != 2 || !strings.Contains(errOut, "restore "+p.ID) {
		t.Fatalf("release of a part: exit %d %s", code, errOut)
	}
	f := q.put(t, quarantine.Entry{Path: "/tmp/x"}, "x")
	if _, errOut, code := q.avectl(t, "release", f.ID, "--mailer", "smtp:"+mta.Addr); code != 2 || !strings.Contains(errOut, "restore") {
		t.Fatalf("release of a file: exit %d %s", code, errOut)
	}
	if _, _, code := q.avectl(t, "release", "20990101T000000.000000-000000000000", "--mailer", "smtp:"+mta.Addr); code != 1 {
		t.Fatalf("release of a missing entry: exit %d", code)
	}
	if len(mta.Messages()) != 0 {
		t.Fatal("something reached downstream")
	}
	// The part comes out with restore --to.
	dest := filepath.Join(q.dir, "invoice.exe")
	if _, errOut, code := q.avectl(t, "restore", p.ID, "--to", dest); code != 0 {
		t.Fatalf("restore of a part: %d %s", code, errOut)
	}
	if b, _ := os.ReadFile(dest); string(b) != "MZ..." {
		t.Fatalf("restored part %q", b)
	}
}

func TestReleaseRefusesAddressesThatWouldBreakTheCommands(t *testing.T) {
	q := newQEnv(t)
	mta := testkit.StartMTA(t, "tcp", false)
	bad := messageEntry()
	bad.Rcpts = []string{"a@example.net>\r\nRCPT TO:<evil@example.com"}
	e := q.put(t, bad, testMsg)
	if _, errOut, code := q.avectl(t, "release", e.ID, "--mailer", "smtp:"+mta.Addr); code != 2 || !strings.Contains(errOut, "not an address") {
		t.Fatalf("exit %d %s", code, errOut)
	}
	if _, _, code := q.avectl(t, "release", e.ID, "--to", "x y@example.com", "--mailer", "smtp:"+mta.Addr); code != 2 {
		t.Fatalf("--to with a space: exit %d", code)
	}
	if mta.Sessions() != 0 {
		t.Fatal("downstream was contacted")
	}
}

func TestListAndShowPrintTheMailMetadata(t *testing.T) {
	q := newQEnv(t)
	e := q.put(t, messageEntry(), testMsg)
	part := messageEntry()
	part.Kind, part.PartName, part.From = quarantine.KindPart, "invoice.exe", ""
	p := q.put(t, part, "MZ")

	out, errOut, code := q.avectl(t, "list")
	if code != 0 {
		t.Fatalf("list: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("list:\n%s", out)
	}
	for _, want := range []string{e.ID, "INFECTED", "EICAR-Test-File", "<sender@example.org>", "b@example.net,c@example.net", "<q1@example.org>", " " + itoa(len(testMsg))} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("list line lacks %q: %s", want, lines[0])
		}
	}
	for _, want := range []string{p.ID, "<>", `part "invoice.exe"`} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("list line lacks %q: %s", want, lines[1])
		}
	}

	out, _, code = q.avectl(t, "list", "--json")
	if code != 0 {
		t.Fatal(code)
	}
	var got quarantine.Entry
	if err := json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Kind != "message" || got.From != "sender@example.org" || got.MessageID != "<q1@example.org>" || got.QueueID != "Q123" || !got.SMTPUTF8 {
		t.Fatalf("list --json: %+v", got)
	}

	out, _, code = q.avectl(t, "show", e.ID)
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"id:          " + e.ID, "kind:        message", "status:      INFECTED",
		"names:       EICAR-Test-File", "reason:      mail quarantine", "from:        <sender@example.org>",
		"rcpts:       b@example.net, c@example.net", "body:        8BITMIME", "smtputf8:    yes",
		"group:       default", "message-id:  <q1@example.org>", "queue-id:    Q123",
		"size:        " + itoa(len(testMsg)), "sha256:      " + e.SHA256, "released:    -", "producer:    smtpscanner"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "plain text marker") {
		t.Error("show printed the content")
	}
	out, _, _ = q.avectl(t, "show", p.ID)
	if !strings.Contains(out, "part-name:   invoice.exe\n") || !strings.Contains(out, "from:        <>\n") {
		t.Errorf("show of a part:\n%s", out)
	}
	out, _, code = q.avectl(t, "show", "--content", e.ID)
	if code != 0 || out != testMsg {
		t.Fatalf("show --content: %d %q", code, out)
	}

	// delete
	if out, _, code := q.avectl(t, "delete", p.ID); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %s", code, out)
	}
	out, _, _ = q.avectl(t, "list")
	if strings.Contains(out, p.ID) || !strings.Contains(out, e.ID) {
		t.Fatalf("list after delete:\n%s", out)
	}
}

func TestFileStoresKeepTheirBehaviour(t *testing.T) {
	q := newQEnv(t)
	f := q.put(t, quarantine.Entry{Path: "/srv/x.exe", Status: "INFECTED", Names: []string{"EICAR-Test-File"}}, "file content")
	var out, errOut bytes.Buffer
	conf := filepath.Join(q.dir, "scanner.conf")
	os.WriteFile(conf, []byte("[scanner.path]\nQuarantinePath = "+q.store+"\nKeyFile = "+q.key+"\n"), 0o600)
	// The store of [scanner.path], flags after the command too.
	if code := run([]string{"-c", conf, "quarantine", "show", f.ID}, &out, &errOut); code != 0 || out.String() != "file content" {
		t.Fatalf("show of a file entry: %d %q %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"-c", conf, "quarantine", "list", "--dir", q.store}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `"/srv/x.exe"`) {
		t.Fatalf("list: %d %q %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"-c", conf, "quarantine", "show", "--meta", f.ID}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "path:        /srv/x.exe\n") {
		t.Fatalf("show --meta: %d %q", code, out.String())
	}
	out.Reset()
	dest := filepath.Join(q.dir, "restored")
	if code := run([]string{"-c", conf, "quarantine", "restore", f.ID, "--to", dest}, &out, &errOut); code != 0 {
		t.Fatalf("restore ID --to: %d %s", code, errOut.String())
	}
	if code := run([]string{"-c", conf, "quarantine", "--backup", "--mail", "list"}, &out, &errOut); code != 2 {
		t.Fatalf("--backup --mail: %d", code)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestMailFindsTheStoresOfTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "mail.key")
	def, sales := filepath.Join(dir, "q-default"), filepath.Join(dir, "q-sales")
	conf := filepath.Join(dir, "ave.conf")
	text := "[smtpscan.general]\nQuarantineKeyFile = " + key + "\n\n" +
		"[smtpscan.group:sales]\nRecipients = @sales\\.example\\.com$\nQuarantinePath = " + sales + "\n\n" +
		"[smtpscan.group:default]\nQuarantinePath = " + def + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	put := func(store string) string {
		s, err := quarantine.Open(store, key)
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Put(strings.NewReader(testMsg), messageEntry())
		if err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	d, sl := put(def), put(sales)
	for _, tc := range []struct {
		args      []string
		want, not string
	}{
		{[]string{"--mail", "list"}, d, sl},
		{[]string{"list", "--mail", "--group", "sales"}, sl, d},
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"-c", conf, "quarantine"}, tc.args...), &out, &errOut)
		if code != 0 || !strings.Contains(out.String(), tc.want) || strings.Contains(out.String(), tc.not) {
			t.Fatalf("%v: exit %d\n%s%s", tc.args, code, out.String(), errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-c", conf, "quarantine", "--mail", "--group", "nope", "list"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "nope") {
		t.Fatalf("unknown group: %d %s", code, errOut.String())
	}
}

// TestReleasePassesTheStoredDSNParameters: RET and ENVID go on MAIL, each
// original recipient's NOTIFY and ORCPT on its RCPT (also when --to names
// it again); a new recipient gets none; a stored value RFC 3461 does not
// allow stops the release before anything is sent.
func TestReleasePassesTheStoredDSNParameters(t *testing.T) {
	q := newQEnv(t)
	mta := testkit.StartMTA(t, "tcp", false)
	in := messageEntry()
	in.Ret, in.EnvID = "HDRS", "env+id=1"
	in.RcptDSN = map[string]quarantine.RcptDSN{
		"b@example.net": {Notify: []string{"SUCCESS", "FAILURE"}, ORcptType: "rfc822", ORcpt: "B@Example.NET"},
	}
	e := q.put(t, in, testMsg)
	out, errOut, code := q.avectl(t, "release", e.ID, "--mailer", "smtp:"+mta.Addr)
	if code != 0 {
		t.Fatalf("release: exit %d\n%s%s", code, out, errOut)
	}
	msgs := mta.Messages()
	if len(msgs) != 1 {
		t.Fatalf("downstream got %d messages", len(msgs))
	}
	m := msgs[0]
	if m.MailOpts.Return != smtp.DSNReturnHeaders || m.MailOpts.EnvelopeID != "env+id=1" {
		t.Fatalf("MAIL parameters %+v", m.MailOpts)
	}
	b, c := m.RcptOpts[0], m.RcptOpts[1]
	if !reflect.DeepEqual(b.Notify, []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}) ||
		b.OriginalRecipientType != smtp.DSNAddressTypeRFC822 || b.OriginalRecipient != "B@Example.NET" {
		t.Fatalf("RCPT b@example.net parameters %+v", b)
	}
	if len(c.Notify) != 0 || c.OriginalRecipient != "" {
		t.Fatalf("RCPT c@example.net got parameters %+v", c)
	}

	// --to: the original recipient keeps its parameters, a new one has none.
	mta.Reset()
	if out, errOut, code := q.avectl(t, "release", e.ID, "--force", "--to", "new@example.com", "--to", "b@example.net", "--mailer", "smtp:"+mta.Addr); code != 0 {
		t.Fatalf("release --to: exit %d\n%s%s", code, out, errOut)
	}
	m = mta.Messages()[0]
	if len(m.RcptOpts[0].Notify) != 0 || len(m.RcptOpts[1].Notify) != 2 || m.RcptOpts[1].OriginalRecipient != "B@Example.NET" {
		t.Fatalf("RCPT parameters with --to: %+v", m.RcptOpts)
	}

	for _, bad := range []func(*quarantine.Entry){
		func(e *quarantine.Entry) { e.Ret = "FULL\r\nRSET" },
		func(e *quarantine.Entry) {
			e.RcptDSN = map[string]quarantine.RcptDSN{"b@example.net": {Notify: []string{"ALWAYS"}}}
		},
		func(e *quarantine.Entry) {
			e.RcptDSN = map[string]quarantine.RcptDSN{"b@example.net": {ORcptType: "rfc822 X", ORcpt: "b@example.net"}}
		},
	} {
		x := messageEntry()
		bad(&x)
		e := q.put(t, x, testMsg)
		mta.Reset()
		if _, errOut, code := q.avectl(t, "release", e.ID, "--mailer", "smtp:"+mta.Addr); code != 2 || !strings.Contains(errOut, "stored ") {
			t.Fatalf("bad DSN %+v: exit %d %s", x, code, errOut)
		}
		if len(mta.Messages()) != 0 {
			t.Fatal("a release with bad stored DSN parameters reached downstream")
		}
	}
}

// TestReleaseOfAnEntryInUseIsRefused: while another process holds the
// entry (a release under way), a second release is refused with exit 2
// and sends nothing; once it is free, the release goes through.
func TestReleaseOfAnEntryInUseIsRefused(t *testing.T) {
	q := newQEnv(t)
	mta := testkit.StartMTA(t, "tcp", false)
	e := q.put(t, messageEntry(), testMsg)
	unlock, err := q.open(t).Lock(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := q.avectl(t, "release", e.ID, "--mailer", "smtp:"+mta.Addr); code != 2 || !strings.Contains(errOut, "in use by another process") {
		t.Fatalf("release of a held entry: exit %d %s", code, errOut)
	}
	if mta.Sessions() != 0 {
		t.Fatal("downstream was contacted")
	}
	unlock()
	if out, errOut, code := q.avectl(t, "release", e.ID, "--mailer", "smtp:"+mta.Addr); code != 0 {
		t.Fatalf("release after unlock: exit %d\n%s%s", code, out, errOut)
	}
	if len(mta.Messages()) != 1 {
		t.Fatalf("downstream got %d messages", len(mta.Messages()))
	}
}

// TestQuarantineCommandsCreateNothing: before anything was quarantined,
// `list` is an empty list (exit 0, saying why) and `show` an error, and
// neither creates the store or the key: run as root, they would lock out
// the daemon that owns them.
func TestQuarantineCommandsCreateNothing(t *testing.T) {
	q := newQEnv(t)
	out, errOut, code := q.avectl(t, "list")
	if code != 0 || out != "" || !strings.Contains(errOut, "nothing was quarantined") {
		t.Fatalf("list: exit %d, %q %q", code, out, errOut)
	}
	if _, errOut, code := q.avectl(t, "show", "20261208T000000.000000-000000000000"); code != 2 || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("show: exit %d, %q", code, errOut)
	}
	for _, p := range []string{q.store, q.key} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s was created (%v)", p, err)
		}
	}
	// Once the daemon made them, the same commands read them.
	q.put(t, messageEntry(), testMsg)
	if out, _, code := q.avectl(t, "list"); code != 0 || !strings.Contains(out, "EICAR-Test-File") {
		t.Fatalf("list after a put: exit %d, %q", code, out)
	}
}
