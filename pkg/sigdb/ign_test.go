package sigdb

import (
	"slices"
	"strings"
	"testing"
)

func TestParseIgnore(t *testing.T) {
	tests := []struct {
		name, input string
		want        []string
	}{
		{"one name", "Eicar-Test-Signature\n", []string{"Eicar-Test-Signature"}},
		{"several names", "A\nB\nC\n", []string{"A", "B", "C"}},
		{"name with md5", "Win.Trojan.X:" + eicarMD5 + "\n", []string{"Win.Trojan.X"}},
		{"old db:line:name form", "main.ndb:1234:Win.Trojan.Y\n", []string{"Win.Trojan.Y"}},
		{"crlf", "A\r\nB\r\n", []string{"A", "B"}},
		{"comments and blanks", "# c\n\nA\n  \n#B\n", []string{"A"}},
		{"no final newline", "A\nB", []string{"A", "B"}},
		{"empty file", "", nil},
		{"byte order mark", "\xef\xbb\xbfA\n", []string{"A"}},
		{"long name", strings.Repeat("x", 70000) + "\n", []string{strings.Repeat("x", 70000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIgnore(strings.NewReader(tt.input), "a.ign2")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("names = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseIgnoreErrors(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"empty name before md5", ":" + eicarMD5, "empty signature name"},
		{"short md5", "A:abc", "MD5 after the name has 3 hex digits"},
		{"bad md5", "A:" + strings.Repeat("z", 32), "bad hex digit in MD5"},
		{"bad line number", "main.ndb:x:A", `bad line number "x"`},
		{"empty name in old form", "main.ndb:1:", "empty signature name"},
		{"too many fields", "a:b:c:d", "too many fields (4)"},
		{"line too long", strings.Repeat("x", maxSigLine+1), "line longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIgnore(strings.NewReader("First\n"+tt.line+"\nLast\n"), "x.ign2")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "x.ign2:2: ") {
				t.Errorf("error %q does not start with file:line", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !slices.Equal(got, []string{"First"}) {
				t.Errorf("names before the error = %q", got)
			}
		})
	}
}
