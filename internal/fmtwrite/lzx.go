package fmtwrite

import "encoding/binary"

// An LZX encoder (the compression of CAB typeCompress 3 and of the CHM
// MSCompressed section), written from the format description: stored,
// verbatim and aligned blocks, code lengths sent as pretree deltas (with
// the zero-run and same-value-run codes), greedy matches that may reach
// back across frames, E8 call translation, and the realignment to 16 bits
// at the end of each frame. Its codes are not optimal (every used symbol
// gets a code of about the same length): it writes valid streams of every
// kind of block, not small ones.

// LZX format constants.
const (
	LZXFrameSize     = 32768 // output bytes per frame (one CFDATA block in a cabinet)
	LZXBlockVerbatim = 1
	LZXBlockAligned  = 2
	LZXBlockStored   = 3

	lzxPretreeSize = 20
	lzxLengthSize  = 249
	lzxMaxMainSize = 256 + 8*50
)

// lzxExtraBits and lzxPositionBase give, per position slot, the number of
// footer bits and the smallest formatted offset (offset + 2) of the slot.
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
	switch bits {
	case 20:
		return 42
	case 21:
		return 50
	default:
		return 2 * bits
	}
}

// LZXBlocks says how an LZX stream is cut into blocks: Size bytes of
// output each, their types cycling through Types (LZXBlockVerbatim,
// LZXBlockAligned, LZXBlockStored).
type LZXBlocks struct {
	Size  int
	Types []int
}

// LZXAllBlocks cuts a stream into blocks of 20000 bytes cycling through
// the three kinds: what the writers use unless told otherwise.
var LZXAllBlocks = LZXBlocks{Size: 20000, Types: []int{LZXBlockVerbatim, LZXBlockAligned, LZXBlockStored}}

func (b LZXBlocks) orDefault() LZXBlocks {
	if b.Size <= 0 || len(b.Types) == 0 {
		return LZXAllBlocks
	}
	return b
}

type lzxBitWriter struct {
	out []byte
	acc uint32
	n   uint
}

func (w *lzxBitWriter) bits(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.n++
		if w.n == 16 {
			w.out = binary.LittleEndian.AppendUint16(w.out, uint16(w.acc))
			w.acc, w.n = 0, 0
		}
	}
}

func (w *lzxBitWriter) align() {
	if w.n > 0 {
		w.bits(0, 16-w.n)
	}
}

// canonCodes assigns canonical codes to code lengths.
func canonCodes(lens []uint8) []uint32 {
	var count [17]uint32
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [18]uint32
	for l := 1; l <= 16; l++ {
		next[l+1] = (next[l] + count[l]) << 1
	}
	codes := make([]uint32, len(lens))
	for s, l := range lens {
		if l != 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
	return codes
}

// completeLengths gives the used symbols of an alphabet of n a complete
// code (at least two symbols, adding unused ones if needed).
func completeLengths(used map[int]bool, n int) []uint8 {
	var syms []int
	for s := 0; s < n; s++ {
		if used[s] {
			syms = append(syms, s)
		}
	}
	for s := 0; len(syms) < 2; s++ {
		if !used[s] {
			syms = append(syms, s)
			used[s] = true
		}
	}
	// sort: symbols added above may be smaller than the used one
	for i := range syms {
		for j := i + 1; j < len(syms); j++ {
			if syms[j] < syms[i] {
				syms[i], syms[j] = syms[j], syms[i]
			}
		}
	}
	k := len(syms)
	L := 0
	for 1<<L < k {
		L++
	}
	short := 1<<L - k // symbols one bit shorter
	lens := make([]uint8, n)
	for i, s := range syms {
		if i < short {
			lens[s] = uint8(L - 1)
		} else {
			lens[s] = uint8(L)
		}
	}
	return lens
}

type lzxEncoder struct {
	w          lzxBitWriter
	bits       int
	slots      int
	r0, r1, r2 uint32
	prevMain   []uint8
	prevLen    []uint8
	pos        int   // output bytes encoded
	frameEnds  []int // compressed length at the end of each frame
}

func (e *lzxEncoder) advance(n int) {
	before := e.pos
	e.pos += n
	if before/LZXFrameSize != e.pos/LZXFrameSize {
		e.w.align()
		e.frameEnds = append(e.frameEnds, len(e.w.out))
	}
}

func (e *lzxEncoder) writeLengths(prev, cur []uint8) {
	pl := make([]uint8, lzxPretreeSize)
	for i := range pl {
		pl[i] = 4
		if i >= 12 {
			pl[i] = 5
		}
		e.w.bits(uint32(pl[i]), 4)
	}
	pc := canonCodes(pl)
	put := func(s int) { e.w.bits(pc[s], uint(pl[s])) }
	for x := 0; x < len(cur); {
		run := 1
		for x+run < len(cur) && cur[x+run] == cur[x] {
			run++
		}
		switch {
		case cur[x] == 0 && run >= 20:
			run = min(run, 51)
			put(18)
			e.w.bits(uint32(run-20), 5)
		case cur[x] == 0 && run >= 4:
			run = min(run, 19)
			put(17)
			e.w.bits(uint32(run-4), 4)
		case run >= 4:
			run = min(run, 5)
			put(19)
			e.w.bits(uint32(run-4), 1)
			put((int(prev[x]) - int(cur[x]) + 17) % 17)
		default:
			run = 1
			put((int(prev[x]) - int(cur[x]) + 17) % 17)
		}
		x += run
	}
	copy(prev, cur)
}

type lzxToken struct {
	lit    byte
	length int
	off    uint32
}

// tokens parses data[from:to] greedily; matches may refer back to
// anything in the window but end inside the block.
func (e *lzxEncoder) tokens(data []byte, from, to int, last map[uint32]int) []lzxToken {
	var out []lzxToken
	wsize := 1 << e.bits
	key := func(i int) uint32 { return uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 }
	for i := from; i < to; {
		best, bestOff := 0, 0
		if i+3 <= to {
			if j, ok := last[key(i)]; ok && i-j <= wsize-3 {
				n := 0
				for i+n < to && n < 257 && data[j+n] == data[i+n] {
					n++
				}
				best, bestOff = n, i-j
			}
		}
		step := 1
		if best >= 3 {
			out = append(out, lzxToken{length: best, off: uint32(bestOff)})
			step = best
		} else {
			out = append(out, lzxToken{lit: data[i]})
		}
		for k := i; k < i+step && k+3 <= len(data); k++ {
			last[key(k)] = k
		}
		i += step
	}
	return out
}

func (e *lzxEncoder) compressedBlock(btype int, data []byte, from, to int, last map[uint32]int) {
	toks := e.tokens(data, from, to, last)
	type coded struct {
		main, lsym, slot int
		v                uint32
	}
	var cs []coded
	usedMain, usedLen := map[int]bool{}, map[int]bool{}
	r0, r1, r2 := e.r0, e.r1, e.r2
	for _, t := range toks {
		if t.length == 0 {
			cs = append(cs, coded{main: int(t.lit), lsym: -1})
			usedMain[int(t.lit)] = true
			continue
		}
		c := coded{lsym: -1}
		if t.off == r0 {
			c.slot = 0
		} else {
			fo := t.off + 2
			s := 3
			for s+1 < e.slots && lzxPositionBase[s+1] <= fo {
				s++
			}
			c.slot, c.v = s, fo-lzxPositionBase[s]
			r2, r1, r0 = r1, r0, t.off
		}
		lh := min(t.length-2, 7)
		c.main = 256 + c.slot*8 + lh
		if lh == 7 {
			c.lsym = t.length - 9
			usedLen[c.lsym] = true
		}
		usedMain[c.main] = true
		cs = append(cs, c)
	}
	mainSize := 256 + 8*e.slots
	mainLens := completeLengths(usedMain, mainSize)
	lenLens := completeLengths(usedLen, lzxLengthSize)
	mc, lc := canonCodes(mainLens), canonCodes(lenLens)

	size := to - from
	e.w.bits(uint32(btype), 3)
	e.w.bits(uint32(size>>16), 8)
	e.w.bits(uint32(size&0xffff), 16)
	if btype == LZXBlockAligned {
		for range 8 {
			e.w.bits(3, 3)
		}
	}
	e.writeLengths(e.prevMain[:256], mainLens[:256])
	e.writeLengths(e.prevMain[256:mainSize], mainLens[256:])
	e.writeLengths(e.prevLen, lenLens)
	for i, c := range cs {
		e.w.bits(mc[c.main], uint(mainLens[c.main]))
		if c.lsym >= 0 {
			e.w.bits(lc[c.lsym], uint(lenLens[c.lsym]))
		}
		if c.main >= 256 && c.slot >= 3 {
			extra := uint(lzxExtraBits[c.slot])
			if btype == LZXBlockAligned && extra >= 3 {
				e.w.bits(c.v>>3, extra-3)
				e.w.bits(c.v&7, 3) // aligned code: every length 3, so code = symbol
			} else {
				e.w.bits(c.v, extra)
			}
		}
		n := 1
		if toks[i].length > 0 {
			n = toks[i].length
		}
		e.advance(n)
	}
	e.r0, e.r1, e.r2 = r0, r1, r2
}

func (e *lzxEncoder) storedBlock(data []byte, from, to int, last map[uint32]int) {
	size := to - from
	e.w.bits(LZXBlockStored, 3)
	e.w.bits(uint32(size>>16), 8)
	e.w.bits(uint32(size&0xffff), 16)
	if e.w.n == 0 {
		e.w.bits(0, 16)
	} else {
		e.w.align()
	}
	for _, r := range []uint32{e.r0, e.r1, e.r2} {
		e.w.out = binary.LittleEndian.AppendUint32(e.w.out, r)
	}
	for i := from; i < to; i++ {
		e.w.out = append(e.w.out, data[i])
		if i+3 <= len(data) {
			last[uint32(data[i])|uint32(data[i+1])<<8|uint32(data[i+2])<<16] = i
		}
		if i == to-1 && size&1 == 1 {
			e.w.out = append(e.w.out, 0)
		}
		e.advance(1)
	}
}

// lzxTranslate applies the encoder's E8 translation in place, frame by frame.
func lzxTranslate(b []byte, size int32) {
	for at := 0; at < len(b); at += LZXFrameSize {
		f := b[at:min(at+LZXFrameSize, len(b))]
		if len(f) <= 10 {
			continue
		}
		for i := 0; i < len(f)-10; {
			if f[i] != 0xe8 {
				i++
				continue
			}
			cur := int32(at + i)
			rel := int32(binary.LittleEndian.Uint32(f[i+1:]))
			if rel >= -cur && rel < size {
				abs := rel - size
				if rel < size-cur {
					abs = rel + cur
				}
				binary.LittleEndian.PutUint32(f[i+1:], uint32(abs))
			}
			i += 5
		}
	}
}

// LZX compresses data with a window of 2^bits (15 to 21) in blocks of
// blockSize bytes whose types cycle through types (none: verbatim). With
// e8size not 0 the stream's header turns E8 call translation on and the
// data is translated first, as an encoder must (the decoder undoes it).
// It returns the stream and the compressed offset of each frame's end
// (LZXFrameSize bytes of output), each frame ending on 16 bits.
func LZX(data []byte, bits int, e8size int32, blockSize int, types ...int) (stream []byte, frameEnds []int) {
	src := append([]byte(nil), data...)
	if e8size != 0 {
		lzxTranslate(src, e8size)
	}
	return lzxEncode(src, bits, e8size, blockSize, types)
}

// LZXPretranslated is LZX for data that already carries the E8
// translation (made by hand, say): the header announces e8size but the
// bytes are coded as they are.
func LZXPretranslated(data []byte, bits int, e8size int32, blockSize int, types ...int) (stream []byte, frameEnds []int) {
	return lzxEncode(data, bits, e8size, blockSize, types)
}

func lzxEncode(src []byte, bits int, e8size int32, blockSize int, types []int) ([]byte, []int) {
	if len(types) == 0 {
		types = []int{LZXBlockVerbatim}
	}
	if blockSize <= 0 || blockSize >= 1<<24 { // a block's size has 24 bits
		blockSize = 1<<24 - 1
	}
	e := &lzxEncoder{bits: bits, slots: lzxPositionSlots(bits), r0: 1, r1: 1, r2: 1,
		prevMain: make([]uint8, lzxMaxMainSize), prevLen: make([]uint8, lzxLengthSize)}
	if e8size != 0 {
		e.w.bits(1, 1)
		e.w.bits(uint32(e8size)>>16, 16)
		e.w.bits(uint32(e8size)&0xffff, 16)
	} else {
		e.w.bits(0, 1)
	}
	last := map[uint32]int{}
	for i, from := 0, 0; from < len(src); i++ {
		to := min(from+blockSize, len(src))
		switch t := types[i%len(types)]; t {
		case LZXBlockStored:
			e.storedBlock(src, from, to, last)
		default:
			e.compressedBlock(t, src, from, to, last)
		}
		from = to
	}
	e.w.align()
	if frames := (len(src) + LZXFrameSize - 1) / LZXFrameSize; len(e.frameEnds) < frames {
		e.frameEnds = append(e.frameEnds, len(e.w.out))
	}
	return e.w.out, e.frameEnds
}
