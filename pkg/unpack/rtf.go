package unpack

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "rtf", Types: []filetype.Type{filetype.RTF}, Walk: walkRTF})
}

// walkRTF yields the embedded objects of an RTF document: the hex data of
// every \objdata destination, decoded leniently (whitespace, stray
// characters and control words between the digits are skipped, \bin data
// is taken raw, as Word does), then unwrapped from its OLE1 header:
//
//   - a "Package" object yields the file it packages, named by that
//     file's name ("invoice.exe");
//   - any other class yields its native data as "object-N.<class>"
//     ("object-1.Word.Document.8", "object-2.Equation.3"); the Walker opens
//     it in turn (an OLE2 document, for example);
//   - data without a usable OLE1 header yields "object-N" from an OLE2
//     signature if one is found, else the decoded bytes.
func walkRTF(ctx context.Context, c *Container, yield func(Member) error) error {
	objs := rtfObjects(c.Data)
	for i, o := range objs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := yield(ole1Member(i+1, o)); err != nil {
			return err
		}
	}
	return nil
}

// rtfObjects tokenizes the document and returns the decoded bytes of each
// \objdata destination. Every step consumes input, so it ends.
func rtfObjects(d []byte) [][]byte {
	var (
		objs    [][]byte
		depth   int
		objAt   = -1 // group depth of the \objdata being collected, or -1
		cur     []byte
		nibble  byte
		hasHalf bool
	)
	finish := func() {
		objs = append(objs, cur)
		cur, hasHalf, objAt = nil, false, -1
	}
	for i := 0; i < len(d); {
		switch c := d[i]; {
		case c == '{':
			depth++
			i++
		case c == '}':
			if objAt >= 0 && depth <= objAt {
				finish()
			}
			if depth > 0 {
				depth--
			}
			i++
		case c == '\\':
			word, param, hasParam, next := rtfControl(d, i)
			i = next
			switch word {
			case "objdata":
				if objAt >= 0 {
					finish()
				}
				objAt = depth
			case "bin":
				n := 0
				if hasParam && param > 0 {
					n = int(min(param, int64(len(d)-i)))
				}
				if objAt >= 0 {
					cur = append(cur, d[i:i+n]...)
					hasHalf = false
				}
				i += n
			}
		default:
			if objAt >= 0 {
				if v, ok := hexValue(c); ok {
					if hasHalf {
						cur = append(cur, nibble<<4|v)
						hasHalf = false
					} else {
						nibble, hasHalf = v, true
					}
				}
			}
			i++
		}
	}
	if objAt >= 0 {
		finish() // an unclosed group: keep what was decoded
	}
	return objs
}

// rtfControl reads the control word or symbol at d[i] (a backslash) and
// returns it, its numeric parameter and where the next token starts.
// Control symbols are returned as their character ("'", "*", "\\").
func rtfControl(d []byte, i int) (word string, param int64, hasParam bool, next int) {
	j := i + 1
	if j >= len(d) {
		return "", 0, false, j
	}
	if !isASCIILetter(d[j]) {
		if d[j] == '\'' {
			return "'", 0, false, min(j+3, len(d)) // \'hh
		}
		return string(d[j]), 0, false, j + 1
	}
	k := j
	for k < len(d) && k-j < 32 && isASCIILetter(d[k]) {
		k++
	}
	word = string(d[j:k])
	p := k
	if p < len(d) && d[p] == '-' {
		p++
	}
	q := p
	for q < len(d) && q-p < 10 && d[q] >= '0' && d[q] <= '9' {
		q++
	}
	if q > p {
		param, _ = strconv.ParseInt(string(d[k:q]), 10, 64)
		hasParam = true
		k = q
	}
	if k < len(d) && d[k] == ' ' {
		k++ // the delimiting space belongs to the control word
	}
	return word, param, hasParam, k
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

var ole2Magic = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}

// ole1Member unwraps one embedded object (an OLE1 "EmbeddedObject": version,
// format id 2, class, topic and item names, native data size and data).
func ole1Member(n int, o []byte) Member {
	raw := func(anomaly string) Member {
		if i := bytes.Index(o, ole2Magic); i > 0 {
			o = o[i:]
		}
		return Member{Name: fmt.Sprintf("object-%d", n), Size: int64(len(o)), Packed: -1, Data: o, Anomaly: anomaly}
	}
	cur := tnefCursor{d: o}
	_, ok1 := cur.u32()
	format, ok2 := cur.u32()
	if !ok1 || !ok2 || format != 2 {
		return raw("")
	}
	var class string
	for k := 0; k < 3; k++ { // class, topic, item
		l, ok := cur.u32()
		if !ok || l > 1024 {
			return raw("")
		}
		s, ok := cur.bytes(int64(l))
		if !ok {
			return raw("")
		}
		if k == 0 {
			class = cString(s)
		}
	}
	size, ok := cur.u32()
	if !ok {
		return raw("")
	}
	native := o[cur.pos:]
	anomaly := ""
	if int64(size) < int64(len(native)) {
		native = native[:size]
	} else if int64(size) > int64(len(native)) {
		anomaly = fmt.Sprintf("embedded object truncated: %d of %d bytes", len(native), size)
	}
	if strings.EqualFold(class, "Package") {
		if name, data, ok := olePackage(native); ok {
			return Member{Name: name, Size: int64(len(data)), Packed: -1, Data: data, Anomaly: anomaly}
		}
	}
	name := fmt.Sprintf("object-%d", n)
	if cls := strings.Map(func(r rune) rune {
		if r <= ' ' || r == '/' || r == '\\' || r > 0x7e {
			return '_'
		}
		return r
	}, class); cls != "" {
		name += "." + cls
	}
	return Member{Name: name, Size: int64(len(native)), Packed: -1, Data: native, Anomaly: anomaly}
}

// olePackage reads the native data of a Packager object: a 16-bit
// signature, the label and original path (NUL-terminated), a 32-bit type,
// the temporary path (32-bit length), then the file's size and bytes.
func olePackage(d []byte) (string, []byte, bool) {
	cur := tnefCursor{d: d}
	if !cur.skip(2) {
		return "", nil, false
	}
	cstr := func() (string, bool) {
		rest := d[cur.pos:]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return "", false
		}
		cur.pos += int64(i) + 1
		return string(rest[:i]), true
	}
	label, ok1 := cstr()
	orig, ok2 := cstr()
	if !ok1 || !ok2 || !cur.skip(4) {
		return "", nil, false
	}
	plen, ok := cur.u32()
	if !ok || !cur.skip(int64(plen)) {
		return "", nil, false
	}
	size, ok := cur.u32()
	if !ok {
		return "", nil, false
	}
	data := d[cur.pos:]
	if int64(size) < int64(len(data)) {
		data = data[:size]
	}
	name := label
	if name == "" {
		name = orig
	}
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" {
		name = "package"
	}
	return name, data, true
}
