package mailnotify

import (
	"bytes"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"time"

	"ave/internal/xtext"
)

// DSNRecipient is one recipient a delivery status notification reports
// as failed.
type DSNRecipient struct {
	Addr      string // the final recipient
	ORcptType string // DSN ORCPT address type ("" = none given)
	ORcpt     string // DSN ORCPT address, decoded
	Status    string // RFC 3463 status, e.g. "5.7.1"
	Reply     string // the SMTP reply, e.g. "554 5.7.1 message rejected: ..."
}

// DSNData is what a DSN (RFC 3464) reports about one message.
type DSNData struct {
	Hostname   string // the reporting MTA (this host)
	To         string // the message's envelope sender
	QueueID    string
	EnvID      string // DSN ENVID of the message ("" = none)
	Arrival    time.Time
	Date       time.Time // of the DSN itself (zero: now)
	Recipients []DSNRecipient
	Header     []byte // the message's header block, returned as text/rfc822-headers
}

// DSN renders a delivery status notification (RFC 3464, multipart/report)
// telling the sender that the recipients of d failed for good while the
// message's other recipients got it: what an SMTP client that can give
// only one reply per message cannot say in its reply. It is sent with the
// null envelope sender; From is MAILER-DAEMON of the host, Auto-Submitted
// auto-replied (RFC 3834). Errors: To not a mail address, no recipients.
func DSN(d DSNData) ([]byte, error) {
	if len(d.Recipients) == 0 {
		return nil, fmt.Errorf("mailnotify: DSN without recipients")
	}
	toH, err := address(d.To)
	if err != nil {
		return nil, fmt.Errorf("mailnotify: DSN To address %q: %w", d.To, err)
	}
	host := domain(d.Hostname)
	date := d.Date
	if date.IsZero() {
		date = time.Now()
	}
	arrival := d.Arrival
	if arrival.IsZero() {
		arrival = date
	}

	var text strings.Builder
	fmt.Fprintf(&text, "This is the mail system at host %s (AVE smtpscanner).\n\n", host)
	text.WriteString("Your message was not delivered to the recipients below; its other\n")
	text.WriteString("recipients received it.\n\n")
	for _, r := range d.Recipients {
		fmt.Fprintf(&text, "<%s>: %s\n", clip(oneLine(r.Addr)), clip(oneLine(r.Reply)))
	}
	textHeader, textBody := encodeText(text.String())

	var st bytes.Buffer
	st.WriteString("Reporting-MTA: dns; " + host + "\r\n")
	if d.QueueID != "" {
		st.WriteString("X-AVE-Queue-ID: " + clip(ascii(oneLine(d.QueueID))) + "\r\n")
	}
	if d.EnvID != "" {
		st.WriteString("Original-Envelope-Id: " + clip(ascii(oneLine(d.EnvID))) + "\r\n")
	}
	st.WriteString("Arrival-Date: " + arrival.Format(dateLayout) + "\r\n")
	for _, r := range d.Recipients {
		st.WriteString("\r\n")
		st.WriteString("Final-Recipient: " + dsnAddress("rfc822", r.Addr) + "\r\n")
		if r.ORcptType != "" && r.ORcpt != "" {
			st.WriteString("Original-Recipient: " + dsnAddress(r.ORcptType, r.ORcpt) + "\r\n")
		}
		st.WriteString("Action: failed\r\n")
		status := r.Status
		if status == "" {
			status = "5.0.0"
		}
		st.WriteString("Status: " + clip(ascii(oneLine(status))) + "\r\n")
		st.WriteString("Diagnostic-Code: smtp; " + clip(ascii(oneLine(r.Reply))) + "\r\n")
	}

	headers, eightBit := headerLines(d.Header)
	cte := "7bit"
	if eightBit {
		// Quoted-printable keeps the whole DSN 7bit, whatever the
		// downstream announces (8-bit bytes of a multipart would also
		// need its own label).
		cte = "quoted-printable"
		var q bytes.Buffer
		w := quotedprintable.NewWriter(&q)
		w.Write(headers)
		w.Close()
		headers = q.Bytes()
		if !bytes.HasSuffix(headers, []byte("\r\n")) {
			headers = append(headers, "\r\n"...)
		}
	}
	parts := [][]byte{
		append([]byte(textHeader+"Content-Description: Notification\r\n\r\n"), textBody...),
		append([]byte("Content-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n"), st.Bytes()...),
		append([]byte("Content-Type: text/rfc822-headers\r\nContent-Description: Undelivered message headers\r\nContent-Transfer-Encoding: "+cte+"\r\n\r\n"), headers...),
	}
	boundary := pickBoundary("=_ave_dsn_", parts)
	var m bytes.Buffer
	m.WriteString("From: Mail Delivery System <MAILER-DAEMON@" + host + ">\r\n")
	m.WriteString("To: " + toH + "\r\n")
	m.WriteString("Subject: Undelivered Mail Returned to Sender\r\n")
	m.WriteString("Date: " + date.Format(dateLayout) + "\r\n")
	m.WriteString("Message-ID: <" + randomHex(16) + "@" + host + ">\r\n")
	m.WriteString("Auto-Submitted: auto-replied\r\n")
	m.WriteString("MIME-Version: 1.0\r\n")
	m.WriteString("Content-Type: multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"\r\n")
	m.WriteString("\r\nThis is a MIME-encapsulated message.\r\n")
	for _, p := range parts {
		m.WriteString("\r\n--" + boundary + "\r\n")
		m.Write(p)
		if !bytes.HasSuffix(p, []byte("\r\n")) {
			m.WriteString("\r\n")
		}
	}
	m.WriteString("\r\n--" + boundary + "--\r\n")
	return m.Bytes(), nil
}

// clip keeps a field value well under the 998-byte line limit, cutting
// before an escape (\x{...}) it would split.
func clip(s string) string {
	if len(s) <= 900 {
		return s
	}
	s = strings.ToValidUTF8(s[:900], "")
	if i := strings.LastIndex(s, "\\x{"); i >= 0 && !strings.Contains(s[i:], "}") {
		s = s[:i]
	}
	return s
}

// ascii replaces what is not printable ASCII by "?" (message/delivery-
// status is a 7bit type).
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 32 || r > 126 {
			return '?'
		}
		return r
	}, s)
}

// dsnAddress writes an address field's value: "TYPE; ADDRESS", the
// address as it is when it is printable ASCII (RFC 3464), or as utf-8-addr-
// xtext with the type utf-8 when it is not (RFC 6533), so the part stays
// 7bit.
func dsnAddress(typ, addr string) string {
	typ = ascii(oneLine(typ))
	if xtext.IsASCII(addr) && !strings.EqualFold(typ, "utf-8") {
		return clip(typ + "; " + addr)
	}
	return clip("utf-8; " + xtext.UTF8Addr(addr))
}

// headerLines returns the message's header block with CRLF line ends and
// each line cut to 998 bytes, and whether it has 8-bit bytes.
func headerLines(h []byte) ([]byte, bool) {
	var out bytes.Buffer
	eightBit := false
	for _, l := range strings.Split(strings.ReplaceAll(rawHeaderLines(h), "\r\n", "\n"), "\n") {
		if l == "" {
			continue
		}
		if len(l) > 998 {
			l = l[:998] // quoted-printable below when it is not ASCII
		}
		for i := 0; i < len(l); i++ {
			if l[i] >= 0x80 {
				eightBit = true
			}
		}
		out.WriteString(l)
		out.WriteString("\r\n")
	}
	return out.Bytes(), eightBit
}

// EightBit reports whether a DSN made by DSN has 8-bit content (the
// original header): it is then sent with BODY=8BITMIME.
func EightBit(dsn []byte) bool {
	for _, c := range dsn {
		if c >= 0x80 {
			return true
		}
	}
	return false
}
