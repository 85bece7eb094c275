package unpack

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"regexp"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "html", Types: []filetype.Type{filetype.HTML}, Walk: walkHTML})
}

// htmlDataURIRe matches "data:[type][;params],payload" up to the quote,
// bracket or parenthesis that ends the attribute or CSS url().
var htmlDataURIRe = regexp.MustCompile(`(?i)data:([a-z0-9!#$&^_.+/-]{0,100})((?:;[a-z0-9=._+-]{0,100}){0,8}),([^"'<>()]*)`)

// walkHTML yields what an HTML document hides from a scan of its source:
//
//   - each data: URI, decoded (base64 or percent-encoding), as
//     "data-uri-N" (N counts from 1 in document order);
//   - when the document uses numeric character references ("&#88;&#53;"),
//     its text with every character reference decoded, as "html-unescaped".
func walkHTML(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	n := 0
	for _, m := range htmlDataURIRe.FindAllSubmatchIndex(d, -1) {
		if err := ctx.Err(); err != nil {
			return err
		}
		params := bytes.ToLower(d[m[4]:m[5]])
		payload := d[m[6]:m[7]]
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
		text := []byte(html.UnescapeString(string(d)))
		if err := yield(Member{Name: "html-unescaped", Size: int64(len(text)), Packed: -1, Data: text}); err != nil {
			return err
		}
	}
	return nil
}

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
