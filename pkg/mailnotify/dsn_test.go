package mailnotify

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

// TestDSNIsAMultipartReport: the DSN parses as RFC 5322 and MIME, is a
// multipart/report of report-type delivery-status with the notice, the
// per-recipient report (Final-Recipient, Original-Recipient, Action,
// Status, Diagnostic-Code) and the original header; it is auto-replied.
func TestDSNIsAMultipartReport(t *testing.T) {
	b, err := DSN(DSNData{Hostname: "mx.example.org", To: "sender@example.org", QueueID: "Q1", EnvID: "env+1",
		Recipients: []DSNRecipient{{Addr: "boss@example.net", ORcptType: "rfc822", ORcpt: "boss+x@example.net", Status: "5.7.1",
			Reply: "554 5.7.1 message rejected: INFECTED EICAR-Test-File"}},
		Header: []byte("From: sender@example.org\nSubject: invoice\n\nbody\n")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("To") != "<sender@example.org>" || m.Header.Get("Auto-Submitted") != "auto-replied" || !strings.Contains(m.Header.Get("From"), "MAILER-DAEMON@mx.example.org") {
		t.Fatalf("header %v", m.Header)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content type %q %v %v", mt, params, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	var status, headers string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		switch ct {
		case "message/delivery-status":
			status = string(body)
		case "text/rfc822-headers":
			headers = string(body)
		}
	}
	if strings.Join(types, ",") != "text/plain,message/delivery-status,text/rfc822-headers" {
		t.Fatalf("parts %v", types)
	}
	for _, want := range []string{"Reporting-MTA: dns; mx.example.org", "Original-Envelope-Id: env+1", "Final-Recipient: rfc822; boss@example.net",
		"Original-Recipient: rfc822; boss+x@example.net", "Action: failed", "Status: 5.7.1", "Diagnostic-Code: smtp; 554 5.7.1 message rejected: INFECTED EICAR-Test-File"} {
		if !strings.Contains(status, want) {
			t.Errorf("delivery status lacks %q:\n%s", want, status)
		}
	}
	if headers != "From: sender@example.org\r\nSubject: invoice\r\n" {
		t.Errorf("headers part %q", headers)
	}
	if _, err := DSN(DSNData{To: "not an address", Recipients: []DSNRecipient{{Addr: "a@b"}}}); err == nil {
		t.Error("a bad To was accepted")
	}
	if _, err := DSN(DSNData{To: "a@b"}); err == nil {
		t.Error("a DSN without recipients was made")
	}
}

// FuzzDSN: whatever the addresses, replies and header, a DSN that is made
// parses as a message, has CRLF lines of at most 998 bytes, and keeps its
// MIME structure (three parts).
func FuzzDSN(f *testing.F) {
	f.Add("s@example.org", "r@example.net", "rfc822", "o@example.net", "554 5.7.1 no", "Subject: x\r\n\r\n", "env")
	f.Add("s@example.org", "r\u00e9@example.net", "utf-8", "\u00f6@x", "554 5.7.1 \x00\r\nBcc: x", "From: a\n", "")
	f.Add("s@example.org", "r@example.net", "rfc822", "r@example.net", "550 no", "Subject: "+strings.Repeat("x", 1200)+"\r\nX-8: \xe9\r\n", "")
	f.Fuzz(func(t *testing.T, to, rcpt, otype, orcpt, reply, header, envid string) {
		b, err := DSN(DSNData{Hostname: "mx.test", To: to, EnvID: envid, Header: []byte(header),
			Recipients: []DSNRecipient{{Addr: rcpt, ORcptType: otype, ORcpt: orcpt, Status: "5.7.1", Reply: reply}}})
		if err != nil {
			return
		}
		for _, l := range bytes.Split(b, []byte("\r\n")) {
			if len(l) > 998 {
				t.Fatalf("line of %d bytes", len(l))
			}
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("does not parse: %v", err)
		}
		_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		mr := multipart.NewReader(m.Body, params["boundary"])
		n := 0
		for {
			_, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("part %d: %v", n+1, err)
			}
			n++
		}
		if n != 3 {
			t.Fatalf("%d parts", n)
		}
	})
}

// TestDSNAddressFields: addresses are written as they are (not as xtext)
// when ASCII; a non-ASCII one goes as utf-8-addr-xtext with the type
// utf-8, so the report stays 7bit; an 8-bit original header goes
// quoted-printable, so the whole DSN is 7bit.
func TestDSNAddressFields(t *testing.T) {
	b, err := DSN(DSNData{To: "s@example.org", Header: []byte("Subject: caf\xc3\xa9\r\n\r\n"),
		Recipients: []DSNRecipient{{Addr: "a+b@example.net", Reply: "550 no"}, {Addr: "j\u00f6rg@example.net", ORcptType: "utf-8", ORcpt: "j\u00f6rg@example.net", Reply: "550 no"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Final-Recipient: rfc822; a+b@example.net\r\n", "Final-Recipient: utf-8; j\\x{F6}rg@example.net\r\n",
		"Original-Recipient: utf-8; j\\x{F6}rg@example.net\r\n", "Content-Transfer-Encoding: quoted-printable\r\n", "Subject: caf=C3=A9"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("DSN lacks %q", want)
		}
	}
	if EightBit(b) {
		t.Error("8-bit bytes in the DSN: the header part must be quoted-printable")
	}
}
