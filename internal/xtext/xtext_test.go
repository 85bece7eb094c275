package xtext

import "testing"

// TestUTF8AddrXtext: RFC 6533 escapes for non-ASCII, "+", "=", "\\" and
// blanks; invalid UTF-8 as U+FFFD.
func TestUTF8AddrXtext(t *testing.T) {
	for in, want := range map[string]string{
		"plain@example.net":  "plain@example.net",
		"j\u00f6rg@x":        "j\\x{F6}rg@x",
		"a+b=c\\d e@x":       "a\\x{2B}b\\x{3D}c\\x{5C}d\\x{20}e@x",
		"\u4e2d\U0001F600@x": "\\x{4E2D}\\x{1F600}@x",
		"bad\xff@x":          "bad\\x{FFFD}@x",
	} {
		if got := UTF8Addr(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestEncode(t *testing.T) {
	if got := Encode("a+b=c d\u00e9"); got != "a+2Bb+3Dc+20d+C3+A9" {
		t.Fatalf("got %q", got)
	}
}
