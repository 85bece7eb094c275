package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "tnef", Types: []filetype.Type{filetype.TNEF}, Walk: walkTNEF})
}

// TNEF (MS-OXTNEF, "winmail.dat"): a signature, a 16-bit key, then
// attributes: level (1 message, 2 attachment), a 32-bit id whose low word
// names the attribute and high word gives its type, a 32-bit length, the
// data and a 16-bit checksum (the sum of the data bytes).
const tnefSignature = 0x223e9f78

// Attribute ids (low word).
const (
	tnefAttBody          = 0x800c
	tnefAttAttachData    = 0x800f
	tnefAttAttachTitle   = 0x8010
	tnefAttMAPIProps     = 0x9003
	tnefAttAttachRendata = 0x9002
	tnefAttAttachment    = 0x9005
)

// MAPI property ids and types used here.
const (
	mapiBody           = 0x1000
	mapiRTFCompressed  = 0x1009
	mapiHTML           = 0x1013
	mapiAttachDataBin  = 0x3701 // PR_ATTACH_DATA_BIN, or _OBJ when typed PT_OBJECT
	mapiAttachFilename = 0x3704
	mapiAttachLongName = 0x3707
	mapiDisplayName    = 0x3001

	ptString8 = 0x001e
	ptUnicode = 0x001f
	ptBinary  = 0x0102
	ptObject  = 0x000d
	ptMulti   = 0x1000
)

type tnefAttachment struct {
	title, long, short, display string
	data                        []byte
	object                      bool // PR_ATTACH_DATA_OBJ: an embedded message or storage
}

func (a *tnefAttachment) name(n int) string {
	for _, s := range []string{a.long, a.title, a.short, a.display} {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	if a.object {
		return fmt.Sprintf("object-%d", n)
	}
	return fmt.Sprintf("attachment-%d", n)
}

// walkTNEF yields the message body ("body.txt", "body.html", and
// "body.rtf" decompressed from PR_RTF_COMPRESSED) and every attachment, named by its
// long file name, title or display name ("attachment-N" otherwise).
// Attachments stored as objects (PR_ATTACH_DATA_OBJ: an embedded message,
// itself TNEF, or an OLE storage) are yielded without their 16-byte
// interface id, so the Walker opens them in turn. Bad checksums are
// reported as member anomalies; a truncated stream yields what it holds
// and is CORRUPTED.
func walkTNEF(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	if len(d) < 6 || binary.LittleEndian.Uint32(d) != tnefSignature {
		return fmt.Errorf("%w: no signature", ErrCorrupt)
	}
	var (
		atts     []*tnefAttachment
		cur      *tnefAttachment
		bodies   []Member
		problems []string
		badSum   int
	)
	addBody := func(name string, data []byte) {
		if len(data) > 0 {
			bodies = append(bodies, Member{Name: name, Size: int64(len(data)), Packed: -1, Data: data})
		}
	}
	pos := 6
	for pos < len(d) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(d)-pos < 9 {
			problems = append(problems, "truncated attribute header")
			break
		}
		level := d[pos]
		id := binary.LittleEndian.Uint32(d[pos+1:])
		n := binary.LittleEndian.Uint32(d[pos+5:])
		start := pos + 9
		if uint64(n)+2 > uint64(len(d)-start) {
			problems = append(problems, fmt.Sprintf("attribute 0x%08x truncated", id))
			// Keep what there is: a truncated attachment is still scanned.
			n = uint32(len(d) - start)
			pos = len(d)
		} else {
			pos = start + int(n) + 2
			var sum uint16
			for _, b := range d[start : start+int(n)] {
				sum += uint16(b)
			}
			if sum != binary.LittleEndian.Uint16(d[start+int(n):]) {
				badSum++
			}
		}
		data := d[start : start+int(n)]
		switch id & 0xffff {
		case tnefAttAttachRendata:
			cur = &tnefAttachment{}
			atts = append(atts, cur)
			continue
		case tnefAttBody:
			if level == 1 {
				addBody("body.txt", data)
			}
			continue
		}
		if level == 2 && cur == nil {
			cur = &tnefAttachment{}
			atts = append(atts, cur)
		}
		switch id & 0xffff {
		case tnefAttAttachTitle:
			if cur != nil {
				cur.title = cString(data)
			}
		case tnefAttAttachData:
			if cur != nil {
				cur.data = data
			}
		case tnefAttAttachment:
			if cur != nil {
				if err := tnefProps(data, func(id, typ uint16, v []byte) {
					switch {
					case id == mapiAttachLongName:
						cur.long = mapiString(typ, v)
					case id == mapiAttachFilename:
						cur.short = mapiString(typ, v)
					case id == mapiDisplayName:
						cur.display = mapiString(typ, v)
					case id == mapiAttachDataBin && typ == ptObject:
						cur.object = true
						if len(v) >= 16 {
							v = v[16:] // the interface id
						}
						cur.data = v
					case id == mapiAttachDataBin && cur.data == nil:
						cur.data = v
					}
				}); err != "" {
					problems = append(problems, "attachment properties: "+err)
				}
			}
		case tnefAttMAPIProps:
			if level == 1 {
				if err := tnefProps(data, func(id, typ uint16, v []byte) {
					switch id {
					case mapiBody:
						addBody("body.txt", v)
					case mapiHTML:
						addBody("body.html", v)
					case mapiRTFCompressed:
						if len(v) > 0 {
							v := v
							bodies = append(bodies, Member{Name: "body.rtf", Size: -1, Packed: int64(len(v)),
								Open: func() (io.Reader, error) { return newLZFu(v) }})
						}
					}
				}); err != "" {
					problems = append(problems, "message properties: "+err)
				}
			}
		}
	}
	for _, m := range bodies {
		if err := yield(m); err != nil {
			return err
		}
	}
	for i, a := range atts {
		if a.data == nil {
			continue
		}
		if err := yield(Member{Name: a.name(i + 1), Size: int64(len(a.data)), Packed: -1, Data: a.data}); err != nil {
			return err
		}
	}
	if badSum > 0 {
		problems = append(problems, fmt.Sprintf("%d attribute checksums do not match", badSum))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// tnefProps walks a MAPI property list and calls f with each value (each
// element of a multi-valued property). It returns a problem description,
// or "" when the list was read to its end.
func tnefProps(d []byte, f func(id, typ uint16, v []byte)) string {
	r := tnefCursor{d: d}
	count, ok := r.u32()
	if !ok {
		return "truncated"
	}
	for i := uint32(0); i < count; i++ {
		typ16, ok1 := r.u16()
		id, ok2 := r.u16()
		if !ok1 || !ok2 {
			return "truncated"
		}
		if id >= 0x8000 {
			// A named property: GUID, kind, then an id or a name.
			if !r.skip(16) {
				return "truncated"
			}
			kind, ok := r.u32()
			if !ok {
				return "truncated"
			}
			if kind == 0 {
				if !r.skip(4) {
					return "truncated"
				}
			} else {
				n, ok := r.u32()
				if !ok || !r.skip(pad4(int64(n))) {
					return "truncated"
				}
			}
		}
		multi := typ16&ptMulti != 0
		typ := typ16 &^ ptMulti
		values := uint32(1)
		switch typ {
		case ptString8, ptUnicode, ptBinary, ptObject:
			// Variable-length values always carry a count.
			n, ok := r.u32()
			if !ok {
				return "truncated"
			}
			values = n
		default:
			if multi {
				n, ok := r.u32()
				if !ok {
					return "truncated"
				}
				values = n
			}
		}
		for j := uint32(0); j < values; j++ {
			var v []byte
			switch typ {
			case ptString8, ptUnicode, ptBinary, ptObject:
				n, ok := r.u32()
				if !ok {
					return "truncated"
				}
				if v, ok = r.bytes(int64(n)); !ok {
					return "truncated"
				}
				r.skip(pad4(int64(n)) - int64(n))
			default:
				size := mapiFixedSize(typ)
				if size < 0 {
					return fmt.Sprintf("unknown property type 0x%04x", typ)
				}
				if v, ok = r.bytes(int64(size)); !ok {
					return "truncated"
				}
			}
			f(id, typ, v)
		}
	}
	return ""
}

// mapiFixedSize is the encoded size of a fixed-length MAPI value (short
// and boolean values are padded to four bytes), or -1.
func mapiFixedSize(typ uint16) int {
	switch typ {
	case 0x0001, 0x0002, 0x0003, 0x0004, 0x000a, 0x000b: // null, short, long, float, error, boolean
		return 4
	case 0x0005, 0x0006, 0x0007, 0x0014, 0x0040: // double, currency, apptime, int64, systime
		return 8
	case 0x0048: // CLSID
		return 16
	}
	return -1
}

func pad4(n int64) int64 { return (n + 3) &^ 3 }

type tnefCursor struct {
	d   []byte
	pos int64
}

func (c *tnefCursor) bytes(n int64) ([]byte, bool) {
	if n < 0 || n > int64(len(c.d))-c.pos {
		return nil, false
	}
	b := c.d[c.pos : c.pos+n]
	c.pos += n
	return b, true
}

func (c *tnefCursor) skip(n int64) bool { _, ok := c.bytes(n); return ok }

func (c *tnefCursor) u16() (uint16, bool) {
	b, ok := c.bytes(2)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b), true
}

func (c *tnefCursor) u32() (uint32, bool) {
	b, ok := c.bytes(4)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b), true
}

// mapiString decodes a string property: 8-bit strings as they are,
// Unicode ones from UTF-16LE; both end at their first NUL.
func mapiString(typ uint16, v []byte) string {
	if typ == ptUnicode {
		u := make([]uint16, 0, len(v)/2)
		for i := 0; i+1 < len(v); i += 2 {
			c := binary.LittleEndian.Uint16(v[i:])
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		return string(utf16.Decode(u))
	}
	return cString(v)
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// lzfuDictionary is the text the compressed-RTF dictionary starts with
// (MS-OXRTFCP 2.1.2.1): 207 bytes.
const lzfuDictionary = "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"

// newLZFu reads compressed RTF (MS-OXRTFCP): a 16-byte header (sizes,
// "LZFu" compressed or "MELA" stored, CRC), then control bytes whose bits,
// lowest first, mark a literal byte (0) or a 16-bit big-endian reference
// into a 4096-byte ring dictionary (12-bit offset, 4-bit length - 2). A
// reference to the current write position ends the stream. The CRC is
// not checked.
func newLZFu(b []byte) (io.Reader, error) {
	if len(b) < 16 {
		return nil, fmt.Errorf("%w: tnef: compressed RTF header truncated", ErrCorrupt)
	}
	switch string(b[8:12]) {
	case "MELA":
		return bytes.NewReader(b[16:]), nil
	case "LZFu":
	default:
		return nil, fmt.Errorf("%w: tnef: unknown compressed RTF type %q", ErrCorrupt, b[8:12])
	}
	z := &lzfuReader{src: b[16:], wpos: len(lzfuDictionary)}
	copy(z.dict[:], lzfuDictionary)
	return z, nil
}

type lzfuReader struct {
	src   []byte
	pos   int
	dict  [4096]byte
	wpos  int
	flags byte
	nflag int // bits of flags left
	done  bool
	out   []byte
}

func (z *lzfuReader) Read(p []byte) (int, error) {
	for len(z.out) == 0 {
		if z.done {
			return 0, io.EOF
		}
		z.step()
	}
	n := copy(p, z.out)
	z.out = z.out[n:]
	return n, nil
}

func (z *lzfuReader) put(c byte) {
	z.dict[z.wpos] = c
	z.wpos = (z.wpos + 1) & 4095
	z.out = append(z.out, c)
}

// step decodes one token.
func (z *lzfuReader) step() {
	z.out = z.out[:0]
	if z.nflag == 0 {
		if z.pos >= len(z.src) {
			z.done = true
			return
		}
		z.flags, z.nflag = z.src[z.pos], 8
		z.pos++
	}
	bit := z.flags & 1
	z.flags >>= 1
	z.nflag--
	if bit == 0 {
		if z.pos >= len(z.src) {
			z.done = true
			return
		}
		z.put(z.src[z.pos])
		z.pos++
		return
	}
	if z.pos+2 > len(z.src) {
		z.done = true
		return
	}
	ref := int(z.src[z.pos])<<8 | int(z.src[z.pos+1])
	z.pos += 2
	off, n := ref>>4, ref&15+2
	if off == z.wpos {
		z.done = true
		return
	}
	for i := 0; i < n; i++ {
		z.put(z.dict[(off+i)&4095])
	}
}
