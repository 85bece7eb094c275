package mailedit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"ave/pkg/mimeparts"
)

var eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

func b64(s string) string {
	e := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(e) > 76 {
		b.WriteString(e[:76] + "\r\n")
		e = e[76:]
	}
	b.WriteString(e)
	return b.String()
}

func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

const head = "Return-Path: <a@example.org>\r\nReceived: from mx.example.org (mx.example.org [192.0.2.1])\r\n\tby mail.example.com with ESMTP id 4Xyz; Thu, 1 Jan 2026 10:00:00 +0000\r\n" +
	"From: Alice <a@example.org>\r\nTo: b@example.com\r\nSubject: Invoice\r\nDate: Thu, 1 Jan 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\nMIME-Version: 1.0\r\n"

var (
	mixed = head + "Content-Type: multipart/mixed; boundary=\"----=_Part_1\"\r\n\r\n" +
		"This is a multi-part message in MIME format.\r\n" +
		"------=_Part_1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nPlease find the invoice attached.\r\n\r\n" +
		"------=_Part_1\r\nContent-Type: application/x-msdownload; name=\"eicar.com\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"eicar.com\"\r\n\r\n" + b64(eicar) + "\r\n" +
		"------=_Part_1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n filename=\"invoice.pdf\"\r\n\r\n" + b64("%PDF-1.4\n%%EOF\n") + "\r\n" +
		"------=_Part_1--\r\n"

	nested = head + "Content-Type: multipart/mixed;\r\n\tboundary=\"outer\"\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello\r\n" +
		"--inner\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>Hello <script>evil()</script></p>\r\n" +
		"--inner--\r\n" +
		"--outer\r\nContent-Type: application/octet-stream; name=\"invoice.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("MZ\x90\x00"+eicar) + "\r\n" +
		"--outer--\r\n"

	rfc822 = head + "Content-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\nForwarded.\r\n" +
		"--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" +
		"From: x@example.net\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=b2\r\n\r\n--b2\r\nContent-Type: application/zip; name=v.zip\r\n\r\nPK\r\n--b2--\r\n" +
		"--b1--\r\n"

	single = head + "Content-Type: application/octet-stream; name=\"setup.exe\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"setup.exe\"\r\nContent-ID: <x@y>\r\n\r\n" + b64(eicar) + "\r\n"

	noFinalNewline = strings.TrimSuffix(mixed, "\r\n")

	unclosed = head + "Content-Type: multipart/mixed; boundary=\"u\"\r\n\r\n" +
		"--u\r\nContent-Type: text/plain\r\n\r\nbody\r\n" +
		"--u\r\nContent-Type: application/zip; name=\"a.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64("PK\x03\x04junk") + "\r\n"

	preamble = head + "Content-Type: multipart/mixed; boundary=\"pp\"\r\n\r\n" +
		"preamble line\r\n--ppx is not a delimiter here\r\n\r\n" +
		"--pp\r\n\r\nimplicit text/plain part\r\n" +
		"--pp \r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''%E2%82%AC.bat\r\n\r\n@echo off\r\n" +
		"--pp--\r\nepilogue\r\n--pp\r\nnot a part\r\n"
)

type cureCase struct {
	name    string
	msg     string
	remove  []string // leaf names to remove
	stdlib  bool     // net/mail + mime/multipart read the whole result
	wantErr error
}

var cureCases = []cureCase{
	{name: "mixed base64", msg: mixed, remove: []string{"eicar.com"}, stdlib: true},
	{name: "mixed two", msg: mixed, remove: []string{"eicar.com", "invoice.pdf"}, stdlib: true},
	{name: "nested alternative", msg: nested, remove: []string{"1.2", "invoice.exe"}, stdlib: true},
	{name: "message/rfc822", msg: rfc822, remove: []string{"2"}, stdlib: true},
	{name: "single part", msg: single, remove: []string{"setup.exe"}, wantErr: ErrEdit},
	{name: "LF only", msg: lf(nested), remove: []string{"1.1", "invoice.exe"}, stdlib: true},
	{name: "no final newline", msg: noFinalNewline, remove: []string{"invoice.pdf"}, stdlib: true},
	{name: "missing closing boundary", msg: unclosed, remove: []string{"a.zip"}},
	{name: "preamble epilogue", msg: preamble, remove: []string{"1", "€.bat"}, stdlib: true},
}

func leafIndex(leaves []mimeparts.Leaf, name string) int {
	for i, l := range leaves {
		if l.Name == name {
			return i
		}
	}
	return -1
}

// stdLeaves reads a message with net/mail and mime/multipart and returns
// its leaf parts in order: file name (or media type) and decoded body.
// message/rfc822 parts are not descended, like mimeparts does.
func stdLeaves(t *testing.T, msg []byte) (names, bodies []string, err error) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return nil, nil, err
	}
	var walk func(ctype string, body io.Reader, disp string) error
	walk = func(ctype string, body io.Reader, disp string) error {
		if ctype == "" {
			ctype = "text/plain"
		}
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			return err
		}
		if strings.HasPrefix(mt, "multipart/") {
			r := multipart.NewReader(body, params["boundary"])
			for {
				p, err := r.NextPart()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := walk(p.Header.Get("Content-Type"), p, p.Header.Get("Content-Disposition")); err != nil {
					return err
				}
			}
		}
		data, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		name := mt
		if _, dp, err := mime.ParseMediaType(disp); err == nil && dp["filename"] != "" {
			name = dp["filename"]
		}
		names = append(names, name)
		bodies = append(bodies, string(data))
		return nil
	}
	err = walk(m.Header.Get("Content-Type"), m.Body, m.Header.Get("Content-Disposition"))
	return names, bodies, err
}

// checkOutside asserts that out is raw with only the edited spans
// changed: the gaps between them are byte-identical (give or take the line
// end Replace adds after a delimiter line that had none).
func checkOutside(t *testing.T, raw, out []byte, edits []Edit, eol string) {
	t.Helper()
	after := mimeparts.Leaves(out)
	before := mimeparts.Leaves(raw)
	var spans [][2]int64
	for _, e := range edits {
		for i, l := range before {
			if l.Start == e.Start && l.End == e.End {
				spans = append(spans, [2]int64{after[i].Start, after[i].End})
			}
		}
	}
	if len(spans) != len(edits) {
		t.Fatalf("edited spans not found again")
	}
	prevRaw, prevOut := int64(0), int64(0)
	for k := 0; k <= len(edits); k++ {
		endRaw, endOut := int64(len(raw)), int64(len(out))
		if k < len(edits) {
			endRaw, endOut = edits[k].Start, spans[k][0]
		}
		g, g2 := string(raw[prevRaw:endRaw]), string(out[prevOut:endOut])
		if g2 != g && g2 != g+eol && g2 != eol+g && g2 != eol+g+eol {
			t.Fatalf("bytes outside edit %d changed:\n was %q\n now %q", k, g, g2)
		}
		if k < len(edits) {
			prevRaw, prevOut = edits[k].End, spans[k][1]
		}
	}
}

func TestReplace(t *testing.T) {
	for _, tc := range cureCases {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.msg)
			leaves := mimeparts.Leaves(raw)
			var edits []Edit
			var removed []int
			for n, name := range tc.remove {
				i := leafIndex(leaves, name)
				if i < 0 {
					t.Fatalf("no leaf %q in %+v", name, leaves)
				}
				removed = append(removed, i)
				edits = append(edits, Edit{Start: leaves[i].Start, End: leaves[i].End,
					Notice: fmt.Sprintf("The attachment %q was removed: infected with EICAR-Test-File (é).\n---\nFrom the AVE mail filter %d", name, n)})
			}
			out, err := Replace(raw, edits)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eol := "\r\n"
			if !bytes.Contains(raw, []byte("\r\n")) {
				eol = "\n"
			}
			checkOutside(t, raw, out, edits, eol)
			if eol == "\n" && bytes.Contains(out, []byte("\r")) {
				t.Errorf("CR added to an LF message")
			}
			after := mimeparts.Leaves(out)
			if len(after) != len(leaves) {
				t.Fatalf("%d leaves after, %d before", len(after), len(leaves))
			}
			for n, i := range removed {
				if got, want := after[i].Name, "removed-"+strconv.Itoa(n+1)+".txt"; got != want {
					t.Errorf("leaf %d named %q, want %q", i, got, want)
				}
			}
			names, bodies, err := stdLeaves(t, out)
			if tc.stdlib && err != nil {
				t.Fatalf("stdlib: %v\n%s", err, out)
			}
			if len(names) < len(leaves)-1 {
				t.Fatalf("stdlib sees %q", names)
			}
			for n, i := range removed {
				if i >= len(names) {
					continue // unread by the stdlib (unclosed)
				}
				if names[i] != "removed-"+strconv.Itoa(n+1)+".txt" || bodies[i] != strings.ReplaceAll(edits[n].Notice, "\n", eol) {
					t.Errorf("stdlib part %d: %q %q, want notice %q", i, names[i], bodies[i], edits[n].Notice)
				}
			}
		})
	}
}

func TestReplaceRefusesBadEdits(t *testing.T) {
	raw := []byte(mixed)
	l := mimeparts.Leaves(raw)
	for name, edits := range map[string][]Edit{
		"not a leaf":  {{Start: l[1].Start + 1, End: l[1].End}},
		"unsorted":    {{Start: l[2].Start, End: l[2].End}, {Start: l[1].Start, End: l[1].End}},
		"twice":       {{Start: l[1].Start, End: l[1].End}, {Start: l[1].Start, End: l[1].End}},
		"negative":    {{Start: -5, End: 3}},
		"past end":    {{Start: 1 << 40, End: 1<<40 + 1}},
		"root single": {{Start: 0, End: int64(len(raw))}},
	} {
		if _, err := Replace(raw, edits); !errors.Is(err, ErrEdit) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if _, err := Replace([]byte("From a\nX: 1\n\nFrom b\nX: 2\n\n"), nil); !errors.Is(err, ErrMbox) {
		t.Errorf("mbox: %v", err)
	}
}

func TestReplaceEscapesNotice(t *testing.T) {
	raw := []byte(mixed)
	l := mimeparts.Leaves(raw)
	notice := "------=_Part_1--\nFrom evil\n.\n" + strings.Repeat("-x", 100) + "\ntrailing \t"
	out, err := Replace(raw, []Edit{{Start: l[1].Start, End: l[1].End, Notice: notice}})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out[l[1].Start:]), "\r\n") {
		if len(line) > 78 {
			t.Errorf("long line %q", line)
		}
	}
	_, bodies, err := stdLeaves(t, out)
	if err != nil || len(bodies) != 3 || bodies[1] != strings.ReplaceAll(notice, "\n", "\r\n") {
		t.Fatalf("stdlib: %v %q", err, bodies)
	}
}

// TestReplaceEmptyParts covers delimiters with nothing between them and a
// delimiter line at the very end.
func TestReplaceEmptyParts(t *testing.T) {
	for _, msg := range []string{
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\nx\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n--c",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b",
	} {
		raw := []byte(msg)
		var edits []Edit
		for _, l := range mimeparts.Leaves(raw) {
			edits = append(edits, Edit{Start: l.Start, End: l.End, Notice: "gone"})
		}
		out, err := Replace(raw, edits)
		if err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
		if n := bytes.Count(out, []byte("removed-")); n != len(edits) {
			t.Errorf("%q -> %q", msg, out)
		}
	}
}

func TestAppendPart(t *testing.T) {
	report := "AVE scan report\n\neicar.com: infected (EICAR-Test-File), removed\n"
	for _, tc := range []struct {
		name, msg string
		insert    bool // inserted before the closing delimiter
		stdlib    bool
	}{
		{"mixed", mixed, true, true},
		{"no final newline", noFinalNewline, true, true},
		{"nested", nested, true, true},
		{"preamble epilogue", preamble, true, true},
		{"LF", lf(rfc822), true, true},
		{"single", single, false, true},
		{"unclosed", unclosed, false, false}, // the stdlib stops at the inner unclosed multipart
		{"alternative", strings.Replace(nested, "multipart/mixed", "multipart/signed", 1), false, true},
		{"plain no header fields of MIME", "From: a\nSubject: hi\n\nhello\n", false, true},
		{"no header", "just text\nmore\n", false, true},
		{"empty", "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.msg)
			before := mimeparts.Leaves(raw)
			out, err := AppendPart(raw, "ave-report.txt", report)
			if err != nil {
				t.Fatal(err)
			}
			after := mimeparts.Leaves(out)
			if len(after) != len(before)+1 || after[len(after)-1].Name != "ave-report.txt" {
				t.Fatalf("leaves %+v", after)
			}
			h := parseHeader(raw)
			if tc.insert {
				at := after[len(after)-1].Start - int64(len("--")) // before the delimiter line
				at = int64(bytes.LastIndex(out[:at], []byte("\n--"))) + 1
				ins := len(out) - len(raw)
				if !bytes.Equal(out[:at], raw[:at]) || !bytes.Equal(out[int(at)+ins:], raw[at:]) {
					t.Fatalf("insertion changed other bytes:\n%s", out)
				}
			} else {
				body := raw[h.body:]
				if !bytes.Contains(out, body) {
					t.Fatalf("body not kept")
				}
				if Header(out, "MIME-Version") != "1.0" && Header(raw, "MIME-Version") == "" {
					t.Errorf("no MIME-Version")
				}
				for _, f := range []string{"From", "Subject", "Received", "Message-ID"} {
					if Header(out, f) != Header(raw, f) {
						t.Errorf("%s: %q, was %q", f, Header(out, f), Header(raw, f))
					}
				}
				if ct := Header(out, "Content-Type"); !strings.HasPrefix(ct, "multipart/mixed;") {
					t.Errorf("Content-Type %q", ct)
				}
			}
			names, bodies, err := stdLeaves(t, out)
			if !tc.stdlib {
				return
			}
			if err != nil {
				t.Fatalf("stdlib: %v\n%s", err, out)
			}
			if len(names) == 0 || names[len(names)-1] != "ave-report.txt" || bodies[len(bodies)-1] != strings.ReplaceAll(report, "\n", h.eol) {
				t.Fatalf("stdlib sees %q %q", names, bodies)
			}
		})
	}
}

func TestAppendPartWrapMovesFields(t *testing.T) {
	out, err := AppendPart([]byte(single), "r\u00e9port.txt", "x")
	if err != nil {
		t.Fatal(err)
	}
	want := head + "Content-Type: multipart/mixed; boundary=\""
	if !strings.HasPrefix(string(out), want) {
		t.Fatalf("top header:\n%s", out)
	}
	i := bytes.Index(out, []byte("\r\n\r\n--"))
	first := string(out[i+4:])
	first = first[strings.Index(first, "\r\n")+2:]
	if !strings.HasPrefix(first, "Content-Type: application/octet-stream; name=\"setup.exe\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"setup.exe\"\r\nContent-ID: <x@y>\r\n\r\n"+b64(eicar)+"\r\n\r\n--") {
		t.Fatalf("first part:\n%s", first)
	}
	l := mimeparts.Leaves(out)
	if len(l) != 2 || l[0].Name != "setup.exe" || l[1].Name != "réport.txt" {
		t.Fatalf("%+v", l)
	}
}

func TestTagSubject(t *testing.T) {
	for _, tc := range []struct{ name, msg, tag, want, subject string }{
		{"plain", "From: a\r\nSubject: Hello\r\n\r\nx", "[VIRUS]", "From: a\r\nSubject: [VIRUS] Hello\r\n\r\nx", "[VIRUS] Hello"},
		{"folded", "Subject: Hello\r\n world\r\nTo: b\r\n\r\n", "[SPAM]", "Subject: [SPAM] Hello\r\n world\r\nTo: b\r\n\r\n", "[SPAM] Hello world"},
		{"tagged", "Subject: [SPAM] Hello\n\n", "[SPAM]", "Subject: [SPAM] Hello\n\n", "[SPAM] Hello"},
		{"value on next line", "Subject:\r\n Hello\r\n\r\n", "[X]", "Subject: [X]\r\n Hello\r\n\r\n", "[X] Hello"},
		{"empty", "Subject:\r\n\r\nx", "[X]", "Subject: [X]\r\n\r\nx", "[X]"},
		{"no space", "subject:Hi\r\n\r\n", "[X]", "subject: [X] Hi\r\n\r\n", "[X] Hi"},
		{"missing", "From: a\nTo: b\n\nbody\n", "[X]", "From: a\nTo: b\nSubject: [X]\n\nbody\n", "[X]"},
		{"missing no blank", "From: a", "[X]", "From: a\r\nSubject: [X]\r\n", "[X]"},
		{"no header", "hello\n", "[X]", "Subject: [X]\n\nhello\n", "[X]"},
		{"utf8 tag", "Subject: Hello\r\n\r\n", "[VIRUS ☣]", "Subject: =?utf-8?q?[VIRUS_=E2=98=A3]?= Hello\r\n\r\n", "[VIRUS ☣] Hello"},
		{"utf8 tag before word", "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n", "[VIRUS ☣]", "Subject: =?utf-8?q?[VIRUS_=E2=98=A3]_?= =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n", "[VIRUS ☣] Grüße"},
		{"ascii tag before word", "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n", "[V]", "Subject: [V] =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n", "[V] Grüße"},
		// The value on a continuation line, starting with an encoded
		// word: the fold's blank between two encoded words does not
		// separate them, so an encoded tag carries its space.
		{"utf8 tag, word on next line", "Subject:\r\n =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n", "[VIRUS ÄÖ]", "Subject: =?utf-8?q?[VIRUS_=C3=84=C3=96]_?=\r\n =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n", "[VIRUS ÄÖ] Grüße"},
		{"mbox line", "From x Thu\nSubject: a\n\n", "[X]", "From x Thu\nSubject: [X] a\n\n", "[X] a"},
		// Tagged already, with a word of an unknown charset after the tag:
		// the tag is seen (not added twice).
		{"tagged, odd charset", "Subject: [X] =?koi8-r?q?=E1?=\r\n\r\n", "[X]", "Subject: [X] =?koi8-r?q?=E1?=\r\n\r\n", "[X] =?koi8-r?q?=E1?="},
		{"encoded tag, odd word", "Subject: =?utf-8?q?=E2=98=A3_?= =?koi8-r?q?=E1?=\r\n\r\n", "☣", "Subject: =?utf-8?q?=E2=98=A3_?= =?koi8-r?q?=E1?=\r\n\r\n", "☣  =?koi8-r?q?=E1?="},
	} {
		got := string(TagSubject([]byte(tc.msg), tc.tag))
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		if s := Header([]byte(got), "Subject"); s != tc.subject {
			t.Errorf("%s: Subject %q, want %q", tc.name, s, tc.subject)
		}
		if strings.Contains(got, "koi8-r") {
			continue // a charset mime.WordDecoder refuses: nothing to compare with
		}
		if m, err := mail.ReadMessage(strings.NewReader(got)); err == nil {
			if s, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); s != tc.subject {
				t.Errorf("%s: net/mail Subject %q", tc.name, s)
			}
		} else if tc.name != "mbox line" {
			t.Errorf("%s: net/mail: %v", tc.name, err)
		}
	}
}

func TestAddHeaders(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"From: a\r\n\r\nx", "X-AVE: clean\r\nX-AVE-Info: a\r\n b\r\nFrom: a\r\n\r\nx"},
		{"From: a\n\nx", "X-AVE: clean\nX-AVE-Info: a\n b\nFrom: a\n\nx"},
		{"From srv Thu\nFrom: a\n\nx", "From srv Thu\nX-AVE: clean\nX-AVE-Info: a\n bFrom: a\n\nx"},
		{"body only\n", "X-AVE: clean\nX-AVE-Info: a\n b\n\nbody only\n"},
		{"", "X-AVE: clean\r\nX-AVE-Info: a\r\n b\r\n\r\n"},
	} {
		got := string(AddHeaders([]byte(tc.msg), []string{"X-AVE: clean", "not a field", "X-AVE-Info: a\r\n b\r\n"}))
		want := strings.Replace(tc.want, "bFrom", "b\nFrom", 1)
		if got != want {
			t.Errorf("%q:\n got %q\nwant %q", tc.msg, got, want)
		}
	}
	if got := string(AddHeaders([]byte("A: 1\r\n\r\n"), []string{"X-Inject: a\r\nBcc: evil@example.org"})); got != "X-Inject: a Bcc: evil@example.org\r\nA: 1\r\n\r\n" {
		t.Errorf("injection: %q", got)
	}
}

func TestHeader(t *testing.T) {
	raw := []byte("From srv\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n =?utf-8?b?w6Q=?=\r\nX-A: first\r\nx-a: second\r\nX-Odd: =?koi8-r?q?=E1?=\r\nX-Mixed: =?koi8-r?q?=E1?= =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nX-B: body\r\n")
	for name, want := range map[string]string{"subject": "Grüßeä", "X-A": "first", "X-B": "", "X-Odd": "=?koi8-r?q?=E1?=", "Nope": "",
		// A word of a charset not known does not keep the others encoded.
		"X-Mixed": "=?koi8-r?q?=E1?= Grüße"} {
		if got := Header(raw, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if got := string(HeaderBlock(raw)); got != string(raw[len("From srv\r\n"):bytes.Index(raw, []byte("X-B"))]) {
		t.Errorf("HeaderBlock %q", got)
	}
	if got := HeaderBlock([]byte("no header\n")); len(got) != 0 {
		t.Errorf("HeaderBlock of no header: %q", got)
	}
}

// TestWriteSeeds writes the fuzz seed corpora from the test messages when
// AVE_WRITE_SEEDS is set.
func TestWriteSeeds(t *testing.T) {
	if os.Getenv("AVE_WRITE_SEEDS") == "" {
		t.Skip("set AVE_WRITE_SEEDS=1 to write testdata/fuzz seeds")
	}
	msgs := map[string]string{"mixed": mixed, "nested": nested, "rfc822": rfc822, "single": single,
		"lf": lf(nested), "nofinalnl": noFinalNewline, "unclosed": unclosed, "preamble": preamble}
	write := func(fuzz, name string, vals ...string) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+strings.Join(vals, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	str := func(s string) string { return "string(" + strconv.Quote(s) + ")" }
	for name, m := range msgs {
		q := "[]byte(" + strconv.Quote(m) + ")"
		write("FuzzLeaves", name, q)
		write("FuzzReplace", name, q, "byte('\\x05')", str("removed: infected\n--x"))
		write("FuzzAppendPart", name, q, str("report.txt"), str("scan report\n"))
		write("FuzzTagSubject", name, q, str("[VIRUS]"))
	}
	write("FuzzTagSubject", "utf8", "[]byte("+strconv.Quote("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n")+")", str("[☣]"))
}
