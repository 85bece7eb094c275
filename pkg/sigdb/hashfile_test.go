package sigdb

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"ave/pkg/hashsig"
)

var (
	eicar       = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
	eicarMD5    = hexSum(md5.New(), eicar)
	eicarSHA1   = hexSum(sha1.New(), eicar)
	eicarSHA256 = hexSum(sha256.New(), eicar)
)

func hexSum(h interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}, s string) string {
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

func TestParseHashFile(t *testing.T) {
	up := strings.ToUpper
	tests := []struct {
		name  string
		file  string
		input string
		n     int
		kind  hashsig.Kind
		size  int64 // size to look up with
		want  string
	}{
		{"hdb md5", "a.hdb", eicarMD5 + ":68:Eicar-Test-Signature\n", 1, hashsig.MD5, 68, "Eicar-Test-Signature"},
		{"hdb uppercase hex", "a.hdb", up(eicarMD5) + ":68:Eicar.Upper\n", 1, hashsig.MD5, 68, "Eicar.Upper"},
		{"hdb any size", "a.hdb", eicarMD5 + ":*:Eicar.Any:73\n", 1, hashsig.MD5, 68, "Eicar.Any"},
		{"hdb min flevel", "a.hdb", eicarMD5 + ":68:Eicar.FL:51\n", 1, hashsig.MD5, 68, "Eicar.FL"},
		{"hdb min and max flevel", "a.hdb", eicarMD5 + ":68:Eicar.FL2:51:255\n", 1, hashsig.MD5, 68, "Eicar.FL2"},
		{"hsb md5", "a.hsb", eicarMD5 + ":68:Eicar.MD5\n", 1, hashsig.MD5, 68, "Eicar.MD5"},
		{"hsb sha1", "a.hsb", eicarSHA1 + ":68:Eicar.SHA1\n", 1, hashsig.SHA1, 68, "Eicar.SHA1"},
		{"hsb sha256", "a.hsb", eicarSHA256 + ":68:Eicar.SHA256\n", 1, hashsig.SHA256, 68, "Eicar.SHA256"},
		{"hsb sha256 any size", "a.hsb", eicarSHA256 + ":*:Eicar.SHA256.Any\n", 1, hashsig.SHA256, 1000, "Eicar.SHA256.Any"},
		{"sfp sha1", "a.sfp", eicarSHA1 + ":68:Good.SHA1\n", 1, hashsig.SHA1, 68, "Good.SHA1"},
		{"fp md5", "a.fp", eicarMD5 + ":68:Good.MD5\n", 1, hashsig.MD5, 68, "Good.MD5"},
		{"crlf", "a.hdb", eicarMD5 + ":68:Eicar.CRLF\r\n", 1, hashsig.MD5, 68, "Eicar.CRLF"},
		{"no final newline", "a.hdb", eicarMD5 + ":68:Eicar.NoNL", 1, hashsig.MD5, 68, "Eicar.NoNL"},
		{"comments and blank lines", "a.hsb", "# a comment\n\n   \r\n\t# another\n" + eicarSHA1 + ":68:Eicar.C\n\n", 1, hashsig.SHA1, 68, "Eicar.C"},
		{"byte order mark", "a.hdb", "\xef\xbb\xbf" + eicarMD5 + ":68:Eicar.BOM\n", 1, hashsig.MD5, 68, "Eicar.BOM"},
		{"several lines", "a.hsb", eicarMD5 + ":68:A\n" + eicarSHA1 + ":68:B\n" + eicarSHA256 + ":68:C\n", 3, hashsig.SHA1, 68, "B"},
		{"name with spaces and dots", "a.hdb", eicarMD5 + ":68:Some Name.with-stuff_1\n", 1, hashsig.MD5, 68, "Some Name.with-stuff_1"},
		{"64 KiB name", "a.hdb", eicarMD5 + ":68:" + strings.Repeat("N", 64*1024) + "\n", 1, hashsig.MD5, 68, strings.Repeat("N", 64*1024)},
		{"size mismatch does not match", "a.hdb", eicarMD5 + ":69:Eicar.69\n", 1, hashsig.MD5, 68, ""},
		{"empty file", "a.hdb", "", 0, hashsig.MD5, 68, ""},
		{"only comments", "a.hdb", "# nothing\n", 0, hashsig.MD5, 68, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b hashsig.Builder
			n, err := ParseHashFile(strings.NewReader(tt.input), tt.file, &b)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.n {
				t.Errorf("n = %d, want %d", n, tt.n)
			}
			s := b.Build()
			if s.Len() != tt.n {
				t.Errorf("set Len = %d, want %d", s.Len(), tt.n)
			}
			var sum string
			switch tt.kind {
			case hashsig.MD5:
				sum = eicarMD5
			case hashsig.SHA1:
				sum = eicarSHA1
			case hashsig.SHA256:
				sum = eicarSHA256
			}
			raw, _ := hex.DecodeString(sum)
			got, ok := s.Lookup(tt.kind, raw, tt.size)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Lookup = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestParseHashFileErrors(t *testing.T) {
	tests := []struct {
		name, file, line, want string
	}{
		{"one field", "x.hdb", eicarMD5, "want hash:size:name, got 1 field(s)"},
		{"two fields", "x.hdb", eicarMD5 + ":68", "got 2 field(s)"},
		{"too many fields", "x.hsb", eicarMD5 + ":68:N:1:2:3", "too many fields"},
		{"missing name", "x.hdb", eicarMD5 + ":68:", "missing signature name"},
		{"bad hex", "x.hdb", "g" + eicarMD5[1:] + ":68:N", "bad hex digit"},
		{"short hash", "x.hsb", eicarMD5[:31] + ":68:N", "hash has 31 hex digits"},
		{"long hash", "x.hsb", eicarMD5 + "0:68:N", "hash has 33 hex digits"},
		{"sha1 in hdb", "x.hdb", eicarSHA1 + ":68:N", "want 32 (MD5) in a .hdb file"},
		{"sha256 in fp", "x.fp", eicarSHA256 + ":68:N", "want 32 (MD5) in a .fp file"},
		{"empty hash", "x.hsb", ":68:N", "hash has 0 hex digits"},
		{"bad size", "x.hdb", eicarMD5 + ":6x:N", `bad size "6x"`},
		{"negative size", "x.hdb", eicarMD5 + ":-1:N", `bad size "-1"`},
		{"plus size", "x.hdb", eicarMD5 + ":+5:N", `bad size "+5"`},
		{"zero size", "x.hdb", eicarMD5 + ":0:N", `bad size "0"`},
		{"empty size", "x.hdb", eicarMD5 + "::N", `bad size ""`},
		{"size overflow", "x.hdb", eicarMD5 + ":99999999999999999999:N", "bad size"},
		{"bad min flevel", "x.hsb", eicarMD5 + ":68:N:x", "bad minimum functionality level"},
		{"bad max flevel", "x.hsb", eicarMD5 + ":68:N:51:", "bad maximum functionality level"},
		{"line too long", "x.hdb", eicarMD5 + ":68:" + strings.Repeat("N", maxSigLine), "line longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := "# header\n" + eicarMD5 + ":68:Ok\n" + tt.line + "\n" + eicarMD5 + ":68:After\n"
			var b hashsig.Builder
			n, err := ParseHashFile(strings.NewReader(input), "db/"+tt.file, &b)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "db/"+tt.file+":3: ") {
				t.Errorf("error %q does not start with file:line", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if n != 1 {
				t.Errorf("n = %d, want 1 (the line before the error)", n)
			}
		})
	}
}
