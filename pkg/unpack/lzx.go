package unpack

import (
	"encoding/binary"
	"fmt"
	"io"
)

// LZX decoder for cabinet folders and CHM's LZXC section, written from the
// LZX format as Microsoft describes it ([MS-PATCH] LZX DELTA and the CAB
// LZX description). The compressed stream is a sequence of 16-bit
// little-endian words read most significant bit first. Output is produced
// in frames of 32 KiB; after each frame the bit stream is realigned to a
// 16-bit boundary, and the frame is then undone of its E8 call translation.
//
// The decoder only ever reads its input slice, never writes past the
// window, and stops with an error wrapping ErrCorrupt on anything it does
// not understand, so a damaged stream ends early and never loops.

const (
	lzxFrameSize     = 32768
	lzxNumChars      = 256
	lzxPretreeSize   = 20
	lzxLengthSize    = 249
	lzxAlignedSize   = 8
	lzxMinMatch      = 2
	lzxMaxCodeLen    = 16
	lzxFastBits      = 10
	lzxMaxMainSize   = lzxNumChars + 8*50
	lzxBlockVerbatim = 1
	lzxBlockAligned  = 2
	lzxBlockStored   = 3
	lzxE8MaxFrames   = 32768 // no translation past the first 1 GiB
)

// lzxExtraBits and lzxPositionBase give, per position slot, the number of
// footer bits and the smallest formatted offset of the slot.
var lzxExtraBits, lzxPositionBase [51]uint32

func init() {
	var base uint32
	for i := range lzxExtraBits {
		e := 0
		if i >= 4 {
			e = min((i-2)/2, 17)
		}
		lzxExtraBits[i] = uint32(e)
		lzxPositionBase[i] = base
		base += 1 << e
	}
}

// lzxPositionSlots is the number of position slots for a window of 2^bits.
func lzxPositionSlots(bits int) int {
	switch {
	case bits == 20:
		return 42
	case bits == 21:
		return 50
	default:
		return 2 * bits
	}
}

func lzxErr(format string, a ...any) error {
	return fmt.Errorf("%w: lzx: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

// lzxHuff is a canonical Huffman code: a table for codes of up to
// lzxFastBits bits and counts per length for the longer ones.
type lzxHuff struct {
	fast  [1 << lzxFastBits]uint16 // symbol<<5 | length, 0 when not in the table
	count [lzxMaxCodeLen + 1]uint16
	sym   []uint16 // symbols in canonical order
	empty bool
}

func (h *lzxHuff) build(lens []uint8) error {
	h.count = [lzxMaxCodeLen + 1]uint16{}
	h.fast = [1 << lzxFastBits]uint16{}
	for _, l := range lens {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	total := 0
	for l := 1; l <= lzxMaxCodeLen; l++ {
		left <<= 1
		left -= int(h.count[l])
		if left < 0 {
			return lzxErr("over-subscribed Huffman code")
		}
		total += int(h.count[l])
	}
	h.empty = total == 0
	var offs [lzxMaxCodeLen + 2]int
	for l := 1; l <= lzxMaxCodeLen; l++ {
		offs[l+1] = offs[l] + int(h.count[l])
	}
	h.sym = h.sym[:0]
	for range total {
		h.sym = append(h.sym, 0)
	}
	for s, l := range lens {
		if l != 0 {
			h.sym[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	// The fast table: walk symbols in canonical order assigning codes.
	code, idx := 0, 0
	for l := 1; l <= lzxFastBits; l++ {
		for range int(h.count[l]) {
			e := h.sym[idx]<<5 | uint16(l)
			start := code << (lzxFastBits - l)
			for j := range 1 << (lzxFastBits - l) {
				h.fast[start+j] = e
			}
			code++
			idx++
		}
		code <<= 1
	}
	return nil
}

// lzxDecoder holds the state that lives across frames.
type lzxDecoder struct {
	in     []byte
	ip     int
	bitbuf uint64
	nbits  uint
	pad    uint // zero words added past the end of the input

	win    []byte
	wmask  uint32
	wpos   uint32
	filled int64 // bytes written to the window since the decoder began
	slots  int

	r0, r1, r2 uint32
	mainLens   [lzxMaxMainSize]uint8
	lenLens    [lzxLengthSize]uint8
	main, leng lzxHuff
	aligned    lzxHuff
	pre        lzxHuff

	btype   int
	bremain int  // output bytes left in the current block
	bodd    bool // stored block of odd length: one padding byte follows

	headerRead bool
	e8size     int32 // 0: no E8 translation

	pending []byte // decoded bytes not yet handed out as a frame
}

// newLZX makes a decoder for a window of 2^bits bytes (15 to 21).
func newLZX(bits int, in []byte) (*lzxDecoder, error) {
	if bits < 15 || bits > 21 {
		return nil, lzxErr("window size 2^%d not supported", bits)
	}
	d := &lzxDecoder{in: in, win: make([]byte, 1<<bits), wmask: 1<<bits - 1, slots: lzxPositionSlots(bits)}
	d.reset()
	return d, nil
}

// reset puts the decoder back to the state of a stream's start (CHM does
// this at every reset interval); the window's contents are kept but may
// not be referred to.
func (d *lzxDecoder) reset() {
	d.r0, d.r1, d.r2 = 1, 1, 1
	d.mainLens = [lzxMaxMainSize]uint8{}
	d.lenLens = [lzxLengthSize]uint8{}
	d.btype = 0
	d.bremain = 0
	d.bodd = false
	d.headerRead = false
	d.e8size = 0
	d.filled = 0
}

// seek restarts reading the input at byte offset off (CHM reset points).
func (d *lzxDecoder) seek(off int) {
	d.ip = min(max(off, 0), len(d.in))
	d.bitbuf, d.nbits, d.pad = 0, 0, 0
	d.pending = d.pending[:0]
}

func (d *lzxDecoder) need(n uint) {
	for d.nbits < n {
		var w uint64
		switch {
		case d.ip+1 < len(d.in):
			w = uint64(binary.LittleEndian.Uint16(d.in[d.ip:]))
			d.ip += 2
		case d.ip < len(d.in):
			// A lone last byte would be the low half of a word, read
			// after its missing high half: the word counts as missing.
			d.ip++
			d.pad++
		default:
			d.pad++
		}
		d.bitbuf = d.bitbuf<<16 | w
		d.nbits += 16
	}
}

func (d *lzxDecoder) consume(n uint) error {
	d.nbits -= n
	d.bitbuf &= 1<<d.nbits - 1
	if d.nbits < 16*d.pad {
		return lzxErr("stream truncated: %v", io.ErrUnexpectedEOF)
	}
	return nil
}

func (d *lzxDecoder) bits(n uint) (uint32, error) {
	if n == 0 {
		return 0, nil
	}
	d.need(n)
	v := uint32(d.bitbuf >> (d.nbits - n))
	return v, d.consume(n)
}

// sym decodes one symbol of h.
func (d *lzxDecoder) sym(h *lzxHuff) (int, error) {
	if h.empty {
		return 0, lzxErr("symbol read from an empty Huffman code")
	}
	d.need(lzxMaxCodeLen)
	v := uint32(d.bitbuf >> (d.nbits - lzxMaxCodeLen))
	if e := h.fast[v>>(lzxMaxCodeLen-lzxFastBits)]; e != 0 {
		return int(e >> 5), d.consume(uint(e & 31))
	}
	code, first, idx := 0, 0, 0
	for l := 1; l <= lzxMaxCodeLen; l++ {
		code |= int(v>>(lzxMaxCodeLen-l)) & 1
		c := int(h.count[l])
		if code-first < c {
			return int(h.sym[idx+code-first]), d.consume(uint(l))
		}
		idx += c
		first = (first + c) << 1
		code <<= 1
	}
	return 0, lzxErr("invalid Huffman code")
}

// readLengths reads code lengths lens[first:last] as deltas against
// their previous values, through a pretree sent first.
func (d *lzxDecoder) readLengths(lens []uint8, first, last int) error {
	var pl [lzxPretreeSize]uint8
	for i := range pl {
		v, err := d.bits(4)
		if err != nil {
			return err
		}
		pl[i] = uint8(v)
	}
	if err := d.pre.build(pl[:]); err != nil {
		return err
	}
	for x := first; x < last; {
		z, err := d.sym(&d.pre)
		if err != nil {
			return err
		}
		run, val := 1, uint8(0)
		switch z {
		case 17:
			v, err := d.bits(4)
			if err != nil {
				return err
			}
			run = 4 + int(v)
		case 18:
			v, err := d.bits(5)
			if err != nil {
				return err
			}
			run = 20 + int(v)
		case 19:
			v, err := d.bits(1)
			if err != nil {
				return err
			}
			run = 4 + int(v)
			z, err = d.sym(&d.pre)
			if err != nil {
				return err
			}
			if z > 16 {
				return lzxErr("bad pretree run")
			}
			val = uint8((int(lens[x]) - z + 17) % 17)
		default:
			val = uint8((int(lens[x]) - z + 17) % 17)
		}
		for ; run > 0 && x < last; run-- { // a run past the end is cut
			lens[x] = val
			x++
		}
	}
	return nil
}

// blockHeader reads the next block's type, size and trees.
func (d *lzxDecoder) blockHeader() error {
	t, err := d.bits(3)
	if err != nil {
		return err
	}
	hi, err := d.bits(8)
	if err != nil {
		return err
	}
	lo, err := d.bits(16)
	if err != nil {
		return err
	}
	d.btype, d.bremain = int(t), int(hi<<16|lo)
	switch d.btype {
	case lzxBlockAligned:
		var al [lzxAlignedSize]uint8
		for i := range al {
			v, err := d.bits(3)
			if err != nil {
				return err
			}
			al[i] = uint8(v)
		}
		if err := d.aligned.build(al[:]); err != nil {
			return err
		}
		fallthrough
	case lzxBlockVerbatim:
		mainSize := lzxNumChars + 8*d.slots
		if err := d.readLengths(d.mainLens[:], 0, lzxNumChars); err != nil {
			return err
		}
		if err := d.readLengths(d.mainLens[:], lzxNumChars, mainSize); err != nil {
			return err
		}
		if err := d.main.build(d.mainLens[:mainSize]); err != nil {
			return err
		}
		if err := d.readLengths(d.lenLens[:], 0, lzxLengthSize); err != nil {
			return err
		}
		return d.leng.build(d.lenLens[:])
	case lzxBlockStored:
		// 1 to 16 bits of padding up to a 16-bit boundary, then bytes.
		if d.nbits&15 == 0 {
			d.need(16)
			if err := d.consume(16); err != nil {
				return err
			}
		} else if err := d.consume(d.nbits & 15); err != nil {
			return err
		}
		// Whole words already in the bit buffer are given back.
		back := int(d.nbits/16) - int(d.pad)
		d.ip = max(d.ip-2*max(back, 0), 0)
		d.bitbuf, d.nbits = 0, 0
		if d.pad > 0 || d.ip+12 > len(d.in) {
			return lzxErr("stored block truncated: %v", io.ErrUnexpectedEOF)
		}
		le := binary.LittleEndian
		d.r0, d.r1, d.r2 = le.Uint32(d.in[d.ip:]), le.Uint32(d.in[d.ip+4:]), le.Uint32(d.in[d.ip+8:])
		d.ip += 12
		d.bodd = d.bremain&1 == 1
		return nil
	default:
		return lzxErr("bad block type %d", d.btype)
	}
}

// put writes one byte to the window and to the pending output.
func (d *lzxDecoder) put(b byte) {
	d.win[d.wpos] = b
	d.wpos = (d.wpos + 1) & d.wmask
	d.filled++
	d.pending = append(d.pending, b)
}

// frame decodes the next n bytes (n <= lzxFrameSize) of output, at absolute
// position at, and returns them translated; the slice is valid until the
// next call.
func (d *lzxDecoder) frame(n int, at int64, out []byte) ([]byte, error) {
	if !d.headerRead {
		d.headerRead = true
		e8, err := d.bits(1)
		if err != nil {
			return nil, err
		}
		if e8 == 1 {
			hi, err := d.bits(16)
			if err != nil {
				return nil, err
			}
			lo, err := d.bits(16)
			if err != nil {
				return nil, err
			}
			d.e8size = int32(hi<<16 | lo)
		}
	}
	for len(d.pending) < n {
		if d.bremain == 0 {
			if err := d.blockHeader(); err != nil {
				return nil, err
			}
			continue
		}
		var err error
		if d.btype == lzxBlockStored {
			err = d.stored(n)
		} else {
			err = d.compressed(n)
		}
		if err != nil {
			return nil, err
		}
	}
	// Realign the bit stream at the end of the frame.
	if err := d.consume(d.nbits & 15); err != nil {
		return nil, err
	}
	out = append(out[:0], d.pending[:n]...)
	d.pending = append(d.pending[:0], d.pending[n:]...)
	d.untranslate(out, at)
	return out, nil
}

func (d *lzxDecoder) stored(n int) error {
	k := min(d.bremain, n-len(d.pending))
	avail := len(d.in) - d.ip
	short := k > avail
	if short {
		k = avail
	}
	for _, b := range d.in[d.ip : d.ip+k] {
		d.put(b)
	}
	d.ip += k
	d.bremain -= k
	if short {
		return lzxErr("stored block truncated: %v", io.ErrUnexpectedEOF)
	}
	if d.bremain == 0 && d.bodd && d.ip < len(d.in) {
		d.ip++
	}
	return nil
}

func (d *lzxDecoder) compressed(n int) error {
	for d.bremain > 0 && len(d.pending) < n {
		s, err := d.sym(&d.main)
		if err != nil {
			return err
		}
		if s < lzxNumChars {
			d.put(byte(s))
			d.bremain--
			continue
		}
		s -= lzxNumChars
		length := s&7 + lzxMinMatch
		if s&7 == 7 {
			f, err := d.sym(&d.leng)
			if err != nil {
				return err
			}
			length += f
		}
		slot := s >> 3
		var off uint32
		switch slot {
		case 0:
			off = d.r0
		case 1:
			off = d.r1
			d.r1, d.r0 = d.r0, off
		case 2:
			off = d.r2
			d.r2, d.r0 = d.r0, off
		default:
			extra := uint(lzxExtraBits[slot])
			off = lzxPositionBase[slot] - 2
			if d.btype == lzxBlockAligned && extra >= 3 {
				v, err := d.bits(extra - 3)
				if err != nil {
					return err
				}
				a, err := d.sym(&d.aligned)
				if err != nil {
					return err
				}
				off += v<<3 + uint32(a)
			} else {
				v, err := d.bits(extra)
				if err != nil {
					return err
				}
				off += v
			}
			d.r2, d.r1, d.r0 = d.r1, d.r0, off
		}
		if length > d.bremain {
			return lzxErr("match runs past the end of its block")
		}
		if off == 0 || int64(off) > d.filled || off > d.wmask+1 {
			return lzxErr("match offset %d out of the window", off)
		}
		src := (d.wpos - off) & d.wmask
		for range length {
			d.put(d.win[src])
			src = (src + 1) & d.wmask
		}
		d.bremain -= length
	}
	return nil
}

// untranslate undoes the encoder's E8 call translation in one frame at
// absolute output position at: a 32-bit absolute target following an E8
// byte is turned back into the relative displacement.
func (d *lzxDecoder) untranslate(b []byte, at int64) {
	if d.e8size == 0 || len(b) <= 10 || at/lzxFrameSize >= lzxE8MaxFrames {
		return
	}
	size := d.e8size
	for i := 0; i < len(b)-10; {
		if b[i] != 0xe8 {
			i++
			continue
		}
		cur := int32(at + int64(i))
		abs := int32(binary.LittleEndian.Uint32(b[i+1:]))
		if abs >= -cur && abs < size {
			rel := abs + size
			if abs >= 0 {
				rel = abs - cur
			}
			binary.LittleEndian.PutUint32(b[i+1:], uint32(rel))
		}
		i += 5
	}
}

// lzxReader reads an LZX stream frame by frame as an io.Reader.
type lzxReader struct {
	d     *lzxDecoder
	total int64 // output length, or -1 when unknown (ends with the input)
	pos   int64 // absolute output position of the next frame
	// resetFrames > 0: the decoder is reset every so many frames (CHM);
	// resetAt gives the input offset of frame number i, when known.
	resetFrames int64
	resetAt     func(frame int64) (int, bool)
	truncated   error // returned after the last frame, when set
	buf, out    []byte
	err         error
}

func (r *lzxReader) Read(p []byte) (int, error) { return readFrames(p, &r.buf, &r.err, r.next) }

// readFrames is Read for a reader that decodes frame by frame: next puts
// a frame into *buf; its error is kept in *err and returned once *buf is
// consumed.
func readFrames(p []byte, buf *[]byte, err *error, next func() error) (int, error) {
	for len(*buf) == 0 {
		if *err != nil {
			return 0, *err
		}
		*err = next()
	}
	n := copy(p, *buf)
	*buf = (*buf)[n:]
	return n, nil
}

func (r *lzxReader) next() error {
	d := r.d
	if r.total >= 0 && r.pos >= r.total {
		if r.truncated != nil {
			return r.truncated
		}
		return io.EOF
	}
	frame := r.pos / lzxFrameSize
	if r.resetFrames > 0 && frame%r.resetFrames == 0 && frame > 0 {
		if d.bremain != 0 {
			return lzxErr("block runs over a reset point")
		}
		d.reset()
		if r.resetAt != nil {
			if off, ok := r.resetAt(frame); ok {
				d.seek(off)
			}
		}
	}
	if r.total < 0 && d.ip >= len(d.in) && d.nbits-16*d.pad < 16 && len(d.pending) == 0 && d.bremain == 0 {
		return io.EOF
	}
	n := int64(lzxFrameSize)
	if r.total >= 0 {
		n = min(n, r.total-r.pos)
	}
	out, err := d.frame(int(n), r.pos, r.out)
	if err != nil {
		// What the frame produced before the damage is still handed out.
		r.buf = append(r.out[:0], d.pending[:min(len(d.pending), int(n))]...)
		d.pending = d.pending[:0]
		return err
	}
	r.out = out
	r.buf = out
	r.pos += n
	return nil
}
