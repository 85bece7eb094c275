// Package mailedit edits raw mail messages for the mail policy: it cures
// them (Replace swaps a MIME leaf part for a short notice part), adds header
// lines, tags the Subject and appends a report part, and reads header
// fields for notifications.
//
// Every function works on the message's bytes and leaves everything
// outside what it edits byte for byte as it was; lines it adds end like the
// message's own lines (CRLF, or LF when the first header line ends in a bare
// LF). Nothing panics on hostile input. The message's header is delimited
// exactly as pkg/mimeparts reads it: it ends at the first empty line, or,
// without one, where header field lines stop; a message whose first line is
// not a header field has no header at all. A leading mbox "From " line is
// kept in front of the header.
package mailedit

import (
	"bytes"
	"io"
	"mime"
	"strings"

	"ave/internal/encword"
)

// hdr is the parsed top-level header of a message.
type hdr struct {
	eol   string
	start int  // header start: 0, or after an mbox "From " line
	end   int  // end of the header's field lines
	body  int  // body start: after the empty line, or end when none
	blank bool // an empty line ends the header
	none  bool // the message has no header: its first line is not a field
	// fields in order; a line that is neither a field nor a continuation
	// is a field of its own with name "".
	fields []field
}

type field struct {
	name       string
	start, end int // end is past the field's last line ending
	colon      int // index of the colon; -1 for a malformed line
}

// lineEnd returns the index just past the line starting at pos.
func lineEnd(b []byte, pos int) int {
	if i := bytes.IndexByte(b[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(b)
}

// isField reports whether a line starts a header field: a non-empty name
// of printable characters (blanks before the colon allowed) and a colon.
func isField(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// parseHeader delimits the top-level header like mimeparts does.
func parseHeader(raw []byte) hdr {
	h := hdr{}
	if bytes.HasPrefix(raw, []byte("From ")) {
		h.start = lineEnd(raw, 0)
	}
	h.eol = "\r\n"
	if i := bytes.IndexByte(raw[h.start:], '\n'); i >= 0 && (i == 0 || raw[h.start+i-1] != '\r') {
		h.eol = "\n"
	}
	h.end, h.body = -1, -1
	for pos := h.start; pos < len(raw); {
		next := lineEnd(raw, pos)
		line := bytes.TrimRight(raw[pos:next], "\r\n")
		if len(line) == 0 {
			h.end, h.body, h.blank = pos, next, true
			break
		}
		if pos == h.start && !isField(line) {
			h.end, h.body, h.none = h.start, h.start, true
			return h
		}
		pos = next
	}
	if h.start == len(raw) {
		h.end, h.body, h.none = h.start, h.start, true
		return h
	}
	if h.end < 0 {
		h.end = len(raw)
		for pos := h.start; pos < len(raw); {
			next := lineEnd(raw, pos)
			line := bytes.TrimRight(raw[pos:next], "\r\n")
			if len(line) > 0 && !isField(line) && !isBlank(line[0]) {
				h.end = pos
				break
			}
			pos = next
		}
		h.body = h.end
	}
	for pos := h.start; pos < h.end; {
		next := lineEnd(raw, pos)
		line := raw[pos:next]
		switch {
		case isBlank(line[0]) && len(h.fields) > 0:
			h.fields[len(h.fields)-1].end = next
		case isField(line):
			c := bytes.IndexByte(line, ':')
			h.fields = append(h.fields, field{name: string(bytes.TrimRight(line[:c], " \t")), start: pos, end: next, colon: pos + c})
		default:
			h.fields = append(h.fields, field{start: pos, end: next, colon: -1})
		}
		pos = next
	}
	return h
}

// find returns the first field with the name, or nil.
func (h *hdr) find(name string) *field {
	for i := range h.fields {
		if h.fields[i].colon >= 0 && strings.EqualFold(h.fields[i].name, name) {
			return &h.fields[i]
		}
	}
	return nil
}

// unfold returns a field value with its line breaks removed and the blanks
// around it trimmed.
func unfold(v []byte) string {
	var b strings.Builder
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b.WriteByte(c)
		}
	}
	return strings.Trim(b.String(), " \t")
}

// wordDecoder decodes RFC 2047 encoded words of the charsets the standard
// library knows (UTF-8, ISO-8859-1, US-ASCII) plus Windows-1252 read as
// Latin-1; with another charset the value stays undecoded.
var wordDecoder = mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "windows-1252", "cp1252", "latin1", "iso8859-1":
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		out := make([]rune, len(b))
		for i, c := range b {
			out[i] = rune(c)
		}
		return strings.NewReader(string(out)), nil
	}
	return nil, errUnknownCharset
}}

type mailError string

func (e mailError) Error() string { return string(e) }

const errUnknownCharset = mailError("mailedit: unknown charset")

// decodeWords decodes RFC 2047 encoded words; a word of a charset it does
// not know stays as it is, the others are decoded. The result is valid
// UTF-8.
func decodeWords(v string) string {
	return strings.ToValidUTF8(encword.Decode(&wordDecoder, v), "\uFFFD")
}

// Header returns the value of the first header field called name (case
// insensitive), unfolded and with RFC 2047 encoded words decoded; "" when
// the message has no such field.
func Header(raw []byte, name string) string {
	h := parseHeader(raw)
	f := h.find(name)
	if f == nil {
		return ""
	}
	return decodeWords(unfold(raw[f.colon+1 : f.end]))
}

// HeaderBlock returns the message's raw header, up to and including the
// empty line that ends it (without a leading mbox "From " line). It is a
// sub-slice of raw.
func HeaderBlock(raw []byte) []byte {
	h := parseHeader(raw)
	return raw[h.start:h.body:h.body]
}

// cleanLine makes a header line safe to add: line breaks followed by a
// blank are kept as folding (with the message's line end), any other CR,
// LF or NUL becomes a space. It reports false for a line that is not a
// "Name: value" field.
func cleanLine(l, eol string) (string, bool) {
	l = strings.ReplaceAll(l, "\x00", " ")
	l = strings.ReplaceAll(l, "\r\n", "\n")
	l = strings.ReplaceAll(l, "\r", "\n")
	var b strings.Builder
	for n, seg := range strings.Split(l, "\n") {
		seg = strings.TrimRight(seg, " \t")
		switch {
		case n == 0:
			b.WriteString(seg)
		case seg == "":
			// A blank continuation line would end the header.
		case isBlank(seg[0]):
			b.WriteString(eol + seg)
		default:
			b.WriteString(" " + seg)
		}
	}
	s := strings.TrimRight(b.String(), " \t")
	// A strict field name: no blanks before the colon (a line "From :"
	// at the top would read as an mbox envelope line).
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", false
	}
	for _, c := range []byte(s[:i]) {
		if c <= ' ' || c >= 0x7f {
			return "", false
		}
	}
	return s, true
}

// AddHeaders inserts the lines ("Name: value", without line end) at the top
// of the header, in order, after an mbox "From " line if there is one.
// Lines that are not header fields are skipped. A message without a header
// gets one, ended by an empty line, so its bytes all stay body.
func AddHeaders(raw []byte, lines []string) []byte {
	h := parseHeader(raw)
	var add strings.Builder
	for _, l := range lines {
		if s, ok := cleanLine(l, h.eol); ok {
			add.WriteString(s + h.eol)
		}
	}
	if add.Len() == 0 {
		return bytes.Clone(raw)
	}
	if h.none {
		add.WriteString(h.eol)
	}
	return splice(raw, h.start, h.start, add.String())
}

// splice returns raw with raw[from:to] replaced by s, in a new slice.
func splice(raw []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(raw)-(to-from)+len(s))
	out = append(out, raw[:from]...)
	out = append(out, s...)
	return append(out, raw[to:]...)
}

// needsWords reports whether a header text must be written as encoded
// words: it holds non-ASCII or control characters.
func needsWords(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c > '~' {
			return true
		}
	}
	return false
}

// TagSubject prefixes the Subject's value with tag and a space, unless the
// (decoded) value already starts with tag. Only that field changes: a
// folded Subject keeps its folding. A message without a Subject gets one
// at the end of its header. A tag with non-ASCII characters is written as
// RFC 2047 encoded words.
func TagSubject(raw []byte, tag string) []byte {
	tag = strings.ToValidUTF8(tag, "\uFFFD")
	tag = strings.Trim(strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, tag), " \t")
	if tag == "" {
		return bytes.Clone(raw)
	}
	h := parseHeader(raw)
	f := h.find("Subject")
	if f == nil {
		line := "Subject: " + encodeTag(tag, false) + h.eol
		if h.none {
			return splice(raw, h.start, h.start, line+h.eol)
		}
		at := h.end
		if at > h.start && raw[at-1] != '\n' {
			line = h.eol + line
		}
		return splice(raw, at, at, line)
	}
	if strings.HasPrefix(decodeWords(unfold(raw[f.colon+1:f.end])), tag) {
		return bytes.Clone(raw)
	}
	p := f.colon + 1
	for p < f.end && isBlank(raw[p]) {
		p++
	}
	rest := raw[p:f.end]
	lead := ""
	if p == f.colon+1 {
		lead = " "
	}
	if len(rest) == 0 || rest[0] == '\r' || rest[0] == '\n' {
		// Nothing on the first line: the value, if any, is on
		// continuation lines, which start with a blank (kept as the
		// separator, unless the value starts with an encoded word: the
		// blank between two encoded words is dropped by decoders).
		next := bytes.TrimLeft(bytes.TrimLeft(rest, "\r\n"), " \t")
		return splice(raw, p, p, lead+encodeTag(tag, bytes.HasPrefix(next, []byte("=?"))))
	}
	word := bytes.HasPrefix(rest, []byte("=?"))
	return splice(raw, p, p, lead+encodeTag(tag, word)+" ")
}

// encodeTag writes tag for a header. Before an encoded word, an encoded tag
// carries its separating space inside (blanks between encoded words are
// dropped by decoders).
func encodeTag(tag string, beforeWord bool) string {
	if !needsWords(tag) {
		return tag
	}
	if beforeWord {
		return mime.QEncoding.Encode("utf-8", tag+" ")
	}
	return mime.QEncoding.Encode("utf-8", tag)
}
