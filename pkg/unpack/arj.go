package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "arj", Types: []filetype.Type{filetype.Arj}, Walk: walkArj})
}

// ARJ archives (Robert Jung's ARJ; layout from its technote, decoding after
// the public-domain UNARJ). Each header: 60 EA, basic header size (0 ends
// the archive, at most 2600), the basic header (first header size, versions,
// host, flags, method, file type, ..., sizes, CRC, name and comment as C
// strings), its CRC-32, then extended headers (size, data, CRC-32) until a
// zero size; a local header is followed by its compressed data. The first
// header is the archive's main header.
const (
	arjMaxHeader = 2600

	arjFlagGarbled = 0x01 // encrypted ("garbled") with a password
	arjFlagVolume  = 0x04 // continues in the next volume

	arjTypeBinary    = 0
	arjTypeText      = 1
	arjTypeDirectory = 3
)

type arjHeader struct {
	firstSize int
	flags     byte
	method    byte
	fileType  byte
	packed    uint32
	size      uint32
	crc       uint32
	name      string
	next      int // offset just after the header (extended headers included)
}

// walkArj yields every file of an ARJ archive. Stored and methods 1-4 are
// decoded; garbled (password-protected) files are PROTECTED members.
func walkArj(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	// The archive starts with its main header (self-extracting archives,
	// with the archive behind a DOS stub, are not searched).
	main, err := arjReadHeader(d, 0)
	if err != nil {
		return err
	}
	if main == nil {
		return nil // an empty archive
	}
	pos := main.next
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := arjReadHeader(d, pos)
		if err != nil {
			return err
		}
		if h == nil {
			return nil // end of archive
		}
		start := h.next
		end := int64(start) + int64(h.packed)
		truncated := end > int64(len(d))
		if truncated {
			end = int64(len(d))
		}
		body := d[start:end]
		if h.fileType == arjTypeBinary || h.fileType == arjTypeText {
			m := Member{Name: strings.ReplaceAll(h.name, "\\", "/"), Size: int64(h.size), Packed: int64(h.packed)}
			hh := *h
			switch {
			case h.flags&arjFlagGarbled != 0:
				m.Encrypted = true
			case h.method > 4:
				m.Open = func() (io.Reader, error) {
					return nil, fmt.Errorf("%w: arj: unknown method %d", ErrCorrupt, hh.method)
				}
			default:
				m.Open = func() (io.Reader, error) { return newArjReader(&hh, body, truncated), nil }
			}
			if err := yield(m); err != nil {
				return err
			}
		}
		if truncated {
			return fmt.Errorf("%w: %q truncated (%d of %d bytes)", ErrCorrupt, h.name, len(body), h.packed)
		}
		pos = int(end)
	}
}

// arjReadHeader reads the header at pos; nil with no error is the end
// marker.
func arjReadHeader(d []byte, pos int) (*arjHeader, error) {
	if pos+4 > len(d) {
		return nil, fmt.Errorf("%w: header at %d truncated", ErrCorrupt, pos)
	}
	if d[pos] != 0x60 || d[pos+1] != 0xea {
		return nil, fmt.Errorf("%w: no header at %d", ErrCorrupt, pos)
	}
	size := int(binary.LittleEndian.Uint16(d[pos+2:]))
	if size == 0 {
		return nil, nil
	}
	if size > arjMaxHeader || size < 30 {
		return nil, fmt.Errorf("%w: header of %d bytes at %d", ErrCorrupt, size, pos)
	}
	if pos+4+size+4 > len(d) {
		return nil, fmt.Errorf("%w: header at %d truncated", ErrCorrupt, pos)
	}
	b := d[pos+4 : pos+4+size]
	if crc32.ChecksumIEEE(b) != binary.LittleEndian.Uint32(d[pos+4+size:]) {
		return nil, fmt.Errorf("%w: header checksum mismatch at %d", ErrCorrupt, pos)
	}
	h := &arjHeader{
		firstSize: int(b[0]),
		flags:     b[4],
		method:    b[5],
		fileType:  b[6],
		packed:    binary.LittleEndian.Uint32(b[12:]),
		size:      binary.LittleEndian.Uint32(b[16:]),
		crc:       binary.LittleEndian.Uint32(b[20:]),
	}
	if h.firstSize < 30 || h.firstSize > size {
		return nil, fmt.Errorf("%w: first header size %d at %d", ErrCorrupt, h.firstSize, pos)
	}
	name := b[h.firstSize:]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	h.name = string(name)
	p := pos + 4 + size + 4
	// Extended headers: size, data, CRC-32, until a zero size.
	for {
		if p+2 > len(d) {
			return nil, fmt.Errorf("%w: extended header at %d truncated", ErrCorrupt, p)
		}
		n := int(binary.LittleEndian.Uint16(d[p:]))
		p += 2
		if n == 0 {
			break
		}
		if p+n+4 > len(d) {
			return nil, fmt.Errorf("%w: extended header at %d truncated", ErrCorrupt, p)
		}
		p += n + 4
	}
	h.next = p
	return h, nil
}

// ARJ methods 1-3 (LZ77 with a 26 KiB window and static Huffman blocks, as
// LHA's -lh5-/-lh6-) and method 4 (LZ77 with unary-prefixed lengths and
// distances, no Huffman).
const (
	arjDicSize   = 26624
	arjThreshold = 3
	arjNC        = 255 + 256 + 2 - arjThreshold // literals and lengths
	arjNP        = 16 + 1                       // position codes (DICBIT+1)
	arjNT        = 16 + 3                       // code-length codes
	arjCBit      = 9
	arjPBit      = 5
	arjTBit      = 5
)

var errArjEOF = fmt.Errorf("%w: arj: %v", ErrCorrupt, io.ErrUnexpectedEOF)

// arjBits reads bits from the most significant end of each byte. Reading
// past the end yields zeros (as UNARJ does) but is counted: more than a
// few bytes' worth is an error, so no decoding loop outlives its input.
type arjBits struct {
	in   []byte
	pos  int
	bit  uint // bits already used of in[pos]
	over int  // bits read past the end
}

func (b *arjBits) get(n uint) (uint32, error) {
	var v uint32
	for ; n > 0; n-- {
		v <<= 1
		if b.pos < len(b.in) {
			v |= uint32(b.in[b.pos]>>(7-b.bit)) & 1
			if b.bit++; b.bit == 8 {
				b.bit = 0
				b.pos++
			}
		} else if b.over++; b.over > 64 {
			return 0, errArjEOF
		}
	}
	return v, nil
}

// peek returns the next n bits without consuming them.
func (b *arjBits) peek(n uint) uint32 {
	save := *b
	v, _ := b.get(n)
	*b = save
	return v
}

// arjHuff is a canonical Huffman code (codes assigned by increasing
// length, then increasing symbol, as LHA's make_table does).
type arjHuff struct {
	count  [17]uint16
	symbol []uint16
	single int // >= 0: the code has one symbol and takes no bits
}

func (h *arjHuff) build(lens []uint8) error {
	h.single = -1
	h.count = [17]uint16{}
	for _, l := range lens {
		if l > 16 {
			return fmt.Errorf("%w: arj: code length %d", ErrCorrupt, l)
		}
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l <= 16; l++ {
		left <<= 1
		left -= int(h.count[l])
		if left < 0 {
			return fmt.Errorf("%w: arj: bad Huffman table", ErrCorrupt)
		}
	}
	var offs [17]uint16
	for l := 1; l < 16; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	h.symbol = h.symbol[:0]
	h.symbol = append(h.symbol, make([]uint16, len(lens))...)
	for s, l := range lens {
		if l != 0 {
			h.symbol[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	return nil
}

func (h *arjHuff) decode(b *arjBits) (int, error) {
	if h.single >= 0 {
		return h.single, nil
	}
	code, first, index := 0, 0, 0
	for l := 1; l <= 16; l++ {
		bit, err := b.get(1)
		if err != nil {
			return 0, err
		}
		code |= int(bit)
		n := int(h.count[l])
		if code-first < n {
			return int(h.symbol[index+code-first]), nil
		}
		index += n
		first = (first + n) << 1
		code <<= 1
	}
	return 0, fmt.Errorf("%w: arj: invalid Huffman code", ErrCorrupt)
}

// arjReader decodes one member.
type arjReader struct {
	h         *arjHeader
	bits      arjBits
	raw       []byte // method 0: the stored bytes still to return
	truncated bool

	win   []byte // the window: the last arjDicSize bytes of output
	wpos  int
	total int64 // bytes produced
	left  int64 // bytes still to produce
	crc   uint32

	copyDist, copyN int // pending match

	blockLeft int
	tCode     arjHuff
	cCode     arjHuff
	pCode     arjHuff
	err       error
}

func newArjReader(h *arjHeader, body []byte, truncated bool) *arjReader {
	r := &arjReader{h: h, bits: arjBits{in: body}, raw: body, truncated: truncated, left: int64(h.size)}
	if h.method != 0 {
		r.win = make([]byte, arjDicSize)
	}
	return r
}

func (r *arjReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n := 0
	var err error
	if r.h.method == 0 {
		n = copy(p, r.raw[:min(int64(len(r.raw)), r.left)])
		r.raw = r.raw[n:]
		r.left -= int64(n)
		r.crc = crc32.Update(r.crc, crc32.IEEETable, p[:n])
		if r.left > 0 && len(r.raw) == 0 {
			err = errArjEOF
		}
	} else {
		n, err = r.decode(p)
		r.crc = crc32.Update(r.crc, crc32.IEEETable, p[:n])
	}
	if err == nil && r.left == 0 {
		err = io.EOF
		if r.crc != r.h.crc {
			err = fmt.Errorf("%w: arj: checksum mismatch", ErrCorrupt)
		}
	}
	if err != nil {
		if r.truncated && !errors.Is(err, io.EOF) {
			err = errArjEOF
		}
		r.err = err
		if n > 0 {
			return n, nil
		}
	}
	return n, err
}

func (r *arjReader) out(p []byte, n int, c byte) int {
	p[n] = c
	r.win[r.wpos] = c
	if r.wpos++; r.wpos == arjDicSize {
		r.wpos = 0
	}
	r.total++
	r.left--
	return n + 1
}

// decode produces bytes into p until it is full or the member ends.
func (r *arjReader) decode(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.left > 0 {
		if r.copyN > 0 {
			at := r.wpos - r.copyDist
			if at < 0 {
				at += arjDicSize
			}
			n = r.out(p, n, r.win[at])
			r.copyN--
			continue
		}
		var length, dist int
		var err error
		if r.h.method == 4 {
			length, dist, err = r.fastItem()
		} else {
			length, dist, err = r.huffItem()
		}
		if err != nil {
			return n, err
		}
		if length < 0 {
			n = r.out(p, n, byte(dist))
			continue
		}
		if int64(dist) > r.total || dist > arjDicSize {
			return n, fmt.Errorf("%w: arj: match distance %d beyond the output", ErrCorrupt, dist)
		}
		r.copyDist, r.copyN = dist, length
	}
	return n, nil
}

// huffItem decodes one literal (length -1, the byte in dist) or match
// (length, distance) of methods 1-3.
func (r *arjReader) huffItem() (int, int, error) {
	b := &r.bits
	if r.blockLeft == 0 {
		v, err := b.get(16)
		if err != nil {
			return 0, 0, err
		}
		r.blockLeft = int(v)
		if r.blockLeft == 0 {
			r.blockLeft = 1 << 16 // UNARJ's 16-bit counter wraps
		}
		if err := r.readPtLen(&r.tCode, arjNT, arjTBit, 3); err != nil {
			return 0, 0, err
		}
		if err := r.readCLen(); err != nil {
			return 0, 0, err
		}
		if err := r.readPtLen(&r.pCode, arjNP, arjPBit, -1); err != nil {
			return 0, 0, err
		}
	}
	r.blockLeft--
	c, err := r.cCode.decode(b)
	if err != nil {
		return 0, 0, err
	}
	if c <= 255 {
		return -1, c, nil
	}
	length := c - (256 - arjThreshold)
	j, err := r.pCode.decode(b)
	if err != nil {
		return 0, 0, err
	}
	if j != 0 {
		j--
		v, err := b.get(uint(j))
		if err != nil {
			return 0, 0, err
		}
		j = 1<<j + int(v)
	}
	return length, j + 1, nil
}

// readPtLen reads the lengths of the code-length code (nn = NT) or the
// position code (nn = NP); special is the index after which a 2-bit count
// of zero lengths follows.
func (r *arjReader) readPtLen(h *arjHuff, nn int, nbit uint, special int) error {
	b := &r.bits
	v, err := b.get(nbit)
	if err != nil {
		return err
	}
	n := int(v)
	if n == 0 {
		c, err := b.get(nbit)
		if err != nil {
			return err
		}
		if int(c) >= nn {
			return fmt.Errorf("%w: arj: bad table symbol %d", ErrCorrupt, c)
		}
		h.single = int(c)
		return nil
	}
	if n > nn {
		return fmt.Errorf("%w: arj: %d code lengths for %d symbols", ErrCorrupt, n, nn)
	}
	lens := make([]uint8, nn)
	for i := 0; i < n; {
		c := int(b.peek(3))
		if c == 7 {
			// 7 and then one more for every 1 bit.
			mask := uint32(1) << 12
			bits := b.peek(16)
			for mask&bits != 0 {
				mask >>= 1
				c++
			}
			if c > 16 {
				return fmt.Errorf("%w: arj: code length %d", ErrCorrupt, c)
			}
			if _, err := b.get(uint(c - 3)); err != nil {
				return err
			}
		} else if _, err := b.get(3); err != nil {
			return err
		}
		lens[i] = uint8(c)
		i++
		if i == special {
			z, err := b.get(2)
			if err != nil {
				return err
			}
			for ; z > 0 && i < nn; z-- {
				lens[i] = 0
				i++
			}
		}
	}
	return h.build(lens)
}

func (r *arjReader) readCLen() error {
	b := &r.bits
	v, err := b.get(arjCBit)
	if err != nil {
		return err
	}
	n := int(v)
	if n == 0 {
		c, err := b.get(arjCBit)
		if err != nil {
			return err
		}
		if int(c) >= arjNC {
			return fmt.Errorf("%w: arj: bad table symbol %d", ErrCorrupt, c)
		}
		r.cCode.single = int(c)
		return nil
	}
	if n > arjNC {
		return fmt.Errorf("%w: arj: %d code lengths for %d symbols", ErrCorrupt, n, arjNC)
	}
	lens := make([]uint8, arjNC)
	for i := 0; i < n; {
		c, err := r.tCode.decode(b)
		if err != nil {
			return err
		}
		if c > 2 {
			lens[i] = uint8(c - 2)
			i++
			continue
		}
		zeros := 1
		switch c {
		case 1:
			z, err := b.get(4)
			if err != nil {
				return err
			}
			zeros = int(z) + 3
		case 2:
			z, err := b.get(arjCBit)
			if err != nil {
				return err
			}
			zeros = int(z) + 20
		}
		for ; zeros > 0 && i < arjNC; zeros-- {
			lens[i] = 0
			i++
		}
	}
	return r.cCode.build(lens)
}

// fastItem decodes one item of method 4: a unary-prefixed length (0 is a
// literal of 8 bits), then a unary-prefixed distance.
func (r *arjReader) fastItem() (int, int, error) {
	b := &r.bits
	c, err := arjUnary(b, 0, 7)
	if err != nil {
		return 0, 0, err
	}
	if c == 0 {
		v, err := b.get(8)
		return -1, int(v), err
	}
	length := c - 1 + arjThreshold
	dist, err := arjUnary(b, 9, 13)
	if err != nil {
		return 0, 0, err
	}
	return length, dist + 1, nil
}

// arjUnary reads ARJ method 4's variable-width number: up to stop-start
// 1 bits (each adds a power of two from 2^start), a 0 bit unless all were
// 1, then width bits.
func arjUnary(b *arjBits, start, stop uint) (int, error) {
	plus, pwr := 0, 1<<start
	width := start
	for ; width < stop; width++ {
		bit, err := b.get(1)
		if err != nil {
			return 0, err
		}
		if bit == 0 {
			break
		}
		plus += pwr
		pwr <<= 1
	}
	v := uint32(0)
	if width != 0 {
		var err error
		if v, err = b.get(width); err != nil {
			return 0, err
		}
	}
	return int(v) + plus, nil
}
