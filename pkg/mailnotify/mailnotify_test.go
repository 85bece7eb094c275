package mailnotify

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBuiltinsEqualShipped(t *testing.T) {
	for _, k := range kinds {
		shipped, err := os.ReadFile(filepath.Join("..", "..", "etc", "templates", k.File()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(shipped, Builtin(k)) {
			t.Errorf("etc/templates/%s differs from the built-in pkg/mailnotify/templates/%s", k.File(), k.File())
		}
	}
	if _, err := Load(filepath.Join("..", "..", "etc", "templates")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(""); err != nil {
		t.Fatal(err)
	}
}

func TestKind(t *testing.T) {
	for k, want := range map[Kind]string{Sender: "sender", Recipient: "recipient", Admin: "admin", Kind(7): "unknown"} {
		if k.String() != want {
			t.Errorf("%d: %q", int(k), k.String())
		}
	}
	if Admin.File() != "admin.txt" {
		t.Error(Admin.File())
	}
}

// hostile is Data an attacker shaped: line breaks in every field,
// encoded-words that decode to line breaks, very long and non-ASCII text.
func hostile() Data {
	long := strings.Repeat("A", 5000)
	return Data{
		QueueID:    "Q1\r\nBcc: evil@example.com",
		MessageID:  "<m1@x>\r\nX-Injected: 1",
		Sender:     "bad\r\nX-Injected: sender@example.com",
		Recipients: []string{"a@example.net", "b@example.net\nX-Injected: 2"},
		Status:     "INFECTED\r\n\r\nbody",
		Names:      []string{"EICAR-Test-File\r\nX-Injected: 3", "Grüße-日本語", long},
		Action:     "not delivered\n\nContent-Type: text/html",
		Group:      "default\rX-Injected: 4",
		Report:     "line one\r\nline two\rline three\nTrojan.\x00\x1b[31mRed\n\n",
		Hostname:   "mx.example.org\r\nX-Injected: 5",
		Date:       time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600)),
		Header: []byte("Received: from x\r\n\tby y\r\n" +
			"Subject: =?utf-8?q?Hello=0D=0ABcc:_evil@example.com?= " + "=?utf-8?b?R3LDvMOfZSDml6XmnKzoqp4=?=\r\n" +
			"From: =?iso-8859-1?q?J=F6rg?= <j@example.org>\r\n" +
			"X-Long: " + long + "\r\n" +
			"X-Folded: part one\r\n  part two\r\n" +
			"X-Bin: \xff\xfe\x01bad\r\n" +
			"\r\n"),
	}
}

// allMacros is a template using every macro in header lines and body.
const allMacros = "Subject: %STATUS% %VIRUSNAMES% %SUBJECT% %SENDER% %%\n" +
	"X-Info: %QUEUEID% %MESSAGEID% %RECIPIENTS% %ACTION% %GROUP% %HOSTNAME% %DATE% %HEADER:X-Long%\n" +
	"X-Report: %REPORT% %HEADERS%\n" +
	"Reply-To: postmaster@example.org\n" +
	"\n" +
	"Q=%QUEUEID%\nM=%MESSAGEID%\nS=%SENDER%\nR=%RECIPIENTS%\nT=%STATUS%\nV=%VIRUSNAMES%\n" +
	"A=%ACTION%\nG=%GROUP%\nH=%HOSTNAME%\nD=%DATE%\nJ=%SUBJECT%\nF=%HEADER:from%\nX=%HEADER:X-Missing%\n" +
	"L=%HEADER:X-Folded%\nB=%HEADER:X-Bin%\n100%% sure\n" +
	"REPORT:\n%REPORT%\nHEADERS:\n%HEADERS%\nEND\n"

func mustParse(t testing.TB, name, src string) *Template {
	t.Helper()
	tm, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestRenderHostile(t *testing.T) {
	d := hostile()
	orig8bit := []byte("Received: from x\r\nSubject: caf\xc3\xa9\r\n\r\nbody \xe9 8-bit\r\n.\r\nend") // no final CRLF
	origLF := []byte("Subject: lf\n\nbody\n" + strings.Repeat("x", 2000) + "\n")
	binary := []byte{0, 1, 2, '\r', '\n', 0xff, '\n', '\r'}
	atts := []Attachment{
		{"report.txt", "text/plain; charset=utf-8", []byte("r1\nr2\r\nr3 é\n")},
		{"original.eml", "message/rfc822", orig8bit},
		{"cured.eml", "message/rfc822", origLF},
		{"../../etc/passwd\r\nX: y", "application/x-thing", binary},
		{"", "", []byte("plain\r\n")},
	}
	custom := New(nil, nil, mustParse(t, "admin", allMacros))
	for _, ts := range []*Templates{nil, New(nil, nil, nil), custom} {
		for _, k := range kinds {
			for _, withAtts := range []bool{false, true} {
				var a []Attachment
				if withAtts {
					a = atts
				}
				msg, err := ts.Render(k, "AVE <mailer-daemon@mx.example.org>", "user@example.net", d, a)
				if err != nil {
					t.Fatal(err)
				}
				p, err := checkMessage(msg)
				if err != nil {
					t.Fatalf("%v %v: %v\n%s", k, withAtts, err, msg)
				}
				want := []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Auto-Submitted", "X-AVE-Notification"}
				if ts == custom && k == Admin {
					want = append(want, "X-Info", "X-Report", "Reply-To")
				}
				want = append(want, "Content-Type")
				if !withAtts {
					want = append(want, "Content-Transfer-Encoding")
				}
				if !reflect.DeepEqual(p.names, want) {
					t.Fatalf("%v: header fields %q, want %q", k, p.names, want)
				}
				if g := p.header.Get("X-AVE-Notification"); g != k.String() {
					t.Errorf("X-AVE-Notification %q", g)
				}
				if g := p.header.Get("Auto-Submitted"); g != "auto-generated" {
					t.Errorf("Auto-Submitted %q", g)
				}
				if g := p.header.Get("To"); g != "<user@example.net>" {
					t.Errorf("To %q", g)
				}
				if g := p.header.Get("Date"); g != "Wed, 04 Mar 2026 05:06:07 +0100" {
					t.Errorf("Date %q", g)
				}
				if g := p.header.Get("Message-ID"); !strings.HasSuffix(g, "@localhost>") {
					t.Errorf("Message-ID %q (bad Hostname must give localhost)", g)
				}
				if strings.Contains(p.text, "%") && !(ts == custom && k == Admin) {
					t.Errorf("%v: macro left in text:\n%s", k, p.text)
				}
				if k != Admin && !strings.Contains(p.subject, "Hello Bcc: evil@example.comGrüße 日本語") {
					t.Errorf("%v: subject %q", k, p.subject)
				}
				if k != Admin && !strings.Contains(p.text, "Hello Bcc: evil@example.comGrüße 日本語") {
					t.Errorf("%v: text lacks the subject:\n%s", k, p.text)
				}
				if !withAtts {
					if len(p.atts) != 0 {
						t.Errorf("attachments %d", len(p.atts))
					}
					continue
				}
				if len(p.atts) != len(atts) {
					t.Fatalf("%d attachments", len(p.atts))
				}
				checkAtt := func(i int, ct, cte, name string, data []byte) {
					t.Helper()
					g := p.atts[i]
					if g.contentType != ct || g.cte != cte || g.filename != name || !bytes.Equal(g.data, data) {
						t.Errorf("attachment %d: %q %q %q %q, want %q %q %q %q", i, g.contentType, g.cte, g.filename, g.data, ct, cte, name, data)
					}
				}
				checkAtt(0, "text/plain; charset=utf-8", "quoted-printable", "report.txt", []byte("r1\r\nr2\r\nr3 é\r\n"))
				checkAtt(1, "message/rfc822", "8bit", "original.eml", orig8bit)
				checkAtt(2, "application/octet-stream", "base64", "cured.eml", origLF)
				checkAtt(3, "application/x-thing", "base64", ".._.._etc_passwd X: y", binary)
				checkAtt(4, "application/octet-stream", "7bit", "attachment-5", []byte("plain\r\n"))
			}
		}
	}
}

func TestMacros(t *testing.T) {
	d := hostile()
	ts := New(nil, nil, mustParse(t, "admin", allMacros))
	msg, err := ts.Render(Admin, "", "postmaster@example.org", d, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := checkMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.header.Get("From"); g != "<MAILER-DAEMON@localhost>" {
		t.Errorf("From %q", g)
	}
	long := strings.Repeat("A", 5000)
	for _, want := range []string{
		"\r\nQ=Q1 Bcc: evil@example.com\r\n",
		"\r\nM=<m1@x> X-Injected: 1\r\n",
		"\r\nS=bad X-Injected: sender@example.com\r\n",
		"\r\nR=a@example.net, b@example.net X-Injected: 2\r\n",
		"\r\nT=INFECTED body\r\n",
		"\r\nV=EICAR-Test-File X-Injected: 3, Grüße-日本語, " + long + "\r\n",
		"\r\nA=not delivered Content-Type: text/html\r\n",
		"\r\nG=default X-Injected: 4\r\n",
		"\r\nH=mx.example.org X-Injected: 5\r\n",
		"\r\nD=Wed, 04 Mar 2026 05:06:07 +0100\r\n",
		"\r\nJ=Hello Bcc: evil@example.comGrüße 日本語\r\n",
		"\r\nF=Jörg <j@example.org>\r\n",
		"\r\nX=\r\n",
		"\r\nL=part one part two\r\n",
		"\r\nB=\ufffdbad\r\n",
		"\r\n100% sure\r\n",
		"\r\nREPORT:\r\nline one\r\nline two\r\nline three\r\nTrojan.\ufffd\ufffd[31mRed\r\nHEADERS:\r\n",
		"\r\nHEADERS:\r\nReceived: from x\r\n\tby y\r\nSubject: =?utf-8?q?Hello=0D=0ABcc:_evil@example.com?= =?utf-8?b?R3LDvMOfZSDml6XmnKzoqp4=?=\r\n",
		"\r\nX-Folded: part one\r\n  part two\r\nX-Bin: \ufffd\ufffdbad\r\nEND\r\n",
	} {
		if !strings.Contains("\r\n"+p.text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if !strings.HasSuffix(p.text, "\r\nEND\r\n") {
		t.Errorf("text ends %q", p.text[len(p.text)-20:])
	}
	dec := func(k string) string {
		t.Helper()
		s := p.header.Get(k)
		// net/mail unfolds nothing; unfold and decode as a reader does.
		s = strings.ReplaceAll(s, "\r\n", "")
		out, err := wordDecoder.DecodeHeader(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if g := p.subject; g != "INFECTED body EICAR-Test-File X-Injected: 3, Grüße-日本語, "+long[:maxHeaderValue-len("INFECTED body EICAR-Test-File X-Injected: 3, Grüße-日本語, ")]+"..." {
		t.Errorf("subject %q", g)
	}
	if g := dec("X-Info"); !strings.HasPrefix(g, "Q1 Bcc: evil@example.com <m1@x> X-Injected: 1 a@example.net, b@example.net X-Injected: 2 not delivered Content-Type: text/html default X-Injected: 4 mx.example.org X-Injected: 5 Wed, 04 Mar 2026 05:06:07 +0100 AAAA") {
		t.Errorf("X-Info %q", g)
	}
	if g := dec("X-Report"); !strings.HasPrefix(g, "line one line two line three Trojan.[31mRed Received: from x by y Subject:") {
		t.Errorf("X-Report %q", g)
	}
	if g := p.header.Get("Reply-To"); g != "postmaster@example.org" {
		t.Errorf("Reply-To %q", g)
	}

	// Empty data: "<>" sender, "-" names, empty header macros, and the
	// lines with empty values lose their trailing blanks.
	msg, err = ts.Render(Admin, "", "postmaster@example.org", Data{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = checkMessage(msg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\r\nS=<>\r\n", "\r\nV=-\r\n", "\r\nJ=\r\n", "\r\nREPORT:\r\n\r\nHEADERS:\r\n\r\nEND\r\n"} {
		if !strings.Contains(p.text, want) {
			t.Errorf("empty data: text lacks %q:\n%s", want, p.text)
		}
	}
	if g := p.header.Get("Content-Transfer-Encoding"); g != "7bit" {
		t.Errorf("ASCII text sent %q", g)
	}
	if g := p.subject; g != "- <> %" {
		t.Errorf("subject %q", g)
	}
}

func TestRenderLongLines(t *testing.T) {
	ts := New(mustParse(t, "s", "Subject: %SUBJECT%\n\n%REPORT%\n"), nil, nil)
	word := strings.Repeat("w", 3000)
	d := Data{Report: word + "\n" + strings.Repeat("x ", 600), Header: []byte("Subject: " + word + " " + strings.Repeat("short ", 200) + "\r\n")}
	msg, err := ts.Render(Sender, "", "a@example.org", d, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := checkMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if p.header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Errorf("long lines sent %q", p.header.Get("Content-Transfer-Encoding"))
	}
	if p.text != word+"\r\n"+strings.TrimSpace(strings.Repeat("x ", 600))+"\r\n" {
		t.Errorf("text %q", p.text)
	}
	want := word + " " + strings.TrimSpace(strings.Repeat("short ", 200))
	if len(want) > maxHeaderValue {
		want = want[:maxHeaderValue] + "..."
	}
	if p.subject != want {
		t.Errorf("subject %q\nwant %q", p.subject, want)
	}
}

func TestRenderErrors(t *testing.T) {
	ts := New(nil, nil, nil)
	for _, c := range []struct {
		kind     Kind
		from, to string
	}{
		{Kind(3), "", "a@example.org"},
		{Sender, "", ""},
		{Sender, "", "not an address"},
		{Sender, "", "a@example.org\r\nBcc: b@example.org"},
		{Sender, "bad", "a@example.org"},
		{Sender, "", strings.Repeat("a", 1000) + "@example.org"},
	} {
		if _, err := ts.Render(c.kind, c.from, c.to, Data{}, nil); err == nil {
			t.Errorf("%v %q %q: no error", c.kind, c.from, c.to)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	custom := "Subject: custom %STATUS%\r\nX-Mailer: AVE\r\n\r\nCustom body %QUEUEID%\r\n"
	if err := os.WriteFile(filepath.Join(dir, "sender.txt"), []byte("\xef\xbb\xbf"+custom), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ts.Render(Sender, "", "a@example.org", Data{Status: "INFECTED", QueueID: "Q9"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := checkMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if p.subject != "custom INFECTED" || p.text != "Custom body Q9\r\n" || p.header.Get("X-Mailer") != "AVE" {
		t.Errorf("custom sender: %q %q", p.subject, p.text)
	}
	msg, err = ts.Render(Admin, "", "a@example.org", Data{Status: "INFECTED"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = checkMessage(msg); err != nil || !strings.HasPrefix(p.subject, "[AVE] INFECTED message from <>") {
		t.Errorf("built-in admin: %v %q", err, p.subject)
	}

	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory: no error")
	}
	if _, err := Load(filepath.Join(dir, "sender.txt")); err == nil {
		t.Error("file as directory: no error")
	}

	for _, c := range []struct {
		file, src string
		line      int
		msg       string
	}{
		{"admin.txt", "Subject: x\n\nline\nline\n%FOO%\n", 5, "unknown macro %FOO%"},
		{"admin.txt", "Subject: x\nthis is not a header\n\nbody\n", 2, "not a header line"},
		{"recipient.txt", "X-Other: 1\n\nbody\n", 1, "no Subject"},
		{"recipient.txt", "Hello,\n\nbody\n", 1, "not a header line"},
		{"sender.txt", "Subject: x\n\nok\n\xe9t\xe9\n", 4, "not valid UTF-8"},
		{"sender.txt", "Subject: 100% sure\n\n", 1, `lone "%"`},
		{"sender.txt", "Subject: x\nFrom: me@example.org\n\n", 2, "written by the notifier"},
		{"sender.txt", "Subject: x\nContent-Type: text/html\n\n", 2, "written by the notifier"},
		{"sender.txt", "Subject: x\nsubject: y\n\n", 2, "second Subject"},
		{"sender.txt", " Subject: x\n\n", 1, "continuation line"},
		{"sender.txt", "Subject: x\n\nbell \a\n", 3, "control character"},
		{"sender.txt", "Subject: %HEADER:%\n\n", 1, "unknown macro"},
		{"sender.txt", "Subject: %header:Subject%\n\n", 1, "unknown macro"},
	} {
		d := t.TempDir()
		p := filepath.Join(d, c.file)
		if err := os.WriteFile(p, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(d)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v", c.src, err)
			continue
		}
		if pe.File != p || pe.Line != c.line || !strings.Contains(pe.Msg, c.msg) {
			t.Errorf("%q: %v, want %s:%d: %s", c.src, err, p, c.line, c.msg)
		}
		if !strings.Contains(err.Error(), p+":"+strconv.Itoa(c.line)+":") {
			t.Errorf("error text %q does not name file and line", err)
		}
	}
	if _, err := Parse("x", bytes.Repeat([]byte("a"), MaxTemplateSize+1)); err == nil {
		t.Error("oversized template: no error")
	}
	// Accepted: continuation lines, headers only, macros in other headers.
	tm := mustParse(t, "ok", "Subject: a\n  b %STATUS%\nX-A: %HEADER:Subject%")
	if len(tm.body) != 0 || len(tm.headers) != 1 {
		t.Errorf("%+v", tm)
	}
}

func TestSuppress(t *testing.T) {
	for _, c := range []struct {
		sender, header string
		all, toSender  bool
		reason         string
	}{
		{"a@example.org", "Subject: x\r\n\r\n", false, true, ""},
		{"a@example.org", "", false, true, ""},
		{"a@example.org", "Auto-Submitted: no\r\n", false, true, ""},
		{"a@example.org", "Auto-Submitted: No (a person)\r\n", false, true, ""},
		{"a@example.org", "Auto-Submitted: auto-replied\r\n", true, false, "auto-replied"},
		{"a@example.org", "auto-submitted: Auto-Generated; owner-email=x@y\r\n", true, false, "auto-generated"},
		{"a@example.org", "Auto-Submitted:\r\n", true, false, "empty"},
		{"a@example.org", "Subject: x\nX-AVE-Notification: sender\n\n", true, false, "AVE notification"},
		{"", "X-AVE-Notification: admin\r\n", true, false, "AVE notification"},
		{"", "Subject: bounce\r\n", false, false, "null sender"},
		{"MAILER-DAEMON@mx.example.org", "", false, false, "mail system"},
		{"postmaster@example.org", "", false, false, "mail system"},
		{"Double-Bounce@example.org", "", false, false, "mail system"},
		{"owner-list@example.org", "", false, false, "mailing list"},
		{"list-request@example.org", "", false, false, "mailing list"},
		{"list-bounces+a=b@example.org", "", false, false, "mailing list"},
		{"a@example.org", "Precedence: bulk\r\n", false, false, "Precedence: bulk"},
		{"a@example.org", "Precedence: LIST\r\n", false, false, "Precedence: list"},
		{"a@example.org", "Precedence: first-class\r\n", false, true, ""},
		{"a@example.org", "List-Id: <l.example.org>\r\n", false, false, "List-Id"},
		{"nodomain", "", false, false, "without domain"},
		// Fields after the header's empty line are body text.
		{"a@example.org", "Subject: x\r\n\r\nAuto-Submitted: auto-replied\r\n", false, true, ""},
		// A folded Auto-Submitted value.
		{"a@example.org", "Auto-Submitted:\r\n auto-replied\r\n", true, false, "auto-replied"},
	} {
		all, to, reason := Suppress(c.sender, []byte(c.header))
		if all != c.all || to != c.toSender || !strings.Contains(reason, c.reason) || (c.reason == "") != (reason == "") {
			t.Errorf("Suppress(%q, %q) = %v %v %q, want %v %v %q", c.sender, c.header, all, to, reason, c.all, c.toSender, c.reason)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(2)
	if !l.Allow() || !l.Allow() || l.Allow() || l.Sent() != 2 {
		t.Error("limit 2")
	}
	if NewLimiter(0).Allow() || NewLimiter(-1).Allow() {
		t.Error("limit 0 allows")
	}
}

func TestZeroTemplates(t *testing.T) {
	var ts Templates
	msg, err := ts.Render(Recipient, "", "a@example.org", Data{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkMessage(msg); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeValue: a word of a charset the templates cannot show stays as
// it is; the words around it are still decoded (a %SUBJECT% is not left
// entirely encoded because of one odd word).
func TestDecodeValue(t *testing.T) {
	for in, want := range map[string]string{
		"=?utf-8?q?Gr=C3=BC=C3=9Fe?= =?windows-1252?q?=80?=": "Grüße€",
		"=?koi8-r?q?=E1?= =?utf-8?q?Gr=C3=BC=C3=9Fe?=":       "=?koi8-r?q?=E1?= Grüße",
		"Re: =?utf-8?q?a?=\r\n =?x-mac-roman?q?b?= c":        "Re: a =?x-mac-roman?q?b?= c",
	} {
		if got := decodeValue(in); got != want {
			t.Errorf("decodeValue(%q) = %q, want %q", in, got, want)
		}
	}
}
