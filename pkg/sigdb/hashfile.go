package sigdb

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"ave/pkg/hashsig"
)

// maxSigLine is the longest line the signature-file parsers accept. ClamAV
// body signatures can be long; anything beyond this is reported as an error
// rather than cut.
const maxSigLine = 1 << 20

// sigLineReader yields the meaningful lines of a signature file: it strips
// a UTF-8 byte order mark on the first line, CR/LF line ends and trailing
// blanks, and skips blank lines and lines whose first non-blank character
// is '#'.
type sigLineReader struct {
	sc   *bufio.Scanner
	file string
	line int
}

func newSigLineReader(r io.Reader, file string) *sigLineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxSigLine)
	return &sigLineReader{sc: sc, file: file}
}

// next returns the next meaningful line. At the end of input it returns
// ok == false and the read error, if any.
func (lr *sigLineReader) next() (text string, ok bool, err error) {
	for lr.sc.Scan() {
		lr.line++
		b := lr.sc.Bytes()
		if lr.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		b = bytes.TrimRight(b, " \t\r")
		t := bytes.TrimSpace(b)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		return string(b), true, nil
	}
	if err := lr.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return "", false, fmt.Errorf("%s:%d: line longer than %d bytes", lr.file, lr.line+1, maxSigLine)
		}
		return "", false, fmt.Errorf("%s: %w", lr.file, err)
	}
	return "", false, nil
}

// errorf returns an error located at the current line.
func (lr *sigLineReader) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", lr.file, lr.line, fmt.Sprintf(format, args...))
}

// isDecimal reports whether s is a non-empty string of ASCII digits.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// splitFields splits s at ':' into at most cap(dst)-1 fields without
// allocating; a line with more fields gets one extra element so the caller
// can report it.
func splitFields(s string, dst []string) []string {
	for len(dst) < cap(dst)-1 {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
	return append(dst, s)
}

// ParseHashFile reads ClamAV hash signatures and adds them to b. It handles
// .hdb and .fp files (MD5 only) and .hsb and .sfp files (MD5, SHA-1 or
// SHA-256, told apart by the length of the hex digest); the extension of
// file decides whether only MD5 is allowed. file is also used in error
// messages.
//
// A line is hash:size:name[:minflevel[:maxflevel]]. size is a positive
// decimal number or "*" for any size. The functionality levels must be
// decimal numbers if present; they are checked but otherwise ignored. Blank
// lines and lines starting with '#' are skipped; lines may end in CRLF,
// and trailing blanks are ignored.
//
// Any other line is an error of the form "file:line: what is wrong"; no
// line is ever skipped silently. n is the number of signatures added to b,
// including those added before an error (the caller is expected to discard
// b when err != nil).
func ParseHashFile(r io.Reader, file string, b *hashsig.Builder) (n int, err error) {
	ext := strings.ToLower(filepath.Ext(file))
	md5Only := ext == ".hdb" || ext == ".fp"
	lr := newSigLineReader(r, file)
	var sum [32]byte
	for {
		text, ok, err := lr.next()
		if !ok {
			return n, err
		}
		var buf [6]string
		fields := splitFields(text, buf[:0])
		if len(fields) < 3 {
			return n, lr.errorf("want hash:size:name, got %d field(s)", len(fields))
		}
		if len(fields) > 5 {
			return n, lr.errorf("too many fields (%d, at most 5: hash:size:name:minflevel:maxflevel)", len(fields))
		}
		h, sz, name := fields[0], fields[1], fields[2]

		switch {
		case md5Only && len(h) != 32:
			return n, lr.errorf("hash has %d hex digits, want 32 (MD5) in a %s file", len(h), ext)
		case len(h) != 32 && len(h) != 40 && len(h) != 64:
			return n, lr.errorf("hash has %d hex digits, want 32 (MD5), 40 (SHA-1) or 64 (SHA-256)", len(h))
		}
		dl, err := hex.Decode(sum[:], []byte(h))
		if err != nil {
			return n, lr.errorf("bad hex digit in hash %q", h)
		}
		kind, _ := hashsig.KindOfSize(dl)

		size := hashsig.AnySize
		if sz != "*" {
			if !isDecimal(sz) {
				return n, lr.errorf("bad size %q: want a decimal number or *", sz)
			}
			v, err := strconv.ParseInt(sz, 10, 64)
			if err != nil || v <= 0 {
				return n, lr.errorf("bad size %q: want a positive number or *", sz)
			}
			size = v
		}

		if name == "" {
			return n, lr.errorf("missing signature name")
		}
		for i, f := range fields[3:] {
			if !isDecimal(f) {
				which := "minimum"
				if i == 1 {
					which = "maximum"
				}
				return n, lr.errorf("bad %s functionality level %q", which, f)
			}
		}

		b.Add(kind, sum[:dl], size, name)
		n++
	}
}
