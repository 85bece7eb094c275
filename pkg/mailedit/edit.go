package mailedit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"ave/pkg/mimeparts"
)

// Errors of Replace and AppendPart.
const (
	// ErrEdit: an edit is not a removable leaf part of the message (not
	// one of mimeparts.Leaves, the message's own body, out of order or
	// overlapping).
	ErrEdit = mailError("mailedit: edit is not a removable leaf part")
	// ErrStructure: the edited message would not parse into the same
	// parts (only with malformed structure); the message was not edited.
	ErrStructure = mailError("mailedit: edit would change the message structure")
	// ErrMbox: the data is an mbox of several messages.
	ErrMbox = mailError("mailedit: mbox of several messages")
)

// Edit replaces one leaf entity (Start and End of a mimeparts.Leaf) by a
// text part whose body is Notice.
type Edit struct {
	Start, End int64
	Notice     string
}

// Replace cures a message: each edit's span, which must be the Start and
// End of a non-Root leaf of mimeparts.Leaves(raw), becomes a text/plain
// part (charset=utf-8, 7bit or quoted-printable, Content-Disposition:
// inline; filename="removed-N.txt", N counting the edits from 1) whose body
// is the edit's Notice. Edits must be sorted and must not overlap. Every
// byte outside the spans stays as it was. The result is checked: it has
// the same leaves, with the same names except for the replaced ones.
func Replace(raw []byte, edits []Edit) ([]byte, error) {
	leaves := mimeparts.Leaves(raw)
	if leaves == nil {
		return nil, ErrMbox
	}
	type span struct{ start, end int64 }
	index := make(map[span]int, len(leaves))
	for i, l := range leaves {
		if !l.Root {
			index[span{l.Start, l.End}] = i
		}
	}
	h := parseHeader(raw)
	replaced := make(map[int]string, len(edits))
	var out bytes.Buffer
	out.Grow(len(raw))
	prev := int64(0)
	for n, e := range edits {
		i, ok := index[span{e.Start, e.End}]
		if !ok {
			return nil, fmt.Errorf("%w: edit %d [%d,%d)", ErrEdit, n+1, e.Start, e.End)
		}
		if e.Start < prev || (n > 0 && e.Start == edits[n-1].Start) {
			return nil, fmt.Errorf("%w: edit %d [%d,%d) out of order or overlapping", ErrEdit, n+1, e.Start, e.End)
		}
		start, end := int(e.Start), int(e.End)
		out.Write(raw[prev:start])
		if start > 0 && raw[start-1] != '\n' {
			// The delimiter line before the part has no line end.
			out.WriteString(h.eol)
		}
		name := "removed-" + strconv.Itoa(n+1) + ".txt"
		replaced[i] = name
		out.WriteString(textPart(`inline; filename="`+name+`"`, e.Notice, h.eol))
		if (end > start && raw[end-1] == '\n') || (end < len(raw) && raw[end] != '\r' && raw[end] != '\n') {
			out.WriteString(h.eol)
		}
		prev = e.End
	}
	out.Write(raw[prev:])
	res := out.Bytes()

	after := mimeparts.Leaves(res)
	if len(after) != len(leaves) {
		return nil, fmt.Errorf("%w: %d parts instead of %d", ErrStructure, len(after), len(leaves))
	}
	for i, l := range after {
		want := leaves[i].Name
		if name, ok := replaced[i]; ok {
			want = name
		}
		if l.Name != want {
			return nil, fmt.Errorf("%w: part %d named %q instead of %q", ErrStructure, i+1, l.Name, want)
		}
	}
	return res, nil
}

// textPart returns a text/plain part, header and body, without a final
// line end.
func textPart(disposition, text, eol string) string {
	body, cte := encodeText(text, eol)
	return "Content-Type: text/plain; charset=utf-8" + eol +
		"Content-Transfer-Encoding: " + cte + eol +
		"Content-Disposition: " + disposition + eol + eol + body
}

// encodeText encodes text as a body: 7bit when it is plain short ASCII
// lines, else quoted-printable. Line breaks become eol. No line of the
// result starts with "-" or "From ", so it can never hold a multipart
// delimiter or an mbox envelope line.
func encodeText(text, eol string) (body, cte string) {
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	lines := strings.Split(text, "\n")
	plain := true
	for _, l := range lines {
		if len(l) > 76 || strings.HasPrefix(l, "-") || strings.HasPrefix(l, "From ") ||
			strings.HasSuffix(l, " ") || strings.HasSuffix(l, "\t") {
			plain = false
			break
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; (c < ' ' && c != '\t') || c > '~' {
				plain = false
				break
			}
		}
	}
	if plain {
		return strings.Join(lines, eol), "7bit"
	}
	var b strings.Builder
	for n, l := range lines {
		if n > 0 {
			b.WriteString(eol)
		}
		col := 0
		for i := 0; i < len(l); i++ {
			c := l[i]
			var tok string
			switch {
			case col == 0 && (c == '-' || c == 'F' || c == '.'):
				tok = fmt.Sprintf("=%02X", c)
			case (c == ' ' || c == '\t') && i == len(l)-1:
				tok = fmt.Sprintf("=%02X", c)
			case c == ' ' || c == '\t' || (c > ' ' && c <= '~' && c != '='):
				tok = string(c)
			default:
				tok = fmt.Sprintf("=%02X", c)
			}
			if col+len(tok) > 75 {
				b.WriteString("=" + eol)
				col = 0
				if tok == "-" || tok == "F" || tok == "." {
					tok = fmt.Sprintf("=%02X", c)
				}
			}
			b.WriteString(tok)
			col += len(tok)
		}
	}
	return b.String(), "quoted-printable"
}

// AppendPart adds a text/plain attachment (the scan report) called
// filename with the given text. When the message is multipart/mixed with a
// closing delimiter, the part goes right before that delimiter and nothing
// else changes. Otherwise the message is wrapped: its header keeps every
// field but Content-Type, Content-Transfer-Encoding, Content-Disposition,
// Content-ID and Content-Description, which move into a new first part
// holding the original body unchanged; the message becomes multipart/mixed
// with a fresh boundary found nowhere in it, and gets MIME-Version: 1.0 if
// it had none.
func AppendPart(raw []byte, filename, text string) ([]byte, error) {
	before := mimeparts.Leaves(raw)
	if before == nil {
		return nil, ErrMbox
	}
	h := parseHeader(raw)
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": filename})
	if filename == "" || disp == "" {
		disp = `attachment; filename="report.txt"`
	}
	part := textPart(disp, text, h.eol)

	if at, boundary, ok := closingDelimiter(raw, h); ok {
		out := splice(raw, at, at, "--"+boundary+h.eol+part+h.eol)
		if appended(before, out, int64(at)) {
			return out, nil
		}
	}
	out := wrap(raw, h, part)
	if !appended(before, out, -1) {
		return nil, ErrStructure
	}
	return out, nil
}

// appended checks that out has the leaves of before with their names and
// one more, the new part (at offset at, unless at is negative), last.
func appended(before []mimeparts.Leaf, out []byte, at int64) bool {
	after := mimeparts.Leaves(out)
	if len(after) != len(before)+1 {
		return false
	}
	last := after[len(after)-1]
	if last.Root || last.ContentType != "text/plain" || (at >= 0 && last.Start <= at) {
		return false
	}
	if at < 0 {
		return true // wrapped: the original parts are renumbered
	}
	for i := range before {
		if after[i].Name != before[i].Name {
			return false
		}
	}
	return true
}

// closingDelimiter finds, in a multipart/mixed message, the start of the
// line of the closing delimiter that ends its first part list.
func closingDelimiter(raw []byte, h hdr) (at int, boundary string, ok bool) {
	f := h.find("Content-Type")
	if f == nil || h.none {
		return 0, "", false
	}
	mt, params, err := mime.ParseMediaType(unfold(raw[f.colon+1 : f.end]))
	if err != nil || !strings.EqualFold(mt, "multipart/mixed") || params["boundary"] == "" {
		return 0, "", false
	}
	boundary = params["boundary"]
	delim := []byte("--" + boundary)
	body := raw[h.body:]
	parts := 0
	for pos := 0; pos < len(body); {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			return 0, "", false
		}
		a := pos + i
		pos = a + 1
		if a > 0 && body[a-1] != '\n' {
			continue
		}
		rest := body[a+len(delim):]
		if bytes.HasPrefix(rest, []byte("--")) {
			if parts == 0 {
				return 0, "", false
			}
			return h.body + a, boundary, true
		}
		if len(rest) == 0 || isBlank(rest[0]) || rest[0] == '\r' || rest[0] == '\n' {
			parts++
		}
	}
	return 0, "", false
}

// moved are the fields that describe the body and go with it into the
// first part when a message is wrapped.
var moved = map[string]bool{
	"content-type": true, "content-transfer-encoding": true, "content-disposition": true,
	"content-id": true, "content-description": true,
}

// wrap makes the message multipart/mixed: its body, with the fields that
// describe it, becomes the first part, then comes part.
func wrap(raw []byte, h hdr, part string) []byte {
	var top, first bytes.Buffer
	hasVersion := false
	junkFirst := false // the top header would start with a line that is not a field
	for _, f := range h.fields {
		line := raw[f.start:f.end]
		if f.colon >= 0 && moved[strings.ToLower(f.name)] {
			first.Write(line)
			if !bytes.HasSuffix(line, []byte("\n")) {
				first.WriteString(h.eol)
			}
			continue
		}
		if f.colon >= 0 && strings.EqualFold(f.name, "MIME-Version") {
			hasVersion = true
		}
		if top.Len() == 0 && f.colon < 0 {
			junkFirst = true
		}
		top.Write(line)
		if !bytes.HasSuffix(line, []byte("\n")) {
			top.WriteString(h.eol)
		}
	}
	body := raw[h.body:]
	boundary := freshBoundary(raw)
	eol := h.eol
	var out bytes.Buffer
	out.Grow(len(raw) + len(part) + 256)
	out.Write(raw[:h.start])
	var ours string
	if !hasVersion {
		ours = "MIME-Version: 1.0" + eol
	}
	ours += `Content-Type: multipart/mixed; boundary="` + boundary + `"` + eol
	// A header must start with a field to be read as one: when the
	// original's first kept line is not one (a malformed header), our
	// fields go first.
	if junkFirst {
		out.WriteString(ours)
		out.Write(top.Bytes())
	} else {
		out.Write(top.Bytes())
		out.WriteString(ours)
	}
	out.WriteString(eol)
	out.WriteString("--" + boundary + eol)
	out.Write(first.Bytes())
	out.WriteString(eol)
	out.Write(body)
	out.WriteString(eol + "--" + boundary + eol)
	out.WriteString(part)
	out.WriteString(eol + "--" + boundary + "--" + eol)
	return out.Bytes()
}

// freshBoundary returns a boundary that occurs nowhere in raw. It is
// derived from raw's hash, so the same message gets the same boundary.
func freshBoundary(raw []byte) string {
	sum := sha256.Sum256(raw)
	for n := 0; ; n++ {
		b := "=_ave_" + hex.EncodeToString(sum[:12])
		if n > 0 {
			b += "_" + strconv.Itoa(n)
		}
		if !bytes.Contains(raw, []byte(b)) {
			return b
		}
		sum = sha256.Sum256(sum[:])
	}
}
