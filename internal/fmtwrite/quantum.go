package fmtwrite

import "fmt"

// A Quantum encoder (CAB typeCompress 2), written from Matthew Russotto's
// description of the format: greedy LZ77 matches from hash chains, each
// coded with the cheapest selector that can carry it (3-byte, 4-byte or
// variable-length matches), literals otherwise, and the arithmetic coder
// with its bits-to-follow for the middle-straddling case. Matches may
// reach back across frames but never run over a frame's end. Its adaptive
// models and slot tables are its own, computed from the description like
// the decoder's; Debian's cabextract (libmspack) extracts what it writes
// byte for byte (TestCabQuantumMatchesCabextract in pkg/unpack).
//
// The raw offset and length bits are interleaved with the coder's bits
// the way a decoder reads them: the decoder's code register runs 16 coder
// bits ahead, so raw bits written while the coder has made s renormalising
// shifts come after coder bit 16+s. The encoder collects a frame's coder
// bits and raw groups apart and merges them when the frame ends: then the
// coder is flushed (two bits pick a point inside the final range whatever
// follows), zero bits fill up what the decoder's register will have read,
// and the frame is padded to a byte. A cabinet puts a 0xff trailer after
// each frame (the CFDATA block boundary), which Quantum cabinets carry
// and decoders pass over.

// Quantum format constants.
const (
	QuantumFrameSize = 32768 // output bytes per frame (one CFDATA block)
	QuantumMinWindow = 10    // window sizes are 2^10 to 2^21
	QuantumMaxWindow = 21
	QuantumMaxMatch  = 259
	QuantumSelectors = 7 // 0-3 literals of each 64-byte range, 4 3-byte, 5 4-byte, 6 longer matches

	qtmMaxSlots  = 2 * QuantumMaxWindow
	qtmLenSlots  = 27
	qtmLimit     = 3800 // a model whose total frequency passes this is scaled down
	qtmIncrement = 8    // added to a coded symbol's frequency
	qtmResort    = 50   // every so many scalings a model is re-sorted instead
	qtmResort1   = 4    // ... except the first time
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
// frequencies halved and sorted high to low. It says whether the entries'
// order changed.
func (m *qtmModel) update(k int) (reordered bool) {
	for i := 0; i <= k; i++ {
		m.cum[i] += qtmIncrement
	}
	if m.cum[0] <= qtmLimit {
		return false
	}
	if m.sorts--; m.sorts > 0 {
		// Halve the running sums from the end, keeping them strictly
		// decreasing so that no entry's frequency drops to zero.
		for i := m.n - 1; i >= 0; i-- {
			m.cum[i] >>= 1
			if m.cum[i] <= m.cum[i+1] {
				m.cum[i] = m.cum[i+1] + 1
			}
		}
		return false
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
				reordered = true
			}
		}
	}
	for i := m.n - 1; i >= 0; i-- {
		m.cum[i] += m.cum[i+1]
	}
	return reordered
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
	ms.selector.init(0, QuantumSelectors)
	for i := range ms.literal {
		ms.literal[i].init(64*i, 64)
	}
	ms.pos3.init(0, min(slots, 24))
	ms.pos4.init(0, min(slots, 36))
	ms.posLong.init(0, slots)
	ms.length.init(0, qtmLenSlots)
}

type qtmRawBits struct {
	at int // coder bit index the group comes before
	v  uint32
	n  uint8
}

// QuantumStats counts what an encoder wrote, for tests that want every
// part of the format used.
type QuantumStats struct {
	Selectors  [QuantumSelectors]int // symbols coded with each selector
	CrossFrame int                   // matches reaching back before the start of their frame
	CrossWrap  int                   // matches whose bytes run over a multiple of the window size
	MaxLen     int
	MaxOff     int
	// Re-sorts of a model that changed its entries' order, of any model
	// and of the four literal models.
	Reorders, LiteralReorders int
}

// QuantumEncoder writes a Quantum stream symbol by symbol, for streams
// made by hand (Quantum makes whole ones). Its models and window size
// carry on from frame to frame; the coder starts afresh in each.
type QuantumEncoder struct {
	ms     qtmModels
	window int
	lo, hi uint16
	follow int    // opposite bits owed after the next settled bit
	shifts int    // renormalising shifts made in this frame
	code   []byte // this frame's coder bits, one per byte
	raws   []qtmRawBits
	stats  QuantumStats
}

// NewQuantumEncoder starts a stream with a window of 2^bits bytes.
func NewQuantumEncoder(bits int) (*QuantumEncoder, error) {
	if bits < QuantumMinWindow || bits > QuantumMaxWindow {
		return nil, fmt.Errorf("fmtwrite: Quantum window size 2^%d not in 2^%d to 2^%d", bits, QuantumMinWindow, QuantumMaxWindow)
	}
	e := &QuantumEncoder{window: 1 << bits, hi: 0xffff}
	e.ms.init(bits)
	return e, nil
}

// Stats returns what the encoder has written so far.
func (e *QuantumEncoder) Stats() QuantumStats { return e.stats }

func (e *QuantumEncoder) emit(b byte) {
	e.code = append(e.code, b)
	for ; e.follow > 0; e.follow-- {
		e.code = append(e.code, 1-b)
	}
}

// encode codes symbol s of model m.
func (e *QuantumEncoder) encode(m *qtmModel, s int) {
	k := 0
	for int(m.sym[k]) != s {
		k++
		if k >= m.n {
			panic(fmt.Sprintf("fmtwrite: Quantum symbol %d not in the model", s))
		}
	}
	span := uint32(e.hi-e.lo) + 1
	total := uint32(m.cum[0])
	e.hi = uint16(uint32(e.lo) + uint32(m.cum[k])*span/total - 1)
	e.lo = uint16(uint32(e.lo) + uint32(m.cum[k+1])*span/total)
	if m.update(k) {
		e.stats.Reorders++
		if m == &e.ms.literal[0] || m == &e.ms.literal[1] || m == &e.ms.literal[2] || m == &e.ms.literal[3] {
			e.stats.LiteralReorders++
		}
	}
	for {
		switch {
		case (e.lo^e.hi)&0x8000 == 0:
			e.emit(byte(e.hi >> 15))
		case e.lo&0x4000 != 0 && e.hi&0x4000 == 0:
			e.follow++
			e.lo &= 0x3fff
			e.hi |= 0x4000
		default:
			return
		}
		e.lo <<= 1
		e.hi = e.hi<<1 | 1
		e.shifts++
	}
}

func (e *QuantumEncoder) raw(v uint32, n uint8) {
	if n > 0 {
		e.raws = append(e.raws, qtmRawBits{at: 16 + e.shifts, v: v, n: n})
	}
}

// qtmSlot finds the slot of v in a base table, among the first n slots.
func qtmSlot(base []uint32, n int, v uint32) int {
	s := 0
	for s+1 < n && base[s+1] <= v {
		s++
	}
	return s
}

// Literal codes byte b.
func (e *QuantumEncoder) Literal(b byte) {
	sel := int(b >> 6)
	e.stats.Selectors[sel]++
	e.encode(&e.ms.selector, sel)
	e.encode(&e.ms.literal[sel], int(b))
}

// Match codes a match of length bytes (3 to QuantumMaxMatch) from off
// bytes back (1 to the window size; up to 4096 for 3-byte matches and
// 2^18 for 4-byte ones, the reach of their position models). It does not
// check that the data has off bytes before the match, or room for it in
// the frame: hand-made streams may break those rules.
func (e *QuantumEncoder) Match(length, off int) error {
	v := uint32(off - 1)
	sel, pm := 6, &e.ms.posLong
	switch length {
	case 3:
		sel, pm = 4, &e.ms.pos3
	case 4:
		sel, pm = 5, &e.ms.pos4
	}
	if length < 3 || length > QuantumMaxMatch || off < 1 || v >= qtmPosBase[pm.n] {
		return fmt.Errorf("fmtwrite: Quantum match of %d bytes from %d back cannot be coded with a window of %d", length, off, e.window)
	}
	e.stats.Selectors[sel]++
	e.encode(&e.ms.selector, sel)
	if sel == 6 {
		lv := uint32(length - 5)
		ls := qtmSlot(qtmLenBase[:], qtmLenSlots, lv)
		e.encode(&e.ms.length, ls)
		e.raw(lv-qtmLenBase[ls], qtmLenExtra[ls])
	}
	slot := qtmSlot(qtmPosBase[:], pm.n, v)
	e.encode(pm, slot)
	e.raw(v-qtmPosBase[slot], qtmPosExtra[slot])
	return nil
}

// EndFrame flushes the coder and returns the frame's bytes (without the
// 0xff trailer a cabinet adds); the next symbol starts a new frame.
func (e *QuantumEncoder) EndFrame() []byte {
	e.follow++
	if e.lo < 0x4000 {
		e.emit(0)
	} else {
		e.emit(1)
	}
	for len(e.code) < 16+e.shifts {
		e.code = append(e.code, 0)
	}
	var out []byte
	var acc byte
	n := 0
	put := func(b byte) {
		acc = acc<<1 | b
		if n++; n == 8 {
			out = append(out, acc)
			acc, n = 0, 0
		}
	}
	r := 0
	for i := 0; i <= len(e.code); i++ {
		for ; r < len(e.raws) && e.raws[r].at == i; r++ {
			for j := int(e.raws[r].n) - 1; j >= 0; j-- {
				put(byte(e.raws[r].v>>uint(j)) & 1)
			}
		}
		if i < len(e.code) {
			put(e.code[i])
		}
	}
	if r != len(e.raws) {
		panic("fmtwrite: Quantum raw bits left over")
	}
	for n != 0 {
		put(0)
	}
	e.lo, e.hi, e.follow, e.shifts = 0, 0xffff, 0, 0
	e.code, e.raws = e.code[:0], e.raws[:0]
	return out
}

// Quantum compresses data with a window of 2^bits (10 to 21) and returns
// one block per frame (QuantumFrameSize bytes of output; none for empty
// data). chain is how many earlier positions the match finder tries (0:
// literals only); 16 compresses well enough, more is slower.
func Quantum(data []byte, bits, chain int) ([][]byte, QuantumStats, error) {
	e, err := NewQuantumEncoder(bits)
	if err != nil {
		return nil, QuantumStats{}, err
	}
	window := e.window
	const hashBits = 16
	head := make([]int32, 1<<hashBits)
	for i := range head {
		head[i] = -1
	}
	prev := make([]int32, len(data))
	hash := func(i int) uint32 {
		return (uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16) * 2654435761 >> (32 - hashBits)
	}
	insert := func(i int) {
		if i+3 <= len(data) {
			h := hash(i)
			prev[i] = head[h]
			head[h] = int32(i)
		}
	}
	var blocks [][]byte
	for pos := 0; pos < len(data); {
		frameEnd := min(pos-pos%QuantumFrameSize+QuantumFrameSize, len(data))
		for pos < frameEnd {
			maxLen := min(QuantumMaxMatch, frameEnd-pos)
			best, bestOff := 0, 0
			if maxLen >= 3 {
				cand := head[hash(pos)]
				for tries := 0; tries < chain && cand >= 0 && pos-int(cand) <= window; tries++ {
					j := int(cand)
					n := 0
					for n < maxLen && data[j+n] == data[pos+n] {
						n++
					}
					if n > best {
						best, bestOff = n, pos-j
					}
					cand = prev[j]
				}
			}
			// The short matches have their own position models with
			// fewer slots: a match too far for them is cut or dropped.
			if best == 4 && uint32(bestOff-1) >= qtmPosBase[e.ms.pos4.n] {
				best = 3
			}
			if best == 3 && uint32(bestOff-1) >= qtmPosBase[e.ms.pos3.n] {
				best = 0
			}
			step := 1
			if best >= 3 {
				if err := e.Match(best, bestOff); err != nil {
					return nil, e.stats, err
				}
				step = best
				if bestOff > pos%QuantumFrameSize {
					e.stats.CrossFrame++
				}
				if (pos+best-1)/window != pos/window {
					e.stats.CrossWrap++
				}
				e.stats.MaxLen = max(e.stats.MaxLen, best)
				e.stats.MaxOff = max(e.stats.MaxOff, bestOff)
			} else {
				e.Literal(data[pos])
			}
			for k := pos; k < pos+step; k++ {
				insert(k)
			}
			pos += step
		}
		blocks = append(blocks, append([]byte(nil), e.EndFrame()...))
	}
	return blocks, e.stats, nil
}
