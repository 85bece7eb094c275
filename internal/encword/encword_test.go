package encword

import (
	"errors"
	"io"
	"mime"
	"strings"
	"testing"
)

// utf8Only decodes UTF-8, ISO-8859-1 and US-ASCII words (mime's own) and
// refuses every other charset, as mailedit's and mailnotify's decoders do
// for charsets they do not know.
var utf8Only = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	return nil, errors.New("unknown charset " + charset)
}}

func TestDecode(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Grüße"},
		{"=?utf-8?q?a?=  =?utf-8?q?b?= c", "ab c"},
		// One word of an unknown charset: the others are still decoded.
		{"=?x-unknown?q?abc?= =?utf-8?q?Invoice?=", "=?x-unknown?q?abc?= Invoice"},
		{"=?utf-8?q?Invoice?= =?x-unknown?q?abc?= =?utf-8?q?_due?= =?utf-8?q?_now?=", "Invoice =?x-unknown?q?abc?=  due now"},
		{"=??B??= =?utf-8?q?invoice.exe?=", "=??B??= invoice.exe"},
		{"[VIRUS] =?utf-8?q?=EF=BF=BD_?= =??B??=", "[VIRUS] \uFFFD  =??B??="},
		// Not words at all, or cut short.
		{"=?x-unknown?q?abc?= =?utf-8", "=?x-unknown?q?abc?= =?utf-8"},
		{"=?x-unknown?q?abc?= tail =?", "=?x-unknown?q?abc?= tail =?"},
	} {
		if got := Decode(utf8Only, tt.in); got != tt.want {
			t.Errorf("Decode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzDecode: where DecodeHeader succeeds, Decode gives the same; where
// it fails, Decode neither panics nor loses text that is not a word.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"=?utf-8?q?a?= =?x?q?b?= c", "=??B??=", "=?utf-8?b?w7w=?=", "a =?iso-8859-1?q?=E9?= b", "=?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := Decode(utf8Only, v)
		if want, err := utf8Only.DecodeHeader(v); err == nil && got != want {
			t.Fatalf("Decode(%q) = %q, DecodeHeader %q", v, got, want)
		}
		if !strings.Contains(v, "=?") && got != v {
			t.Fatalf("Decode(%q) = %q: no word, yet changed", v, got)
		}
	})
}
