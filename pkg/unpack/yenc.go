package unpack

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "yenc", Types: []filetype.Type{filetype.YEnc}, Walk: walkYEnc})
}

// walkYEnc yields every yEnc-encoded file of a text object, named by the
// name= of its "=ybegin" line. Consecutive parts of one multi-part file
// ("=ybegin part=N" with "=ypart") found in the same text are joined in the
// order they appear. A CRC-32 that does not match (crc32= of "=yend" for
// the whole file, or pcrc32= for the part) is recorded as the member's
// anomaly: it is reported CORRUPTED and still scanned. A file without its
// "=yend" line yields what was decoded and the object is CORRUPTED.
func walkYEnc(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	var problems []string
	type file struct {
		name    string
		data    []byte
		anomaly []string
	}
	var cur *file
	flush := func() error {
		if cur == nil {
			return nil
		}
		f := cur
		cur = nil
		return yield(Member{Name: f.name, Size: int64(len(f.data)), Packed: -1, Data: f.data, Anomaly: strings.Join(f.anomaly, "; ")})
	}
	found := false
	for pos := 0; pos < len(d); {
		if err := ctx.Err(); err != nil {
			return err
		}
		next := txtLineEnd(d, pos)
		line := txtTrimEOL(d[pos:next])
		pos = next
		if !bytes.HasPrefix(line, []byte("=ybegin ")) {
			continue
		}
		found = true
		attrs := yencAttrs(line[len("=ybegin "):])
		name := attrs["name"]
		part := attrs["part"] != ""
		if cur != nil && (!part || cur.name != name || attrs["part"] == "1") {
			if err := flush(); err != nil {
				return err
			}
		}
		if cur == nil {
			cur = &file{name: name}
		}
		partStart := len(cur.data)
		ended := false
		for pos < len(d) {
			next := txtLineEnd(d, pos)
			line := txtTrimEOL(d[pos:next])
			if bytes.HasPrefix(line, []byte("=ypart ")) {
				pos = next
				continue
			}
			if bytes.HasPrefix(line, []byte("=ybegin ")) {
				break
			}
			pos = next
			if bytes.HasPrefix(line, []byte("=yend")) {
				ended = true
				end := yencAttrs(line[len("=yend"):])
				if v := end["pcrc32"]; v != "" && !yencCRCMatches(v, cur.data[partStart:]) {
					cur.anomaly = append(cur.anomaly, "yEnc part CRC-32 mismatch")
				}
				// crc32= covers the whole file: of a multi-part file, only
				// check it once every part has been read.
				whole := !part || attrs["size"] == strconv.Itoa(len(cur.data))
				if v := end["crc32"]; v != "" && whole && !yencCRCMatches(v, cur.data) {
					cur.anomaly = append(cur.anomaly, "yEnc CRC-32 mismatch")
				}
				break
			}
			cur.data = yencDecodeLine(cur.data, line)
		}
		if !ended {
			problems = append(problems, fmt.Sprintf("%q has no =yend line", name))
		}
		if !part {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: no =ybegin line", ErrCorrupt)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// yencAttrs reads "key=value" pairs; name= takes the rest of the line, as
// file names may hold blanks.
func yencAttrs(b []byte) map[string]string {
	out := map[string]string{}
	s := string(b)
	for s != "" {
		s = strings.TrimLeft(s, " \t")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		key := strings.ToLower(s[:eq])
		s = s[eq+1:]
		if key == "name" {
			out[key] = strings.TrimSpace(s)
			break
		}
		sp := strings.IndexAny(s, " \t")
		if sp < 0 {
			sp = len(s)
		}
		out[key] = s[:sp]
		s = s[sp:]
	}
	return out
}

func yencCRCMatches(v string, data []byte) bool {
	want, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(v), "0x"), 16, 64)
	if err != nil {
		return true // an unreadable checksum is not a mismatch
	}
	return uint32(want) == crc32.ChecksumIEEE(data)
}

// yencDecodeLine appends one line's bytes: each byte is the character
// minus 42, "=" escapes the next character (minus a further 64).
func yencDecodeLine(out, line []byte) []byte {
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '=' {
			if i+1 >= len(line) {
				break
			}
			i++
			c = line[i] - 64
		}
		out = append(out, c-42)
	}
	return out
}
