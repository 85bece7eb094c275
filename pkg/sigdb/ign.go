package sigdb

import (
	"encoding/hex"
	"io"
	"strings"
)

// ParseIgnore reads a ClamAV ignore list (.ign2, or the older .ign) and
// returns the signature names it lists, in file order. file is used in
// error messages.
//
// A line is one of
//
//	name
//	name:md5          (.ign2; the MD5 must be 32 hex digits and is not used)
//	db:line:name      (old .ign; the line must be a number)
//
// Blank lines and lines starting with '#' are skipped; lines may end in
// CRLF, and trailing blanks are ignored. Anything else, and an empty name,
// is an error "file:line: ...".
func ParseIgnore(r io.Reader, file string) (names []string, err error) {
	lr := newSigLineReader(r, file)
	for {
		text, ok, err := lr.next()
		if !ok {
			return names, err
		}
		fields := strings.Split(text, ":")
		var name string
		switch len(fields) {
		case 1:
			name = fields[0]
		case 2:
			name = fields[0]
			if h := fields[1]; len(h) != 32 {
				return names, lr.errorf("MD5 after the name has %d hex digits, want 32", len(h))
			} else if _, err := hex.DecodeString(h); err != nil {
				return names, lr.errorf("bad hex digit in MD5 %q", h)
			}
		case 3:
			if !isDecimal(fields[1]) {
				return names, lr.errorf("bad line number %q in db:line:name", fields[1])
			}
			name = fields[2]
		default:
			return names, lr.errorf("too many fields (%d): want name, name:md5 or db:line:name", len(fields))
		}
		if strings.TrimSpace(name) == "" {
			return names, lr.errorf("empty signature name")
		}
		names = append(names, name)
	}
}
