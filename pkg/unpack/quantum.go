package unpack

import (
	"fmt"
	"io"
)

// Quantum decoder for cabinet folders (CAB typeCompress 2), written from
// Matthew Russotto's description of the format. Quantum is an LZ77 coder:
// a selector says whether a literal (from one of four 64-byte ranges) or a
// match (3 bytes, 4 bytes, or 5 to 259 bytes long) comes next, and the
// selector, the literal, the length slot and the position slot are each
// coded by a 16-bit arithmetic coder from adaptive frequency models. The
// low bits of lengths and offsets below their slot's base are read raw
// from the same bit stream, most significant bit first.
//
// Output is made in frames of 32 KiB, one per CFDATA block. Each frame
// starts the coder afresh (range and 16-bit code register; the models and
// the window carry on from frame to frame), and no match may run over a
// frame's end. After a frame the stream moves to a byte boundary and
// passes over everything up to and including a 0xff byte: the cabinet
// reader puts one after every block's payload, which makes the varying
// padding encoders leave after their last code bits harmless.
//
// The decoder only ever reads its input, never keeps more than a window
// of 2^bits (less when the whole output is shorter) plus one frame, and
// stops with an error wrapping ErrCorrupt at anything a valid stream
// cannot hold: input running out, a match reaching before the start of
// the data or over a frame's end, a missing frame trailer.

const (
	qtmFrameSize = 32768
	qtmMinWindow = 10
	qtmMaxWindow = 21
	qtmMaxSlots  = 2 * qtmMaxWindow // position slots of the largest window
	qtmLenSlots  = 27
	qtmMaxMatch  = 259
	qtmLimit     = 3800 // a model whose total frequency passes this is scaled down
	qtmIncrement = 8    // added to a coded symbol's frequency
	qtmResort    = 50   // every so many scalings a model is re-sorted instead
	qtmResort1   = 4    // ... except the first time
	qtmSelectors = 7
	qtmPadBytes  = 2 // zero bytes read past the end before the input counts as short
)

// qtmPosBase and qtmPosExtra give, per position slot, the smallest value
// (match offset minus one) of the slot and the number of raw bits that
// follow it; qtmPosBase has one more entry, the end of the last slot.
// qtmLenBase and qtmLenExtra do the same for the variable match length
// (minus five).
var (
	qtmPosBase  [qtmMaxSlots + 1]uint32
	qtmPosExtra [qtmMaxSlots]uint8
	qtmLenBase  [qtmLenSlots + 1]uint32
	qtmLenExtra [qtmLenSlots]uint8
)

func init() {
	// Position slots: two slots of each size; slots 0-3 hold one value
	// each, then every second slot doubles.
	var base uint32
	for i := range qtmPosExtra {
		e := 0
		if i >= 2 {
			e = (i - 2) / 2
		}
		qtmPosExtra[i] = uint8(e)
		qtmPosBase[i] = base
		base += 1 << e
	}
	qtmPosBase[qtmMaxSlots] = base
	// Length slots: four of each size after two more single values; the
	// last slot holds only the longest length.
	base = 0
	for i := range qtmLenExtra {
		e := 0
		if i >= 2 && i < qtmLenSlots-1 {
			e = (i - 2) / 4
		}
		qtmLenExtra[i] = uint8(e)
		qtmLenBase[i] = base
		base += 1 << e
	}
	qtmLenBase[qtmLenSlots] = base
}

func qtmErr(format string, a ...any) error {
	return fmt.Errorf("%w: cab: Quantum: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

// qtmModel is an adaptive frequency table. Entry i has symbol sym[i];
// cum[i] is the summed frequency of entries i to n-1, so cum[0] is the
// total and cum[n] is 0. Entries start in symbol order, each of frequency
// 1, and are re-sorted by frequency from time to time.
type qtmModel struct {
	n     int
	sorts int // scalings left before the next re-sort
	sym   [65]uint16
	cum   [65]uint16
}

func (m *qtmModel) init(first, n int) {
	m.n, m.sorts = n, qtmResort1
	for i := 0; i <= n; i++ {
		m.sym[i] = uint16(first + i)
		m.cum[i] = uint16(n - i)
	}
}

// update records that entry k was coded: its frequency grows, and a model
// grown past the limit is scaled down: its running sums halved, or at
// every qtmResort-th scaling (the first time at the qtmResort1-th) its
// frequencies halved and sorted high to low.
func (m *qtmModel) update(k int) {
	for i := 0; i <= k; i++ {
		m.cum[i] += qtmIncrement
	}
	if m.cum[0] <= qtmLimit {
		return
	}
	m.sorts--
	if m.sorts > 0 {
		// Halve the running sums from the end, keeping them strictly
		// decreasing so that no entry's frequency drops to zero.
		for i := m.n - 1; i >= 0; i-- {
			m.cum[i] >>= 1
			if m.cum[i] <= m.cum[i+1] {
				m.cum[i] = m.cum[i+1] + 1
			}
		}
		return
	}
	m.sorts = qtmResort
	for i := 0; i < m.n; i++ { // cum[i+1] is still a sum here
		m.cum[i] = (m.cum[i] - m.cum[i+1] + 1) / 2
	}
	// The order matters to the coded stream: a plain exchange sort, the
	// later entry moving up whenever it is strictly more frequent.
	for i := 0; i < m.n-1; i++ {
		for j := i + 1; j < m.n; j++ {
			if m.cum[j] > m.cum[i] {
				m.cum[i], m.cum[j] = m.cum[j], m.cum[i]
				m.sym[i], m.sym[j] = m.sym[j], m.sym[i]
			}
		}
	}
	for i := m.n - 1; i >= 0; i-- {
		m.cum[i] += m.cum[i+1]
	}
}

// qtmModels are the nine models of a stream.
type qtmModels struct {
	selector qtmModel
	literal  [4]qtmModel // bytes 0-63, 64-127, 128-191, 192-255
	pos3     qtmModel    // position slots of 3-byte matches
	pos4     qtmModel    // position slots of 4-byte matches
	posLong  qtmModel    // position slots of longer matches
	length   qtmModel    // length slots of longer matches
}

func (ms *qtmModels) init(bits int) {
	slots := 2 * bits
	ms.selector.init(0, qtmSelectors)
	for i := range ms.literal {
		ms.literal[i].init(64*i, 64)
	}
	ms.pos3.init(0, min(slots, 24))
	ms.pos4.init(0, min(slots, 36))
	ms.posLong.init(0, slots)
	ms.length.init(0, qtmLenSlots)
}

// qtmDecoder holds the state that lives across frames.
type qtmDecoder struct {
	in    []byte
	ip    int
	cur   uint32 // the byte being read; its low nbits bits are unread
	nbits uint
	over  int  // zero bytes supplied past the end of in
	short bool // more than qtmPadBytes of them were needed
	// guessFrom is the output position when the input first ran out:
	// what is decoded from there on may rest on made-up bits.
	guessFrom int64

	lo, hi, code uint16
	models       qtmModels

	win    []byte
	wmask  uint32
	wpos   uint32
	window int64 // 2^bits: the farthest a match may reach back
	filled int64 // bytes decoded so far
	frames int64 // frames begun
	out    []byte
}

// newQuantum makes a decoder for a window of 2^bits bytes (10 to 21).
// total, when not negative, is the output length: a shorter output needs
// no window of the full size.
func newQuantum(bits int, in []byte, total int64) (*qtmDecoder, error) {
	if bits < qtmMinWindow || bits > qtmMaxWindow {
		return nil, qtmErr("window size 2^%d not supported", bits)
	}
	d := &qtmDecoder{in: in, window: 1 << bits}
	size := d.window
	if total >= 0 && total+qtmMaxMatch < size {
		// A final match may run past the output's end by less than
		// qtmMaxMatch bytes; the window still never wraps.
		size = 1 << qtmMinWindow
		for size < total+qtmMaxMatch {
			size <<= 1
		}
	}
	d.win = make([]byte, size)
	d.wmask = uint32(size - 1)
	d.models.init(bits)
	return d, nil
}

func (d *qtmDecoder) bit() uint16 {
	if d.nbits == 0 {
		if d.ip < len(d.in) {
			d.cur = uint32(d.in[d.ip])
			d.ip++
		} else {
			d.cur = 0
			if d.over == 0 {
				d.guessFrom = d.filled
			}
			if d.over++; d.over > qtmPadBytes {
				d.short = true
			}
		}
		d.nbits = 8
	}
	d.nbits--
	return uint16(d.cur>>d.nbits) & 1
}

// raw reads n bits, most significant first.
func (d *qtmDecoder) raw(n uint8) uint32 {
	var v uint32
	for range n {
		v = v<<1 | uint32(d.bit())
	}
	return v
}

func (d *qtmDecoder) truncated() error {
	return qtmErr("data truncated: %v", io.ErrUnexpectedEOF)
}

// decode reads one symbol of m and updates m.
func (d *qtmDecoder) decode(m *qtmModel) (int, error) {
	// The coder keeps lo <= code <= hi whatever its input, so target
	// is below the total and some entry k has cum[k+1] <= target < cum[k].
	span := uint32(d.hi-d.lo) + 1
	total := uint32(m.cum[0])
	target := ((uint32(d.code-d.lo)+1)*total - 1) / span
	k := 0
	for k+1 < m.n && uint32(m.cum[k+1]) > target {
		k++
	}
	sym := int(m.sym[k])
	d.hi = uint16(uint32(d.lo) + uint32(m.cum[k])*span/total - 1)
	d.lo = uint16(uint32(d.lo) + uint32(m.cum[k+1])*span/total)
	m.update(k)
	// Renormalise: shift out the leading bit while lo and hi agree on it.
	// When they straddle the middle closely (lo 01..., hi 10...), the
	// range is widened around the middle instead: the second bit is
	// dropped from lo, hi and the code register alike.
	for {
		if (d.lo^d.hi)&0x8000 != 0 {
			if d.lo&0x4000 == 0 || d.hi&0x4000 != 0 {
				break
			}
			d.code ^= 0x4000
			d.lo &= 0x3fff
			d.hi |= 0x4000
		}
		d.lo <<= 1
		d.hi = d.hi<<1 | 1
		d.code = d.code<<1 | d.bit()
	}
	if d.short {
		return 0, d.truncated()
	}
	return sym, nil
}

func (d *qtmDecoder) put(b byte) {
	d.win[d.wpos] = b
	d.wpos = (d.wpos + 1) & d.wmask
	d.filled++
	d.out = append(d.out, b)
}

// frame decodes the next frame into d.out, stopping once it holds at least
// n bytes (n <= qtmFrameSize; less only for the last frame, whose last
// match may leave a few more bytes than asked for). When the input runs
// out, d.out keeps only what was decoded before it did.
func (d *qtmDecoder) frame(n int) error {
	start := d.filled
	d.out = d.out[:0]
	err := d.frameBody(n)
	if d.short {
		d.out = d.out[:max(0, min(len(d.out), int(d.guessFrom-start)))]
	}
	return err
}

func (d *qtmDecoder) frameBody(n int) error {
	if d.frames > 0 {
		// The previous frame's end: a byte boundary, then everything
		// up to the 0xff trailer.
		d.nbits = 0
		for {
			if d.ip >= len(d.in) {
				return qtmErr("frame %d: trailer missing: %v", d.frames, io.ErrUnexpectedEOF)
			}
			d.ip++
			if d.in[d.ip-1] == 0xff {
				break
			}
		}
	}
	d.frames++
	d.lo, d.hi = 0, 0xffff
	d.code = uint16(d.raw(16))
	if d.short {
		return d.truncated()
	}
	ms := &d.models
	left := qtmFrameSize
	for len(d.out) < n {
		sel, err := d.decode(&ms.selector)
		if err != nil {
			return err
		}
		if sel < 4 {
			b, err := d.decode(&ms.literal[sel])
			if err != nil {
				return err
			}
			d.put(byte(b))
			left--
			continue
		}
		length := 3
		pm := &ms.pos3
		switch sel {
		case 5:
			length, pm = 4, &ms.pos4
		case 6:
			ls, err := d.decode(&ms.length)
			if err != nil {
				return err
			}
			length = 5 + int(qtmLenBase[ls]+d.raw(qtmLenExtra[ls]))
			pm = &ms.posLong
		}
		slot, err := d.decode(pm)
		if err != nil {
			return err
		}
		off := int64(qtmPosBase[slot]+d.raw(qtmPosExtra[slot])) + 1
		if d.short {
			return d.truncated()
		}
		if length > left {
			return qtmErr("match of %d bytes runs over the end of frame %d", length, d.frames)
		}
		if off > d.filled || off > d.window {
			return qtmErr("match offset %d reaches before the start of the data", off)
		}
		src := (d.wpos - uint32(off)) & d.wmask
		for range length {
			d.put(d.win[src])
			src = (src + 1) & d.wmask
		}
		left -= length
	}
	return nil
}

// qtmReader reads a Quantum stream of known length frame by frame.
type qtmReader struct {
	d         *qtmDecoder
	total     int64 // output length
	pos       int64 // output position of the next frame
	truncated error // returned after the last frame, when set
	buf       []byte
	err       error
}

func (r *qtmReader) Read(p []byte) (int, error) { return readFrames(p, &r.buf, &r.err, r.next) }

// next decodes the next frame into buf, valid until the next call. On an
// error, what the frame produced before the damage is still in buf.
func (r *qtmReader) next() error {
	if r.pos >= r.total {
		if r.truncated != nil {
			return r.truncated
		}
		return io.EOF
	}
	n := int(min(qtmFrameSize, r.total-r.pos))
	err := r.d.frame(n)
	r.buf = r.d.out[:min(len(r.d.out), n)]
	if err != nil {
		return err
	}
	r.pos += int64(n)
	return nil
}
