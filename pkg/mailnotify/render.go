package mailnotify

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// DefaultFrom is the From of a notification when Render gets from "".
const DefaultFrom = "MAILER-DAEMON@localhost"

// maxAddress is the longest From or To address Render accepts.
const maxAddress = 900

// dateLayout is the RFC 5322 date-time.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// values holds the macro values of one Data.
type values struct {
	fixed  map[string]string
	fields []field
}

// multiLineMacro: values that keep their line breaks in the body.
var multiLineMacro = map[string]bool{"REPORT": true, "HEADERS": true}

func newValues(d *Data, date time.Time) *values {
	sender := d.Sender
	if sender == "" {
		sender = "<>"
	}
	names := "-"
	if len(d.Names) > 0 {
		names = strings.Join(d.Names, ", ")
	}
	fs := parseFields(d.Header)
	subject, _ := lookup(fs, "Subject")
	return &values{
		fixed: map[string]string{
			"QUEUEID":    d.QueueID,
			"MESSAGEID":  d.MessageID,
			"SENDER":     sender,
			"RECIPIENTS": strings.Join(d.Recipients, ", "),
			"STATUS":     d.Status,
			"VIRUSNAMES": names,
			"ACTION":     d.Action,
			"GROUP":      d.Group,
			"REPORT":     d.Report,
			"HOSTNAME":   d.Hostname,
			"DATE":       date.Format(dateLayout),
			"SUBJECT":    decodeValue(subject),
			"HEADERS":    rawHeaderLines(d.Header),
		},
		fields: fs,
	}
}

// rawHeaderLines returns the header block up to (not including) its empty
// line.
func rawHeaderLines(h []byte) string {
	for i := 0; i < len(h); {
		j := bytes.IndexByte(h[i:], '\n')
		if j < 0 {
			break
		}
		line := h[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return string(h[:i])
		}
		i += j + 1
	}
	return string(h)
}

// expand writes the pieces with their values: multi-line values keep
// their line breaks (LF) when multi is set, every value is one line
// otherwise.
func (v *values) expand(b *strings.Builder, ps []piece, multi bool) {
	for _, p := range ps {
		if !multi && b.Len() > 2*maxHeaderValue {
			return // a header line: the rest would be cut anyway
		}
		if p.macro == "" {
			b.WriteString(p.lit)
			continue
		}
		var s string
		if name, ok := strings.CutPrefix(p.macro, "HEADER:"); ok {
			raw, _ := lookup(v.fields, name)
			s = decodeValue(raw)
		} else {
			s = v.fixed[p.macro]
		}
		if multi && multiLineMacro[p.macro] {
			b.WriteString(multiLine(s))
		} else {
			b.WriteString(oneLine(s))
		}
	}
}

// Render returns the notification of kind to the address to as a
// complete RFC 5322 message with CRLF line ends. Its header has From
// (from; "" is DefaultFrom), To, Subject (from the template), Date
// (d.Date, or now), Message-ID (<random@Hostname>), MIME-Version,
// Auto-Submitted: auto-generated, X-AVE-Notification: KIND and the
// template's other header lines. The body is text/plain; charset=utf-8,
// 7bit, or quoted-printable when it has non-ASCII characters or lines
// longer than 998 bytes; with attachments the message is multipart/mixed,
// the text first. A nil *Templates renders the built-in templates.
//
// Errors: an unknown kind, or from or to not a mail address (RFC 5322
// addr-spec, optionally "Name <addr-spec>"; at most 900 bytes).
func (t *Templates) Render(kind Kind, from, to string, d Data, atts []Attachment) ([]byte, error) {
	if !kind.valid() {
		return nil, fmt.Errorf("mailnotify: unknown notification kind %d", int(kind))
	}
	if t == nil {
		t = New(nil, nil, nil)
	}
	tm := t.t[kind]
	if tm == nil { // a zero Templates
		tm = New(nil, nil, nil).t[kind]
	}
	if from == "" {
		from = DefaultFrom
	}
	fromH, err := address(from)
	if err != nil {
		return nil, fmt.Errorf("mailnotify: From address %q: %w", from, err)
	}
	toH, err := address(to)
	if err != nil {
		return nil, fmt.Errorf("mailnotify: To address %q: %w", to, err)
	}
	date := d.Date
	if date.IsZero() {
		date = time.Now()
	}
	v := newValues(&d, date)

	var h bytes.Buffer
	h.WriteString("From: " + fromH + "\r\n")
	h.WriteString("To: " + toH + "\r\n")
	var sb strings.Builder
	v.expand(&sb, tm.subject, false)
	writeField(&h, "Subject", sb.String())
	h.WriteString("Date: " + date.Format(dateLayout) + "\r\n")
	h.WriteString("Message-ID: <" + randomHex(16) + "@" + domain(d.Hostname) + ">\r\n")
	h.WriteString("MIME-Version: 1.0\r\n")
	h.WriteString("Auto-Submitted: auto-generated\r\n")
	h.WriteString("X-AVE-Notification: " + kind.String() + "\r\n")
	for _, l := range tm.headers {
		sb.Reset()
		v.expand(&sb, l.pieces, false)
		writeField(&h, l.name, sb.String())
	}

	sb.Reset()
	for _, l := range tm.body {
		v.expand(&sb, l, true)
		sb.WriteByte('\n')
	}
	textHeader, text := encodeText(trimLines(sb.String()))

	if len(atts) == 0 {
		h.WriteString(textHeader)
		h.WriteString("\r\n")
		h.Write(text)
		return h.Bytes(), nil
	}

	parts := [][]byte{append([]byte(textHeader+"\r\n"), text...)}
	for i, a := range atts {
		parts = append(parts, encodeAttachment(i, a))
	}
	boundary := pickBoundary("=_ave_", parts)
	h.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n")
	h.WriteString("\r\n")
	h.WriteString("This is a message in MIME format.\r\n")
	for _, p := range parts {
		h.WriteString("\r\n--" + boundary + "\r\n")
		h.Write(p)
	}
	h.WriteString("\r\n--" + boundary + "--\r\n")
	return h.Bytes(), nil
}

// address returns an address as a header value, or an error when it does
// not parse or is too long.
func address(s string) (string, error) {
	if len(s) > maxAddress {
		return "", errors.New("address too long")
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", errors.New("line break in address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	out := a.String()
	if strings.ContainsAny(out, "\r\n") || len(out) > 998-len("From: ") {
		return "", errors.New("address cannot be written")
	}
	return out, nil
}

// domain returns h when it is a plausible host name (letters, digits,
// dots, hyphens), else "localhost".
func domain(h string) string {
	if h == "" || len(h) > 253 || h[0] == '.' || h[len(h)-1] == '.' || strings.Contains(h, "..") {
		return "localhost"
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return "localhost"
		}
	}
	return h
}

// pickBoundary returns a random multipart boundary starting with prefix
// that no part contains.
func pickBoundary(prefix string, parts [][]byte) string {
	for {
		b := prefix + randomHex(12)
		if !slices.ContainsFunc(parts, func(p []byte) bool { return bytes.Contains(p, []byte(b)) }) {
			return b
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// trimLines removes blanks at the ends of lines (left by empty macro
// values).
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}

// encodeText returns the Content-Type and Content-Transfer-Encoding
// lines and the encoded body of a text/plain; charset=utf-8 part; text
// has LF line ends.
func encodeText(text string) (string, []byte) {
	const ct = "Content-Type: text/plain; charset=utf-8\r\n"
	if is7bit(text) {
		return ct + "Content-Transfer-Encoding: 7bit\r\n",
			[]byte(strings.ReplaceAll(text, "\n", "\r\n"))
	}
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(text))
	w.Close()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte("\r\n")) && len(out) > 0 {
		out = append(out, "\r\n"...)
	}
	return ct + "Content-Transfer-Encoding: quoted-printable\r\n", out
}

// is7bit: ASCII without NUL, LF lines of at most 998 bytes, no CR.
func is7bit(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			n = 0
			continue
		case c == 0 || c == '\r' || c >= 0x80:
			return false
		}
		n++
		if n > 998 {
			return false
		}
	}
	return true
}

// lineClean reports whether b can travel unencoded in SMTP: no NUL, every
// CR and LF part of a CRLF, lines of at most 998 bytes; eightBit tells
// whether it has bytes >= 0x80.
func lineClean(b []byte) (clean, eightBit bool) {
	n := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return false, eightBit
			}
			i++
			n = 0
			continue
		case c == '\n' || c == 0:
			return false, eightBit
		case c >= 0x80:
			eightBit = true
		}
		n++
		if n > 998 {
			return false, eightBit
		}
	}
	return true, eightBit
}

// encodeAttachment returns one attachment part: header lines, empty line,
// encoded content (see Attachment).
func encodeAttachment(i int, a Attachment) []byte {
	mt, params, err := mime.ParseMediaType(a.ContentType)
	if err != nil || a.ContentType == "" {
		mt, params = "application/octet-stream", nil
	}
	name := fileName(a.Filename)
	clean, eightBit := lineClean(a.Data)
	var cte string
	switch {
	case mt == "message/rfc822":
		params = nil
		if name == "" {
			name = "message.eml"
		}
		switch {
		case clean && eightBit:
			cte = "8bit"
		case clean:
			cte = "7bit"
		default:
			mt, cte = "application/octet-stream", "base64"
		}
	case clean && !eightBit:
		cte = "7bit"
	case strings.HasPrefix(mt, "text/"):
		cte = "quoted-printable"
	default:
		cte = "base64"
	}
	if name == "" {
		name = fmt.Sprintf("attachment-%d", i+1)
		if strings.HasPrefix(mt, "text/") {
			name += ".txt"
		}
	}
	ctype := mime.FormatMediaType(mt, params)
	if ctype == "" || len(ctype) > 900 {
		ctype = mime.FormatMediaType(mt, nil)
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if disp == "" {
		disp = "attachment"
	}
	var b bytes.Buffer
	b.WriteString("Content-Type: " + ctype + "\r\n")
	b.WriteString("Content-Disposition: " + disp + "\r\n")
	b.WriteString("Content-Transfer-Encoding: " + cte + "\r\n\r\n")
	switch cte {
	case "7bit", "8bit":
		b.Write(a.Data)
	case "quoted-printable":
		w := quotedprintable.NewWriter(&b)
		w.Write(a.Data)
		w.Close()
	case "base64":
		enc := make([]byte, base64.StdEncoding.EncodedLen(len(a.Data)))
		base64.StdEncoding.Encode(enc, a.Data)
		for len(enc) > 76 {
			b.Write(enc[:76])
			b.WriteString("\r\n")
			enc = enc[76:]
		}
		b.Write(enc)
	}
	return b.Bytes()
}

// fileName makes a file name safe for Content-Disposition: one line, no
// directory, at most 200 bytes.
func fileName(s string) string {
	s = oneLine(s)
	s = strings.NewReplacer("/", "_", "\\", "_", "\"", "_").Replace(s)
	if len(s) > 200 {
		cut := 200
		for cut > 0 && (s[cut]&0xc0) == 0x80 {
			cut--
		}
		s = s[:cut]
	}
	return s
}
