package mailnotify

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// wantNames is the header of a notification rendered from tm.
func wantNames(tm *Template, withAtts bool) []string {
	want := []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Auto-Submitted", "X-AVE-Notification"}
	for _, h := range tm.headers {
		want = append(want, h.name)
	}
	want = append(want, "Content-Type")
	if !withAtts {
		want = append(want, "Content-Transfer-Encoding")
	}
	return want
}

func FuzzParse(f *testing.F) {
	for _, k := range kinds {
		f.Add(Builtin(k))
	}
	f.Add([]byte(allMacros))
	f.Add([]byte("Subject: a\r\n  b %STATUS%\r\nX-A: %HEADER:Subject%\r\n\r\n%%%REPORT%%%\r\n"))
	f.Add([]byte("Subject: x\n\n100% sure\n"))
	f.Add([]byte("Subject: x\n\xff\n"))
	f.Add([]byte("\xef\xbb\xbfSubject: %HEADER:X-\xc3\xa9%\n\n"))
	d := hostile()
	atts := []Attachment{{"r.txt", "text/plain", []byte("a\nb")}}
	f.Fuzz(func(t *testing.T, src []byte) {
		tm, err := Parse("f.txt", src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "f.txt" || pe.Line < 1 || pe.Line > bytes.Count(src, []byte("\n"))+1 {
				t.Fatalf("error %v", err)
			}
			return
		}
		ts := New(tm, nil, nil)
		for _, withAtts := range []bool{false, true} {
			var a []Attachment
			if withAtts {
				a = atts
			}
			msg, err := ts.Render(Sender, "", "a@example.org", d, a)
			if err != nil {
				t.Fatal(err)
			}
			p, err := checkMessage(msg)
			if err != nil {
				t.Fatalf("%v\n%s", err, msg)
			}
			if !reflect.DeepEqual(p.names, wantNames(tm, withAtts)) {
				t.Fatalf("header fields %q, want %q", p.names, wantNames(tm, withAtts))
			}
		}
	})
}

// canonText is what a text attachment becomes: CRLF line breaks.
func canonText(b []byte) []byte {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

func FuzzRender(f *testing.F) {
	h := hostile()
	f.Add(h.Status, strings.Join(h.Names, "\x00"), h.Report, h.Sender, h.Hostname, h.Header, []byte("Subject: x\r\n\r\nbody"), "original.eml")
	f.Add("", "", "", "", "", []byte(nil), []byte(nil), "")
	f.Add("INFECTED", "EICAR", "a\nb", "s@example.org", "mx", []byte("Subject: =?utf-8?b?w6k=?=\n\n"), []byte("a\nb\x00\xff"), "r\u00e9sum\u00e9.eml")
	f.Add("%SUBJECT%", "=?utf-8?q?a?=", "\r\r\n", "<>", "a..b", []byte("Subject:\r\n\r\n"), []byte("x\r\n"), "\"quoted\"\r\n")
	custom := mustParse(f, "admin", allMacros)
	ts := New(nil, nil, custom)
	f.Fuzz(func(t *testing.T, status, names, report, sender, hostname string, header, att []byte, filename string) {
		d := Data{QueueID: status + "-q", MessageID: names, Sender: sender, Recipients: []string{sender, status},
			Status: status, Names: strings.Split(names, "\x00"), Action: report, Group: hostname, Report: report,
			Hostname: hostname, Date: time.Unix(int64(len(report))*1000003, 0), Header: header}
		atts := []Attachment{
			{filename, "message/rfc822", att},
			{filename, "text/plain; charset=utf-8", att},
			{filename, "application/x-fuzz", att},
			{filename, status, header},
		}
		for _, k := range kinds {
			msg, err := ts.Render(k, "", "user@example.org", d, atts)
			if err != nil {
				t.Fatal(err)
			}
			p, err := checkMessage(msg)
			if err != nil {
				t.Fatalf("%v\n%s", err, msg)
			}
			if !reflect.DeepEqual(p.names, wantNames(ts.t[k], true)) {
				t.Fatalf("header fields %q, want %q", p.names, wantNames(ts.t[k], true))
			}
			if g := p.header.Get("X-AVE-Notification"); g != k.String() {
				t.Fatalf("X-AVE-Notification %q", g)
			}
			if len(p.atts) != len(atts) {
				t.Fatalf("%d attachments", len(p.atts))
			}
			for i, want := range [][]byte{att, canonText(att), att} {
				if !bytes.Equal(p.atts[i].data, want) {
					t.Fatalf("attachment %d: %q, want %q", i, p.atts[i].data, want)
				}
			}
			if got := p.atts[3].data; !bytes.Equal(got, header) && !bytes.Equal(got, canonText(header)) {
				t.Fatalf("attachment 3: %q, want %q", got, header)
			}
		}
		// Suppress never panics and is consistent.
		all, to, reason := Suppress(sender, header)
		if (all || !to) != (reason != "") || (all && to) {
			t.Fatalf("Suppress %v %v %q", all, to, reason)
		}
	})
}
