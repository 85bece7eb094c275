package unpack

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "uuencode", Types: []filetype.Type{filetype.UUE}, Walk: walkUUE})
}

// walkUUE yields every uuencoded file in a text object, named by its
// "begin NNN name" line, and every base64 file of sharutils' "uuencode -m"
// ("begin-base64 NNN name", base64 lines, a "====" line). The text around the files is not a member: the
// Walker has already inspected the whole object. A file without its "end"
// line yields what was decoded, and the walk then reports the object
// CORRUPTED once every file has been yielded.
//
// Decoding is lenient: a data line ends at its first character outside the
// uuencode range (0x20-0x60), lines whose trailing blanks were stripped by
// a mail system are padded back, and a line's length character decides how
// many decoded bytes are kept. The first line that is not data ends a file.
func walkUUE(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	var problems []string
	files := 0
	for pos := 0; pos < len(d); {
		if err := ctx.Err(); err != nil {
			return err
		}
		next := txtLineEnd(d, pos)
		line := txtTrimEOL(d[pos:next])
		pos = next
		name, b64, ok := uuBeginLine(line)
		if !ok {
			continue
		}
		files++
		var out []byte
		var dec uuBase64
		ended := false
		endLine, isData := []byte("end"), uuDataLine
		if b64 {
			endLine, isData = []byte("===="), uuBase64Line
		}
		for pos < len(d) {
			next := txtLineEnd(d, pos)
			line := txtTrimEOL(d[pos:next])
			if bytes.Equal(bytes.TrimRight(line, " \t"), endLine) {
				pos, ended = next, true
				break
			}
			if _, _, again := uuBeginLine(line); again || !isData(line) {
				break
			}
			if b64 {
				out = dec.decode(out, line)
			} else {
				out = uuDecodeLine(out, line)
			}
			pos = next
		}
		if !ended {
			problems = append(problems, fmt.Sprintf("%q has no %s line", name, endLine))
		}
		if err := yield(Member{Name: name, Size: int64(len(out)), Packed: -1, Data: out}); err != nil {
			return err
		}
	}
	if files == 0 {
		return fmt.Errorf("%w: no begin line", ErrCorrupt)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// uuBeginLine parses "begin NNN name" or "begin-base64 NNN name" (NNN
// three or four octal digits) and returns the name and whether the file is
// base64.
func uuBeginLine(line []byte) (name string, b64, ok bool) {
	rest, ok := bytes.CutPrefix(line, []byte("begin "))
	if !ok {
		if rest, ok = bytes.CutPrefix(line, []byte("begin-base64 ")); !ok {
			return "", false, false
		}
		b64 = true
	}
	n := 0
	for n < len(rest) && n < 4 && rest[n] >= '0' && rest[n] <= '7' {
		n++
	}
	if n < 3 || len(rest) <= n || rest[n] != ' ' {
		return "", false, false
	}
	name = strings.TrimSpace(string(rest[n+1:]))
	if name == "" {
		return "", false, false
	}
	return name, b64, true
}

// uuBase64Line reports whether a line can be base64 data: not empty and
// only base64 characters, padding and blanks.
func uuBase64Line(line []byte) bool {
	if len(bytes.TrimSpace(line)) == 0 {
		return false
	}
	for _, c := range line {
		if uuBase64Value(c) < 0 && c != '=' && c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func uuBase64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

// uuBase64 decodes base64 leniently across lines: blanks are skipped, and
// "=" ends a group (its leftover bits are dropped), so lines that are not
// multiples of four characters still decode to what they hold.
type uuBase64 struct {
	acc   uint32
	nbits uint
}

func (u *uuBase64) decode(out, line []byte) []byte {
	for _, c := range line {
		v := uuBase64Value(c)
		if v < 0 {
			if c == '=' {
				u.acc, u.nbits = 0, 0
			}
			continue
		}
		u.acc = u.acc<<6 | uint32(v)
		u.nbits += 6
		if u.nbits >= 8 {
			u.nbits -= 8
			out = append(out, byte(u.acc>>u.nbits))
			u.acc &= 1<<u.nbits - 1
		}
	}
	return out
}

// uuDataLine reports whether a line can be uuencoded data: not empty and
// only characters of the uuencode range. (An empty line is not data: it is
// where inline files usually end when the "end" line is missing.)
func uuDataLine(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	for _, c := range line {
		if c < 0x20 || c > 0x60 {
			return false
		}
	}
	return true
}

// uuDecodeLine appends the bytes of one data line to out.
func uuDecodeLine(out, line []byte) []byte {
	n := int(line[0]-0x20) & 0x3f
	body := line[1:]
	for i := 0; n > 0; i += 4 {
		var q [4]byte
		for j := range q {
			if i+j < len(body) {
				q[j] = (body[i+j] - 0x20) & 0x3f
			}
		}
		b := [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2, q[2]<<6 | q[3]}
		k := min(n, 3)
		out = append(out, b[:k]...)
		n -= k
		if i >= len(body) {
			break // the rest of the line was stripped: padding decoded as zeros once
		}
	}
	return out
}

// txtLineEnd returns the index just past the line starting at pos.
func txtLineEnd(b []byte, pos int) int {
	if i := bytes.IndexByte(b[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(b)
}

// txtTrimEOL drops a line's "\n" or "\r\n".
func txtTrimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}
