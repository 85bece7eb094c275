// Package encword decodes the RFC 2047 encoded words of a header value
// the way mail readers show them: word by word.
//
// mime.WordDecoder.DecodeHeader gives up on the whole value when one word
// has a charset its CharsetReader refuses, so a Subject such as
// "=?x-unknown?q?a?= =?utf-8?q?Invoice?=" would come back entirely
// encoded. Decode keeps only the words it cannot decode as they are.
package encword

import (
	"mime"
	"strings"
)

// Decode decodes the encoded words of v with d. A word d cannot decode
// stays as it is; blanks between two decoded words are dropped, as RFC
// 2047 says.
func Decode(d *mime.WordDecoder, v string) string {
	if s, err := d.DecodeHeader(v); err == nil {
		return s
	}
	var b strings.Builder
	prevWord := false // the last thing written was a decoded word
	for {
		i := strings.Index(v, "=?")
		if i < 0 {
			b.WriteString(v)
			return b.String()
		}
		n := wordLen(v[i:])
		if n < 0 {
			b.WriteString(v)
			return b.String()
		}
		between := v[:i]
		dec, err := d.Decode(v[i : i+n])
		if err != nil {
			// Not a word d can decode: keep it, and what precedes it.
			b.WriteString(v[:i+n])
			prevWord = false
		} else {
			if !prevWord || strings.Trim(between, " \t") != "" {
				b.WriteString(between)
			}
			b.WriteString(dec)
			prevWord = true
		}
		v = v[i+n:]
	}
}

// wordLen is the length of the encoded word "=?charset?e?text?=" that s
// starts with, or -1.
func wordLen(s string) int {
	n := 2
	for q := 0; q < 2; q++ { // the ends of charset and of encoding
		k := strings.IndexByte(s[n:], '?')
		if k < 0 {
			return -1
		}
		n += k + 1
	}
	k := strings.Index(s[n:], "?=")
	if k < 0 {
		return -1
	}
	return n + k + 2
}
