// Package mimeparts turns a mail message (or an mbox of them) into the parts
// the engine scans. It registers the unpack format for filetype.Mail, so
// the Walker opens every message, part and attachment under its limits.
//
// Parsing is lenient: hostile and broken mail must still have its bytes
// scanned. Header fields are read with go-message's textproto reader, going
// on past malformed lines; multipart bodies are split on their delimiter
// lines in place (no copies, so nesting costs nothing); base64 and
// quoted-printable are decoded leniently. Charsets are never converted:
// members carry the decoded body bytes exactly. Whatever is odd is recorded
// as the member's Anomaly (reported CORRUPTED beside the scan result) or,
// for the message's own header, as the walk's error.
package mimeparts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"mime"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"

	"ave/pkg/filetype"
	"ave/pkg/unpack"
)

func init() {
	unpack.Register(unpack.Format{Name: "mime", Types: []filetype.Type{filetype.Mail}, Walk: Walk})
}

// Walk is the unpack.WalkFunc of mail messages. A message yields one member
// per leaf part, named by its file name or its MIME part number ("1",
// "2.1"); a message/rfc822 part is yielded whole with Hint filetype.Mail
// so the Walker opens it in turn. An mbox (data starting with "From ")
// holding several messages yields each message as a member.
func Walk(ctx context.Context, c *unpack.Container, yield func(unpack.Member) error) error {
	data := c.Data
	if bytes.HasPrefix(data, []byte("From ")) {
		msgs := splitMbox(data)
		if len(msgs) > 1 {
			for _, m := range msgs {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := yield(unpack.Member{Data: m, Size: int64(len(m)), Packed: -1, Hint: filetype.Mail}); err != nil {
					return err
				}
			}
			return nil
		}
		// One message: its envelope line is not part of the header.
		data = data[lineEnd(data, 0):]
	}
	w := &walker{ctx: ctx, c: c, yield: yield}
	if err := w.entity(data, "", 0, "text/plain", nil); err != nil {
		return err
	}
	if len(w.anomalies) > 0 {
		return fmt.Errorf("%w: %s", unpack.ErrCorrupt, strings.Join(w.anomalies, "; "))
	}
	return nil
}

type walker struct {
	ctx   context.Context
	c     *unpack.Container
	yield func(unpack.Member) error
	// anomalies of the message itself (its own header), returned as the
	// walk's error once every part has been yielded.
	anomalies []string
}

// entity walks one entity: the message itself (num "") or a part. nest is
// the number of multiparts around it. inherited are anomalies found by the
// enclosing multipart that belong to this part.
func (w *walker) entity(raw []byte, num string, nest int, defaultType string, inherited []string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	h, body, hdrAnoms := splitHeader(raw)
	anoms := append(append([]string(nil), inherited...), hdrAnoms...)
	if num == "" && len(hdrAnoms) > 0 {
		// Problems in the message's own header concern the message.
		w.anomalies = append(w.anomalies, hdrAnoms...)
		anoms = anoms[:len(inherited)]
	}

	ctype := h.contentType
	if strings.TrimSpace(ctype) == "" {
		ctype = defaultType
	}
	mt, params, ctAnom := parseMediaType(ctype)
	if ctAnom != "" {
		anoms = append(anoms, ctAnom)
	}
	if strings.HasPrefix(mt, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			anoms = append(anoms, "multipart without boundary parameter")
			return w.leaf(body, fallbackName(num), nest, h, "", anoms)
		}
		parts, closed := splitMultipart(body, boundary)
		if len(parts) == 0 {
			anoms = append(anoms, "multipart body without boundary delimiter")
			return w.leaf(body, fallbackName(num), nest, h, "", anoms)
		}
		if w.c.Depth+1+nest > w.c.MaxDepth {
			return fmt.Errorf("%w: multipart nested deeper than MaxDepth %d", unpack.ErrLimit, w.c.MaxDepth)
		}
		if !closed {
			anoms = append(anoms, "missing closing boundary")
		}
		childType := "text/plain"
		if mt == "multipart/digest" {
			childType = "message/rfc822"
		}
		for i, p := range parts {
			var give []string
			if i == len(parts)-1 {
				// The multipart's own problems go with its last part,
				// where a missing closing boundary shows.
				give = anoms
			}
			childNum := strconv.Itoa(i + 1)
			if num != "" {
				childNum = num + "." + childNum
			}
			if err := w.entity(p, childNum, nest+1, childType, give); err != nil {
				return err
			}
		}
		return nil
	}

	name := partName(h)
	if unpack.CleanName(name) == "" {
		// No name, or one the walker's cleaning empties (" . "): the
		// part's number, as Leaves names it, whatever the depth limit.
		name = num
		if name == "" {
			name = "1"
		}
	}
	var hint filetype.Type
	switch {
	case IsMessageType(mt):
		hint = filetype.Mail
	case mt == "text/html":
		// An HTML part that does not start like a document ("<div>...")
		// is still HTML: its data: URIs and character references are
		// decoded by the html format.
		hint = filetype.HTML
	}
	return w.leaf(body, name, nest, h, hint, anoms)
}

// fallbackName names a body yielded raw because its structure could not
// be used: "body" for the message's own body, else the part number.
func fallbackName(num string) string {
	if num == "" {
		return "body"
	}
	return num
}

// leaf decodes one part's body and yields it.
func (w *walker) leaf(body []byte, name string, nest int, h header, hint filetype.Type, anoms []string) error {
	data, encAnom := decodeBody(body, h.encoding)
	if encAnom != "" {
		anoms = append(anoms, encAnom)
	}
	depth := 0
	if nest > 1 {
		depth = nest - 1
	}
	return w.yield(unpack.Member{
		Name:    name,
		Size:    int64(len(data)),
		Packed:  -1,
		Data:    data,
		Hint:    hint,
		Depth:   depth,
		Anomaly: strings.Join(anoms, "; "),
	})
}

// header holds the fields of an entity header that matter for walking it.
type header struct {
	contentType, disposition, encoding string
}

// splitHeader separates an entity's header from its body and reads the
// fields it needs. The header ends at the first empty line; without one,
// it ends at the first line that is not a header field. A body that does
// not start with a header field has an empty header.
func splitHeader(raw []byte) (header, []byte, []string) {
	var anoms []string
	hdrEnd, bodyStart := -1, -1
	for pos := 0; pos < len(raw); {
		next := lineEnd(raw, pos)
		line := bytes.TrimRight(raw[pos:next], "\r\n")
		if len(line) == 0 {
			hdrEnd, bodyStart = pos, next
			break
		}
		if pos == 0 && !isField(line) {
			// No header at all: the whole entity is body.
			return header{}, raw, nil
		}
		pos = next
	}
	if hdrEnd < 0 {
		// No empty line: the header ends where field lines stop.
		hdrEnd = len(raw)
		for pos := 0; pos < len(raw); {
			next := lineEnd(raw, pos)
			line := bytes.TrimRight(raw[pos:next], "\r\n")
			if len(line) > 0 && !isField(line) && line[0] != ' ' && line[0] != '\t' {
				hdrEnd = pos
				anoms = append(anoms, "header not followed by an empty line")
				break
			}
			pos = next
		}
		bodyStart = hdrEnd
	}
	h, readAnoms := readHeader(raw[:hdrEnd])
	return h, raw[bodyStart:], append(anoms, readAnoms...)
}

// readHeader reads header fields with go-message's textproto reader. That
// reader stops at the first malformed line; reading goes on after it, so
// one bad line costs only itself.
func readHeader(b []byte) (header, []string) {
	var h header
	var anoms []string
	br := bufio.NewReader(bytes.NewReader(b))
	// Each failed read consumes at least one line, so the loop ends.
	for tries := bytes.Count(b, []byte("\n")) + 2; tries > 0; tries-- {
		f, err := textproto.ReadHeader(br)
		if h.contentType == "" {
			h.contentType = f.Get("Content-Type")
		}
		if h.disposition == "" {
			h.disposition = f.Get("Content-Disposition")
		}
		if h.encoding == "" {
			h.encoding = f.Get("Content-Transfer-Encoding")
		}
		if err == nil || err == io.EOF {
			break
		}
		anoms = append(anoms, shorten(err.Error(), 100))
		if _, err := br.Peek(1); err != nil {
			break
		}
	}
	return h, anoms
}

// isField reports whether a line starts a header field: a name of
// printable characters followed by a colon.
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

// lineEnd returns the index just past the line starting at pos.
func lineEnd(b []byte, pos int) int {
	if i := bytes.IndexByte(b[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(b)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// splitMultipart splits a multipart body on its delimiter lines
// ("--boundary", the closing one "--boundary--"). Each part is returned
// without the line break that precedes the next delimiter. closed is false
// when the closing delimiter is missing: the last part then runs to the end.
func splitMultipart(body []byte, boundary string) (parts [][]byte, closed bool) {
	delim := []byte("--" + boundary)
	start := -1
	for pos := 0; pos <= len(body); {
		at, next, closing := findDelimiter(body, pos, delim)
		if at < 0 {
			break
		}
		if start >= 0 {
			end := at
			if end > start && body[end-1] == '\n' {
				end--
				if end > start && body[end-1] == '\r' {
					end--
				}
			}
			parts = append(parts, body[start:end])
		}
		if closing {
			return parts, true
		}
		start, pos = next, next
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts, false
}

// findDelimiter finds the next delimiter line at or after pos: delim at the
// start of a line, followed by "--" (closing), blanks, a line break or the
// end. "--foobar" is not a delimiter of boundary "foo".
func findDelimiter(body []byte, pos int, delim []byte) (at, next int, closing bool) {
	for pos < len(body) {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			return -1, 0, false
		}
		at = pos + i
		pos = at + 1
		if at > 0 && body[at-1] != '\n' {
			continue
		}
		rest := body[at+len(delim):]
		if bytes.HasPrefix(rest, []byte("--")) {
			return at, lineEnd(body, at), true
		}
		if len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r' || rest[0] == '\n' {
			return at, lineEnd(body, at), false
		}
	}
	return -1, 0, false
}

// parseMediaType parses a Content-Type value. When mime.ParseMediaType
// rejects it (duplicate or malformed parameters), the type and parameters
// are read leniently instead, first value winning, and an anomaly is noted.
func parseMediaType(v string) (string, map[string]string, string) {
	mt, params, err := mime.ParseMediaType(v)
	if err == nil {
		return strings.ToLower(mt), params, ""
	}
	mt, params = lenientMediaType(v)
	return mt, params, shorten("invalid Content-Type: "+err.Error(), 100)
}

// lenientMediaType reads "type/subtype; key=value; key="quoted value"".
func lenientMediaType(v string) (string, map[string]string) {
	v = strings.TrimSpace(v)
	i := strings.IndexAny(v, "; \t")
	if i < 0 {
		i = len(v)
	}
	mt := strings.ToLower(v[:i])
	params := map[string]string{}
	rest := v[i:]
	for len(rest) > 0 {
		rest = strings.TrimLeft(rest, "; \t\r\n")
		if rest == "" {
			break
		}
		k := strings.IndexAny(rest, "=;")
		if k < 0 {
			break
		}
		key := strings.ToLower(strings.TrimSpace(rest[:k]))
		if rest[k] == ';' {
			rest = rest[k:]
			continue
		}
		rest = strings.TrimLeft(rest[k+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			j := 1
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
				}
				b.WriteByte(rest[j])
			}
			val = b.String()
			rest = rest[min(j+1, len(rest)):]
		} else {
			j := strings.IndexAny(rest, "; \t")
			if j < 0 {
				j = len(rest)
			}
			val, rest = rest[:j], rest[j:]
		}
		if _, dup := params[key]; !dup && key != "" {
			params[key] = val
		}
	}
	return mt, params
}

// wordDecoder decodes RFC 2047 encoded words in file names. Charsets it
// does not know are passed through unconverted: a name is only a label.
var wordDecoder = mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}

// partName is the part's file name: Content-Disposition's filename, else
// Content-Type's name, reduced to its last path element.
func partName(h header) string {
	var name string
	if h.disposition != "" {
		_, p, _ := parseMediaType(h.disposition)
		name = p["filename"]
		if name == "" {
			name = rfc2231Value(p["filename*"])
		}
	}
	if name == "" && h.contentType != "" {
		_, p, _ := parseMediaType(h.contentType)
		name = p["name"]
		if name == "" {
			name = rfc2231Value(p["name*"])
		}
	}
	if name == "" {
		return ""
	}
	if d, err := wordDecoder.DecodeHeader(name); err == nil {
		name = d
	}
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" {
		return ""
	}
	return shorten(strings.TrimSpace(name), 255)
}

// rfc2231Value strips the charset'language' prefix of an extended
// parameter that the lenient parser left undecoded, and percent-decodes it.
func rfc2231Value(v string) string {
	if v == "" {
		return ""
	}
	if i := strings.LastIndexByte(v, '\''); i >= 0 {
		v = v[i+1:]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			b.WriteByte(unhex(v[i+1])<<4 | unhex(v[i+2]))
			i += 2
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// splitMbox splits an mbox on its "From " envelope lines; the line break
// before each one stays with the message it ends.
func splitMbox(d []byte) [][]byte {
	var out [][]byte
	start := 0
	sep := []byte("\nFrom ")
	for pos := 0; ; {
		i := bytes.Index(d[pos:], sep)
		if i < 0 {
			break
		}
		at := pos + i + 1
		out = append(out, d[start:at])
		start, pos = at, at
	}
	return append(out, d[start:])
}

// decodeBody undoes a Content-Transfer-Encoding. Identity encodings return
// body itself (no copy); an unknown encoding returns it raw with an anomaly.
func decodeBody(body []byte, cte string) ([]byte, string) {
	enc := strings.ToLower(strings.Trim(strings.TrimSpace(cte), `"'`))
	if i := strings.IndexAny(enc, "; \t"); i >= 0 {
		enc = enc[:i]
	}
	switch enc {
	case "", "7bit", "8bit", "binary":
		return body, ""
	case "base64":
		out, bad := decodeBase64(body)
		if bad > 0 {
			return out, fmt.Sprintf("corrupt base64: %d invalid characters skipped", bad)
		}
		return out, ""
	case "quoted-printable":
		out, bad := decodeQP(body)
		if bad > 0 {
			return out, fmt.Sprintf("corrupt quoted-printable: %d bad escapes kept as they are", bad)
		}
		return out, ""
	default:
		return body, shorten(fmt.Sprintf("unknown Content-Transfer-Encoding %q", cte), 100)
	}
}

// base64 alphabet values; the rest of the table marks what is skipped.
const (
	b64Invalid = 0xff
	b64Space   = 0xfe
	b64Pad     = 0xfd
)

var b64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Invalid
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	for _, c := range " \t\r\n\f\v" {
		t[c] = b64Space
	}
	t['='] = b64Pad
	return t
}()

// decodeBase64 decodes leniently: characters outside the alphabet are
// skipped and counted in bad, "=" ends a group wherever it appears (so
// concatenated encodings decode too), and a final partial group yields the
// bytes it holds.
func decodeBase64(src []byte) (out []byte, bad int) {
	// Every 4 characters give at most 3 bytes, so out[j:j+8] stays in
	// range while at least 8 characters are left (see the fast paths).
	out = make([]byte, len(src)/4*3+8)
	j := 0
	var q [4]byte
	n := 0
	flush := func() {
		switch n {
		case 1:
			bad++ // six bits cannot make a byte
		case 2:
			out[j] = q[0]<<2 | q[1]>>4
			j++
		case 3:
			out[j], out[j+1] = q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2
			j += 2
		}
		n = 0
	}
	for i := 0; i < len(src); i++ {
		// Fast paths: whole groups of alphabet characters on a group
		// boundary (the body of every line of ordinary base64), eight
		// characters (six bytes, stored as one 8-byte word whose last two
		// bytes the next store overwrites) or four at a time.
		for n == 0 && i+8 <= len(src) {
			a, b, c, d := b64Values[src[i]], b64Values[src[i+1]], b64Values[src[i+2]], b64Values[src[i+3]]
			e, f, g, h := b64Values[src[i+4]], b64Values[src[i+5]], b64Values[src[i+6]], b64Values[src[i+7]]
			if (a|b|c|d|e|f|g|h)&0xc0 != 0 {
				break // a blank, "=" or a bad character among them
			}
			binary.BigEndian.PutUint64(out[j:], uint64(a)<<58|uint64(b)<<52|uint64(c)<<46|uint64(d)<<40|
				uint64(e)<<34|uint64(f)<<28|uint64(g)<<22|uint64(h)<<16)
			j += 6
			i += 8
		}
		for n == 0 && i+4 <= len(src) {
			a, b, c, d := b64Values[src[i]], b64Values[src[i+1]], b64Values[src[i+2]], b64Values[src[i+3]]
			if (a|b|c|d)&0xc0 != 0 {
				break
			}
			out[j], out[j+1], out[j+2] = a<<2|b>>4, b<<4|c>>2, c<<6|d
			j += 3
			i += 4
		}
		if i >= len(src) {
			break
		}
		switch v := b64Values[src[i]]; v {
		case b64Space:
		case b64Pad:
			flush()
		case b64Invalid:
			bad++
		default:
			q[n] = v
			n++
			if n == 4 {
				out[j], out[j+1], out[j+2] = q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3]
				j += 3
				n = 0
			}
		}
	}
	flush()
	return out[:j], bad
}

// decodeQP decodes quoted-printable leniently: "=XX" in either case is a
// byte, "=" before a line break is a soft break, any other "=" is kept as
// it is and counted in bad. Blanks that end a line are transport padding
// and are dropped, unless they were written as escapes.
func decodeQP(src []byte) (out []byte, bad int) {
	out = make([]byte, 0, len(src))
	keep := 0 // out[:keep] must not be trimmed: line start or last escape
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '=':
			if i+2 < len(src) && isHex(src[i+1]) && isHex(src[i+2]) {
				out = append(out, unhex(src[i+1])<<4|unhex(src[i+2]))
				keep = len(out)
				i += 2
				continue
			}
			j := i + 1
			for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
				j++
			}
			switch {
			case j == len(src):
				i = j
			case src[j] == '\n':
				i = j
			case src[j] == '\r':
				i = j
				if j+1 < len(src) && src[j+1] == '\n' {
					i = j + 1
				}
			default:
				bad++
				out = append(out, '=')
				keep = len(out)
			}
		case c == '\n':
			end := len(out)
			if end > keep && out[end-1] == '\r' {
				end--
			}
			trimmed := end
			for trimmed > keep && (out[trimmed-1] == ' ' || out[trimmed-1] == '\t') {
				trimmed--
			}
			if trimmed < end {
				cr := len(out) > end
				out = out[:trimmed]
				if cr {
					out = append(out, '\r')
				}
			}
			out = append(out, '\n')
			keep = len(out)
		default:
			out = append(out, c)
		}
	}
	return out, bad
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// IsMessageType reports the media types of a whole message carried as a
// part (a forwarded message), which the walker opens as mail.
func IsMessageType(mt string) bool {
	switch mt {
	case "message/rfc822", "message/global", "message/news":
		return true
	}
	return false
}
