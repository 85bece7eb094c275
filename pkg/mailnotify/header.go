package mailnotify

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"ave/internal/encword"
)

// field is one header field of the scanned message: its name and its
// unfolded raw value (line breaks of folding removed, blanks kept).
type field struct {
	name, value string
}

// parseFields reads a raw header block (LF or CRLF lines) up to its first
// empty line. Lines that are neither fields nor continuations (an mbox
// "From " line, garbage) are skipped.
func parseFields(h []byte) []field {
	var fs []field
	cur := -1
	for len(h) > 0 {
		var line []byte
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			line, h = h, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur >= 0 {
				fs[cur].value += string(line)
			}
			continue
		}
		cur = -1
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name := string(bytes.TrimRight(line[:colon], " \t"))
		if !validFieldName(name) {
			continue
		}
		fs = append(fs, field{name, string(line[colon+1:])})
		cur = len(fs) - 1
	}
	return fs
}

// lookup returns the first field named name (case-insensitive).
func lookup(fs []field, name string) (string, bool) {
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

var wordDecoder = &mime.WordDecoder{
	CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
		// utf-8, iso-8859-1 and us-ascii are decoded by mime itself.
		if charset == "windows-1252" || charset == "cp1252" {
			b, err := io.ReadAll(r)
			if err != nil {
				return nil, err
			}
			var s strings.Builder
			for _, c := range b {
				if c >= 0x80 && c < 0xa0 {
					s.WriteRune(cp1252[c-0x80])
				} else {
					s.WriteRune(rune(c))
				}
			}
			return strings.NewReader(s.String()), nil
		}
		return nil, fmt.Errorf("charset %s not supported", charset)
	},
}

var cp1252 = [32]rune{
	'€', '\ufffd', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\ufffd', 'Ž', '\ufffd',
	'\ufffd', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\ufffd', 'ž', 'Ÿ',
}

// decodeValue decodes RFC 2047 encoded-words of an unfolded value; words
// of charsets it does not know stay as they are.
func decodeValue(v string) string {
	return oneLine(encword.Decode(wordDecoder, v))
}

// oneLine makes s a single line of valid UTF-8: line breaks and tabs
// become spaces, other control characters are dropped, runs of blanks
// become one space, blanks at both ends are trimmed.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			b.WriteByte(' ')
		case unicode.IsControl(r) || r == '\ufeff':
		default:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// multiLine makes s lines of valid UTF-8 separated by LF (from LF, CRLF or
// CR); control characters other than tab become U+FFFD; trailing line
// breaks are removed.
func multiLine(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch {
		case r == '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				b.WriteByte('\n')
			}
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\u2028' || r == '\u2029' || r == '\u0085':
			b.WriteByte('\n')
		case unicode.IsControl(r) || r == '\ufeff':
			b.WriteRune('\ufffd')
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// maxHeaderValue caps the text of one header field of a notification
// (a Subject made of a long macro value is cut, ending in "...").
const maxHeaderValue = 2000

// maxWord is the longest plain word written unencoded in a header; a
// longer one is RFC 2047 encoded, which splits it into encoded-words of at
// most 75 characters, so that folding keeps every line within 78.
const maxWord = 70

// writeField writes one header field, "Name: value" CRLF, the value made
// one line, RFC 2047 encoded where it is not plain ASCII (or has a very
// long word or something looking like an encoded-word) and folded at
// blanks to lines of at most 78 characters. name must be at most 76
// characters of ftext.
func writeField(b *bytes.Buffer, name, value string) {
	value = oneLine(value)
	if len(value) > maxHeaderValue {
		cut := maxHeaderValue
		for cut > 0 && !utf8.RuneStart(value[cut]) {
			cut--
		}
		value = value[:cut] + "..."
	}
	words := strings.Fields(value)
	var toks []string
	for i := 0; i < len(words); {
		if !needsEncoding(words[i]) {
			toks = append(toks, words[i])
			i++
			continue
		}
		j := i + 1
		for j < len(words) && needsEncoding(words[j]) {
			j++
		}
		toks = append(toks, qEncode(strings.Join(words[i:j], " "))...)
		i = j
	}
	line := len(name) + 1
	b.WriteString(name)
	b.WriteByte(':')
	// line is 0 at the start of a continuation line, where any token
	// fits; a token too long for the first line starts the value on the
	// next.
	for _, t := range toks {
		if line+1+len(t) > 78 && line > 0 {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteByte(' ')
		b.WriteString(t)
		line += 1 + len(t)
	}
	b.WriteString("\r\n")
}

func needsEncoding(w string) bool {
	if len(w) > maxWord || strings.Contains(w, "=?") || strings.Contains(w, "?=") {
		return true
	}
	for i := 0; i < len(w); i++ {
		if w[i] < ' ' || w[i] > '~' {
			return true
		}
	}
	return false
}

// qEncode returns s (valid UTF-8) as RFC 2047 Q encoded-words of at most
// 75 characters, never splitting a character.
func qEncode(s string) []string {
	const open, close = "=?utf-8?q?", "?="
	const room = 75 - len(open) - len(close)
	var words []string
	var cur strings.Builder
	for _, r := range s {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < 0x80 && r > ' ' && r <= '~' && r != '=' && r != '?' && r != '_':
			enc = string(r)
		default:
			var buf [utf8.UTFMax]byte
			n := utf8.EncodeRune(buf[:], r)
			for _, c := range buf[:n] {
				enc += fmt.Sprintf("=%02X", c)
			}
		}
		if cur.Len()+len(enc) > room {
			words = append(words, open+cur.String()+close)
			cur.Reset()
		}
		cur.WriteString(enc)
	}
	if cur.Len() > 0 {
		words = append(words, open+cur.String()+close)
	}
	return words
}
