package unpack

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "html", Types: []filetype.Type{filetype.HTML}, Walk: walkHTML})
}

// walkHTML yields what an HTML document hides from a scan of its source:
//
//   - each data: URI, decoded (base64 or percent-encoding), as
//     "data-uri-N" (N counts from 1 in document order);
//   - when the document uses numeric character references ("&#88;&#53;"),
//     its text with every character reference decoded, as "html-unescaped"
//     (not when decoding changes nothing: those bytes are the document's,
//     already scanned).
func walkHTML(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	n := 0
	for from := 0; ; {
		m, ok := nextDataURI(d, from)
		if !ok {
			break
		}
		from = m.end
		if err := ctx.Err(); err != nil {
			return err
		}
		params := bytes.ToLower(d[m.params : m.payload-1])
		payload := d[m.payload:m.end]
		var data []byte
		if bytes.Contains(params, []byte(";base64")) {
			data = lenientBase64(payload)
		} else {
			data = percentDecode(bytes.TrimRight(payload, " \t\r\n"))
		}
		if len(data) == 0 {
			continue
		}
		n++
		if err := yield(Member{Name: fmt.Sprintf("data-uri-%d", n), Size: int64(len(data)), Packed: -1, Data: data}); err != nil {
			return err
		}
	}
	if bytes.Contains(d, []byte("&#")) {
		text := htmlUnescape(d)
		if text == nil {
			return nil // no reference decoded: the text is the source itself
		}
		if err := yield(Member{Name: "html-unescaped", Size: int64(len(text)), Packed: -1, Data: text}); err != nil {
			return err
		}
	}
	return nil
}

// dataURI locates one data: URI in a document: it starts at start, its
// ";params" (possibly empty) run from params to payload-1 (the comma), and
// its payload from payload to end.
type dataURI struct {
	start, params, payload, end int
}

// nextDataURI finds the first data: URI that starts at or after from. It
// matches what the regular expression
//
//	(?i)data:([a-z0-9!#$&^_.+/-]{0,100})((?:;[a-z0-9=._+-]{0,100}){0,8}),([^"'<>()]*)
//
// matches (the media type and each parameter at most 100 characters, at
// most 8 parameters, the payload up to the quote, bracket or parenthesis
// that ends the attribute or CSS url()), in one pass: the candidates are
// found with a byte search for ':', so a document without "data:" costs
// little more than a memchr.
func nextDataURI(d []byte, from int) (dataURI, bool) {
	for pos := from; pos < len(d); {
		i := bytes.IndexByte(d[pos:], ':')
		if i < 0 {
			break
		}
		colon := pos + i
		pos = colon + 1
		start := colon - 4
		if start < from || !isData(d[start:colon]) {
			continue
		}
		if m, ok := dataURIAt(d, start, colon+1); ok {
			return m, true
		}
	}
	return dataURI{}, false
}

// isData reports whether b (4 bytes) is "data" in any case.
func isData(b []byte) bool {
	return b[0]|0x20 == 'd' && b[1]|0x20 == 'a' && b[2]|0x20 == 't' && b[3]|0x20 == 'a'
}

// dataURIAt matches the rest of a data: URI after "data:" at p.
func dataURIAt(d []byte, start, p int) (dataURI, bool) {
	j, ok := uriRun(d, p, uriTypeChar)
	if !ok {
		return dataURI{}, false
	}
	params := j
	for k := 0; j < len(d) && d[j] == ';'; k++ {
		if k == 8 {
			return dataURI{}, false // a ninth parameter where "," is needed
		}
		if j, ok = uriRun(d, j+1, uriParamChar); !ok {
			return dataURI{}, false
		}
	}
	if j >= len(d) || d[j] != ',' {
		return dataURI{}, false
	}
	payload := j + 1
	end := len(d)
	if e := bytes.IndexAny(d[payload:], `"'<>()`); e >= 0 {
		end = payload + e
	}
	return dataURI{start: start, params: params, payload: payload, end: end}, true
}

// uriRun skips up to 100 characters of a class from p; ok is false when
// there are more (the regular expression's {0,100} cannot then be followed
// by ";" or ",", which are outside both classes). Case folding as in (?i):
// the Kelvin sign and the long s are letters too.
func uriRun(d []byte, p int, class *[256]bool) (int, bool) {
	for n := 0; p < len(d); n++ {
		c := d[p]
		w := 0
		switch {
		case class[c]:
			w = 1
		case c == 0xe2 && p+2 < len(d) && d[p+1] == 0x84 && d[p+2] == 0xaa: // U+212A KELVIN SIGN
			w = 3
		case c == 0xc5 && p+1 < len(d) && d[p+1] == 0xbf: // U+017F LATIN SMALL LETTER LONG S
			w = 2
		}
		if w == 0 {
			return p, true
		}
		if n == 100 {
			return p, false
		}
		p += w
	}
	return p, true
}

var uriTypeChar, uriParamChar = asciiClass("!#$&^_.+/-"), asciiClass("=._+-")

// asciiClass is the set of ASCII letters, digits and extra.
func asciiClass(extra string) *[256]bool {
	var t [256]bool
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for i := 0; i < len(extra); i++ {
		t[extra[i]] = true
	}
	return &t
}

// htmlUnescape returns d with its character references decoded exactly as
// html.UnescapeString(string(d)) decodes them, or nil when that changes
// nothing. Text between references is copied once, into one buffer; each
// reference is decoded alone by html.UnescapeString.
func htmlUnescape(d []byte) []byte {
	var out []byte
	last := 0 // d[last:] not yet copied
	var ref []byte
	for pos := 0; pos < len(d); {
		i := bytes.IndexByte(d[pos:], '&')
		if i < 0 {
			break
		}
		amp := pos + i
		end := entityEnd(d, amp)
		pos = end
		// html.UnescapeString looks at the length of what follows the
		// "&" (at least "&#." for a numeric reference) and stops at the
		// first character that cannot continue a reference: a blank after
		// the reference stands for whatever follows it in d.
		ref = append(ref[:0], d[amp:end]...)
		if end < len(d) {
			ref = append(ref, ' ')
		}
		dec := html.UnescapeString(string(ref))
		if end < len(d) {
			dec = dec[:len(dec)-1]
		}
		if dec == string(d[amp:end]) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(d))
		}
		out = append(out, d[last:amp]...)
		out = append(out, dec...)
		last = end
	}
	if out == nil {
		return nil
	}
	return append(out, d[last:]...)
}

// entityEnd returns the end of the character reference that may start at
// the "&" at amp: "&", an optional "#", a run of ASCII letters and digits
// and an optional ";". That covers all html.UnescapeString reads of it,
// and never another "&", so decoding each reference alone and copying
// the rest decodes the whole.
func entityEnd(d []byte, amp int) int {
	j := amp + 1
	if j < len(d) && d[j] == '#' {
		j++
	}
	for j < len(d) && htmlAlnum[d[j]] {
		j++
	}
	if j < len(d) && d[j] == ';' {
		j++
	}
	return j
}

var htmlAlnum = asciiClass("")

// lenientBase64 decodes base64 or base64url, skipping whitespace, HTML
// line-break entities' leftovers and anything else outside the alphabet;
// a final partial group yields the bytes it holds.
func lenientBase64(s []byte) []byte {
	clean := make([]byte, 0, len(s))
	for _, c := range s {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '-':
			clean = append(clean, '+')
		case c == '_':
			clean = append(clean, '/')
		case c == '=':
			// Padding ends the data.
			goto done
		}
	}
done:
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// percentDecode undoes %xx escapes; a "%" not followed by two hex digits
// stays as it is.
func percentDecode(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := hexValue(s[i+1])
			lo, ok2 := hexValue(s[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}
