package unpack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"testing"

	"ave/pkg/verdict"
)

// A small LZX encoder, written for the tests from the same format
// description as the decoder: stored, verbatim and aligned blocks, code
// lengths sent as pretree deltas (with the zero-run and same-value-run
// codes), greedy matches that may reach back across frames, E8 call
// translation, and the realignment to 16 bits at the end of each frame.

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
	// sort
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
	if before/lzxFrameSize != e.pos/lzxFrameSize {
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
	if btype == lzxBlockAligned {
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
			if btype == lzxBlockAligned && extra >= 3 {
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
	e.w.bits(lzxBlockStored, 3)
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
	for at := 0; at < len(b); at += lzxFrameSize {
		f := b[at:min(at+lzxFrameSize, len(b))]
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

// lzxEncode compresses data with a window of 2^bits in blocks of
// blockSize bytes whose types cycle through types. It returns the stream
// and the compressed offset of each frame's end.
func lzxEncode(data []byte, bits int, e8size int32, blockSize int, types ...int) ([]byte, []int) {
	src := append([]byte(nil), data...)
	e := &lzxEncoder{bits: bits, slots: lzxPositionSlots(bits), r0: 1, r1: 1, r2: 1,
		prevMain: make([]uint8, lzxMaxMainSize), prevLen: make([]uint8, lzxLengthSize)}
	if e8size != 0 {
		lzxTranslate(src, e8size)
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
		case lzxBlockStored:
			e.storedBlock(src, from, to, last)
		default:
			e.compressedBlock(t, src, from, to, last)
		}
		from = to
	}
	e.w.align()
	if frames := (len(src) + lzxFrameSize - 1) / lzxFrameSize; len(e.frameEnds) < frames {
		e.frameEnds = append(e.frameEnds, len(e.w.out))
	}
	return e.w.out, e.frameEnds
}

func lzxDecodeAll(t testing.TB, bits int, in []byte, total int64) ([]byte, error) {
	t.Helper()
	d, err := newLZX(bits, in)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(&lzxReader{d: d, total: total})
}

// lzxSample mixes text, runs, random bytes, repeats from far back (across
// frames) and E8 "calls".
func lzxSample(n int) []byte {
	r := rand.New(rand.NewSource(7))
	var b []byte
	for len(b) < n {
		switch r.Intn(5) {
		case 0:
			b = append(b, "the quick brown fox jumps over the lazy dog. "...)
		case 1:
			b = append(b, bytes.Repeat([]byte{byte(r.Intn(256))}, r.Intn(600))...)
		case 2:
			for range r.Intn(300) {
				b = append(b, byte(r.Intn(256)))
			}
		case 3:
			if len(b) > 100 {
				j := r.Intn(len(b) - 50)
				k := min(j+r.Intn(400)+3, len(b))
				b = append(b, b[j:k]...)
			}
		case 4:
			b = append(b, 0xe8)
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(r.Intn(200000)-100000)))
		}
	}
	return b[:n]
}

func TestLZXRoundTrip(t *testing.T) {
	samples := map[string][]byte{
		"sample": lzxSample(150000),
		"zeros":  make([]byte, 70000),
		"small":  []byte("hello, hello, hello world"),
		"eicar":  eicar,
	}
	r := rand.New(rand.NewSource(1))
	random := make([]byte, 40000)
	r.Read(random)
	samples["random"] = append(append(random, bytes.Repeat([]byte("x"), 5000)...), random...)
	kinds := map[string][]int{
		"stored":   {lzxBlockStored},
		"verbatim": {lzxBlockVerbatim},
		"aligned":  {lzxBlockAligned},
		"mixed":    {lzxBlockVerbatim, lzxBlockStored, lzxBlockAligned, lzxBlockStored},
	}
	for name, data := range samples {
		for kind, types := range kinds {
			for _, bits := range []int{15, 16, 21} {
				for _, e8 := range []int32{0, 12000000} {
					for _, bs := range []int{32768, 10001} {
						enc, _ := lzxEncode(data, bits, e8, bs, types...)
						got, err := lzxDecodeAll(t, bits, enc, int64(len(data)))
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("%s/%s bits %d e8 %d block %d: err %v, %d of %d bytes, equal %v",
								name, kind, bits, e8, bs, err, len(got), len(data), bytes.Equal(got, data))
						}
					}
				}
			}
		}
	}
}

func TestLZXCompresses(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 20000)
	enc, _ := lzxEncode(data, 16, 0, 65536, lzxBlockVerbatim)
	if len(enc) > len(data)/20 {
		t.Fatalf("encoder made %d bytes from %d: no matches used", len(enc), len(data))
	}
}

// TestLZXE8Translation feeds a stored frame that already carries the
// encoder's translation and checks the decoder restores the relative
// displacement, by hand-computed values.
func TestLZXE8Translation(t *testing.T) {
	data := make([]byte, lzxFrameSize+64)
	at := lzxFrameSize + 4 // second frame
	data[at] = 0xe8
	// A call 100 bytes back from at: rel -100 became abs = rel + at.
	binary.LittleEndian.PutUint32(data[at+1:], uint32(at-100))
	data[20] = 0xe8
	// A target past the translation size: rel 11,999,990 at 20 became rel - size.
	rel := int32(11999990 - 12000000)
	binary.LittleEndian.PutUint32(data[21:], uint32(rel))
	var w lzxBitWriter
	w.bits(1, 1)
	w.bits(12000000>>16, 16)
	w.bits(12000000&0xffff, 16)
	e := &lzxEncoder{w: w, r0: 1, r1: 1, r2: 1}
	e.storedBlock(data, 0, len(data), map[uint32]int{})
	got, err := lzxDecodeAll(t, 16, e.w.out, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if v := int32(binary.LittleEndian.Uint32(got[at+1:])); v != -100 {
		t.Errorf("frame 2 call: %d, want -100", v)
	}
	if v := int32(binary.LittleEndian.Uint32(got[21:])); v != 11999990 {
		t.Errorf("frame 1 call: %d, want 11999990", v)
	}
}

func TestLZXTruncatedAndDamagedStreamsFail(t *testing.T) {
	data := lzxSample(100000)
	enc, _ := lzxEncode(data, 16, 0, 40000, lzxBlockVerbatim, lzxBlockStored)
	for cut := 0; cut < len(enc); cut += 997 {
		got, err := lzxDecodeAll(t, 16, enc[:cut], int64(len(data)))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: err %v", cut, err)
		}
		if !bytes.HasPrefix(data, got) {
			t.Fatalf("cut at %d: output is not a prefix", cut)
		}
	}
	bad := append([]byte(nil), enc...)
	for i := 40; i < len(bad); i += 50 {
		bad[i] ^= 0x5a
	}
	if got, err := lzxDecodeAll(t, 16, bad, int64(len(data))); err == nil && bytes.Equal(got, data) {
		t.Fatal("damaged stream decoded to the original")
	}
	if _, err := newLZX(22, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("window 2^22: %v", err)
	}
}

func FuzzLZX(f *testing.F) {
	for _, types := range [][]int{{lzxBlockVerbatim}, {lzxBlockAligned}, {lzxBlockStored, lzxBlockVerbatim}} {
		enc, _ := lzxEncode(lzxSample(5000), 15, 1000, 3000, types...)
		f.Add(byte(15), uint16(5000), enc)
	}
	enc, _ := lzxEncode(eicar, 16, 0, 100, lzxBlockVerbatim)
	f.Add(byte(16), uint16(len(eicar)), enc)
	f.Fuzz(func(t *testing.T, bits byte, total uint16, in []byte) {
		d, err := newLZX(int(bits%8)+15, in)
		if err != nil {
			return
		}
		// Unknown length, bounded by the input: at most one frame per
		// three input bits (a block header) is plausible; cap it anyway.
		r := &lzxReader{d: d, total: int64(total) * 64}
		if total%3 == 0 {
			r.total = -1
		}
		out, _ := io.ReadAll(io.LimitReader(r, 8<<20))
		if r.total >= 0 && int64(len(out)) > r.total {
			t.Fatalf("%d bytes out, total %d", len(out), r.total)
		}
	})
}

// makeLZXCab builds a cabinet with one LZX folder (window 2^bits), each
// CFDATA block holding one frame (see makeCab).
func makeLZXCab(t testing.TB, bits int, files ...cabTestFile) []byte {
	t.Helper()
	return makeCab(t, cabTestFolder{cabCompLZX | uint16(bits)<<8, files})
}

func TestCabLZXFindsEICAR(t *testing.T) {
	big := lzxSample(100000) // spans four frames
	for _, bits := range []int{15, 17, 21} {
		data := makeLZXCab(t, bits,
			cabTestFile{"readme.txt", []byte("hello")},
			cabTestFile{"big.bin", big},
			cabTestFile{`sub\eicar.com`, eicar},
			cabTestFile{"again.txt", append(append([]byte(nil), big[:40000]...), eicar...)})
		res := walkQuiet("x.cab", data)
		wantDetection(t, res, "x.cab/sub/eicar.com", verdict.Infected, "")
		wantDetection(t, res, "x.cab/again.txt", verdict.Infected, "")
		if res.Objects != 5 || len(res.Detections) != 2 {
			t.Errorf("bits %d: want the cabinet, four files and two detections:\n%s", bits, dump(res))
		}
	}
}

func TestCabLZXTruncatedIsCorruptedAndEarlierFilesScanned(t *testing.T) {
	big := lzxSample(100000)
	data := makeLZXCab(t, 16,
		cabTestFile{"eicar.com", eicar},
		cabTestFile{"big.bin", big},
		cabTestFile{"last.txt", []byte("last")})
	res := walkQuiet("t.cab", data[:len(data)-20000])
	wantDetection(t, res, "t.cab/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "t.cab/big.bin", verdict.Corrupted, "truncated")
	wantDetection(t, res, "t.cab/last.txt", verdict.Corrupted, "")
}
