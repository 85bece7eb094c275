package unpack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ave/pkg/verdict"
)

// A small Quantum encoder for the tests, written from the same format
// description as the decoder and sharing only its models and slot tables
// (which the cabextract cross-check below verifies independently): greedy LZ77
// matches from hash chains, each coded with the cheapest selector that
// can carry it (3-byte, 4-byte or variable-length matches), literals
// otherwise, and the arithmetic coder with its bits-to-follow for the
// middle-straddling case. Matches may reach back across frames but never
// run over a frame's end.
//
// The raw offset and length bits are interleaved with the coder's bits
// the way the decoder reads them: the decoder's code register runs 16
// coder bits ahead, so raw bits written while the coder has made s
// renormalising shifts come after coder bit 16+s. The encoder collects a
// frame's coder bits and raw groups apart and merges them when the frame
// ends: then the coder is flushed (two bits pick a point inside the final
// range whatever follows), zero bits fill up what the decoder's register
// will have read, and the frame is padded to a byte.

type qtmRawBits struct {
	at int // coder bit index the group comes before
	v  uint32
	n  uint8
}

type qtmStats struct {
	selectors  [qtmSelectors]int
	crossFrame int // matches reaching back before the start of their frame
	crossWrap  int // matches whose bytes run over a multiple of the window size
	maxLen     int
	maxOff     int
}

type qtmEncoder struct {
	ms     qtmModels
	lo, hi uint16
	follow int    // opposite bits owed after the next settled bit
	shifts int    // renormalising shifts made in this frame
	code   []byte // this frame's coder bits, one per byte
	raws   []qtmRawBits
	stats  qtmStats
}

func (e *qtmEncoder) emit(b byte) {
	e.code = append(e.code, b)
	for ; e.follow > 0; e.follow-- {
		e.code = append(e.code, 1-b)
	}
}

// encode codes symbol s of model m.
func (e *qtmEncoder) encode(m *qtmModel, s int) {
	k := 0
	for int(m.sym[k]) != s {
		k++
		if k >= m.n {
			panic(fmt.Sprintf("symbol %d not in the model", s))
		}
	}
	span := uint32(e.hi-e.lo) + 1
	total := uint32(m.cum[0])
	e.hi = uint16(uint32(e.lo) + uint32(m.cum[k])*span/total - 1)
	e.lo = uint16(uint32(e.lo) + uint32(m.cum[k+1])*span/total)
	m.update(k)
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

func (e *qtmEncoder) raw(v uint32, n uint8) {
	if n > 0 {
		e.raws = append(e.raws, qtmRawBits{at: 16 + e.shifts, v: v, n: n})
	}
}

// slot finds the slot of v in a base table, among the first n slots.
func qtmSlot(base []uint32, n int, v uint32) int {
	s := 0
	for s+1 < n && base[s+1] <= v {
		s++
	}
	return s
}

func (e *qtmEncoder) literal(b byte) {
	sel := int(b >> 6)
	e.stats.selectors[sel]++
	e.encode(&e.ms.selector, sel)
	e.encode(&e.ms.literal[sel], int(b))
}

func (e *qtmEncoder) match(length, off int) {
	v := uint32(off - 1)
	sel, pm := 6, &e.ms.posLong
	switch length {
	case 3:
		sel, pm = 4, &e.ms.pos3
	case 4:
		sel, pm = 5, &e.ms.pos4
	}
	e.stats.selectors[sel]++
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
}

// endFrame flushes the coder and returns the frame's bytes.
func (e *qtmEncoder) endFrame() []byte {
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
		panic("raw bits left over")
	}
	for n != 0 {
		put(0)
	}
	e.lo, e.hi, e.follow, e.shifts = 0, 0xffff, 0, 0
	e.code, e.raws = e.code[:0], e.raws[:0]
	return out
}

// qtmEncode compresses data with a window of 2^bits and returns one block
// per 32 KiB frame. chain is how many earlier positions the match finder
// tries (0: literals only).
func qtmEncode(data []byte, bits, chain int) ([][]byte, qtmStats) {
	e := &qtmEncoder{lo: 0, hi: 0xffff}
	e.ms.init(bits)
	window := 1 << bits
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
		frameEnd := min(pos-pos%qtmFrameSize+qtmFrameSize, len(data))
		for pos < frameEnd {
			maxLen := min(qtmMaxMatch, frameEnd-pos)
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
				e.match(best, bestOff)
				step = best
				if bestOff > pos%qtmFrameSize {
					e.stats.crossFrame++
				}
				if (pos+best-1)/window != pos/window {
					e.stats.crossWrap++
				}
				e.stats.maxLen = max(e.stats.maxLen, best)
				e.stats.maxOff = max(e.stats.maxOff, bestOff)
			} else {
				e.literal(data[pos])
			}
			for k := pos; k < pos+step; k++ {
				insert(k)
			}
			pos += step
		}
		blocks = append(blocks, append([]byte(nil), e.endFrame()...))
	}
	return blocks, e.stats
}

// qtmStream joins blocks the way the cabinet reader does, each followed by
// its 0xff trailer.
func qtmStream(blocks [][]byte) []byte {
	var in []byte
	for _, b := range blocks {
		in = append(append(in, b...), 0xff)
	}
	return in
}

func qtmDecodeAll(bits int, in []byte, total int64) ([]byte, error) {
	d, err := newQuantum(bits, in, total)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(&qtmReader{d: d, total: total})
}

// qtmSample mixes text, runs, random bytes and repeats from near and far
// back (across frames and up to 1.5 MiB), long enough to need matches of
// every length.
func qtmSample(n int, seed int64) []byte {
	r := rand.New(rand.NewSource(seed))
	words := strings.Fields("the quick brown fox jumps over a lazy dog while " +
		"seven wizards quietly box jugs of liquor and mail servers scan every attachment")
	var b []byte
	for len(b) < n {
		switch r.Intn(7) {
		case 0, 1:
			for range r.Intn(40) {
				b = append(append(b, words[r.Intn(len(words))]...), ' ')
			}
		case 2:
			b = append(b, bytes.Repeat([]byte{byte(r.Intn(256))}, r.Intn(700))...)
		case 3:
			for range r.Intn(300) {
				b = append(b, byte(r.Intn(256)))
			}
		case 4, 5:
			if len(b) > 10 {
				back := 1 + r.Intn(min(len(b), 1<<(10+r.Intn(11))))
				j := len(b) - back
				k := min(j+3+r.Intn(400), len(b))
				b = append(b, b[j:k]...)
			}
		case 6:
			for range r.Intn(100) { // small values: short matches
				b = append(b, byte(r.Intn(4)), byte(64+r.Intn(3)), byte(130+r.Intn(2)))
			}
		}
	}
	return b[:n]
}

func qtmText(n int, seed int64) []byte {
	r := rand.New(rand.NewSource(seed))
	words := strings.Fields("Received: from mail by relay with ESMTP id for <postmaster@example.org>; " +
		"Subject: quarterly report attached please find the figures Content-Type: text/plain charset utf-8 " +
		"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt")
	var b []byte
	for len(b) < n {
		b = append(append(b, words[r.Intn(len(words))]...), " \n"[r.Intn(8)/7])
	}
	return b[:n]
}

func qtmRandom(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func TestQuantumSlotTables(t *testing.T) {
	// The position slots of a window of 2^bits cover exactly offsets 1
	// to 2^bits; the length slots lengths 5 to 259.
	for bits := qtmMinWindow; bits <= qtmMaxWindow; bits++ {
		if got := qtmPosBase[2*bits]; got != 1<<bits {
			t.Errorf("bits %d: slots end at %d", bits, got)
		}
	}
	if qtmPosBase[24] != 4096 || qtmPosBase[36] != 262144 || qtmPosExtra[41] != 19 || qtmPosBase[5] != 6 || qtmPosExtra[5] != 1 {
		t.Errorf("position slots %v %v", qtmPosBase, qtmPosExtra)
	}
	if qtmLenBase[6] != 6 || qtmLenExtra[6] != 1 || qtmLenBase[10] != 14 || qtmLenExtra[25] != 5 ||
		qtmLenBase[26] != 254 || qtmLenExtra[26] != 0 || qtmLenBase[27]+4 != qtmMaxMatch {
		t.Errorf("length slots %v %v", qtmLenBase, qtmLenExtra)
	}
}

func TestQuantumEncoderCoversTheFormat(t *testing.T) {
	data := qtmSample(300000, 1)
	blocks, st := qtmEncode(data, 16, 16)
	for sel, n := range st.selectors {
		if n == 0 {
			t.Errorf("selector %d never used: %+v", sel, st)
		}
	}
	if st.crossFrame == 0 || st.maxLen != qtmMaxMatch || st.maxOff < 60000 || len(blocks) != 10 {
		t.Errorf("stats %+v, %d blocks", st, len(blocks))
	}
	// Small windows: matches whose bytes wrap around the window's end.
	_, st = qtmEncode(data[:100000], 10, 16)
	if st.crossWrap == 0 || st.maxOff > 1024 {
		t.Errorf("window 2^10: stats %+v", st)
	}
	got, err := qtmDecodeAll(16, qtmStream(blocks), int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err %v, %d of %d bytes, equal %v", err, len(got), len(data), bytes.Equal(got, data))
	}
	// The models were re-sorted along the way: some literal model's
	// entries are no longer in symbol order.
	e := &qtmEncoder{lo: 0, hi: 0xffff}
	e.ms.init(16)
	for _, b := range data[:100000] {
		e.literal(b)
	}
	sorted := true
	for _, m := range e.ms.literal {
		for i := 1; i < m.n; i++ {
			sorted = sorted && m.sym[i-1] < m.sym[i]
		}
	}
	if sorted {
		t.Error("no model was re-sorted")
	}
}

func TestQuantumCompresses(t *testing.T) {
	data := qtmText(200000, 2)
	blocks, _ := qtmEncode(data, 20, 32)
	if n := len(qtmStream(blocks)); n > len(data)/4 {
		t.Fatalf("%d bytes from %d", n, len(data))
	}
}

func TestQuantumRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for bits := qtmMinWindow; bits <= qtmMaxWindow; bits++ {
		for i := range 12 {
			var data []byte
			n := r.Intn(120000)
			switch i % 6 {
			case 0:
				data = qtmSample(n, r.Int63())
			case 1:
				data = qtmText(n, r.Int63())
			case 2:
				data = qtmRandom(n, r.Int63())
			case 3:
				data = bytes.Repeat([]byte{byte(r.Intn(256))}, n)
			case 4:
				data = qtmRandom(r.Intn(40), r.Int63())
			case 5:
				// An exact number of frames.
				data = qtmSample(qtmFrameSize*(1+r.Intn(3)), r.Int63())
			}
			chain := []int{0, 1, 8, 64}[r.Intn(4)]
			blocks, _ := qtmEncode(data, bits, chain)
			got, err := qtmDecodeAll(bits, qtmStream(blocks), int64(len(data)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("bits %d case %d (%d bytes, chain %d): err %v, %d bytes back, equal %v",
					bits, i, len(data), chain, err, len(got), bytes.Equal(got, data))
			}
		}
	}
}

func TestQuantumBadWindowAndDamagedStreams(t *testing.T) {
	for _, bits := range []int{0, 9, 22, 31} {
		if _, err := newQuantum(bits, nil, 10); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cab: Quantum: window size") {
			t.Errorf("bits %d: %v", bits, err)
		}
	}
	data := qtmSample(100000, 4)
	blocks, _ := qtmEncode(data, 15, 8)
	in := qtmStream(blocks)
	for cut := 0; cut < len(in)-4; cut += 499 {
		got, err := qtmDecodeAll(15, in[:cut], int64(len(data)))
		if !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+": "), "cab: Quantum: ") {
			t.Fatalf("cut at %d: err %v", cut, err)
		}
		if !bytes.HasPrefix(data, got) {
			t.Fatalf("cut at %d: output is not a prefix", cut)
		}
	}
	// A frame whose trailer is gone: the next frame cannot be found.
	noTrailer := bytes.Join(blocks, nil)
	if _, err := qtmDecodeAll(15, noTrailer, int64(len(data))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("frames without trailers: %v", err)
	}
	// Garbage: errors or some output, never more than asked for, no panic.
	r := rand.New(rand.NewSource(5))
	failed := 0
	for i := range 300 {
		g := qtmRandom(r.Intn(3000), int64(i))
		total := int64(r.Intn(100000))
		got, err := qtmDecodeAll(qtmMinWindow+i%12, g, total)
		if int64(len(got)) > total {
			t.Fatalf("garbage %d: %d bytes out of %d", i, len(got), total)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("garbage %d: %v", i, err)
			}
			failed++
		}
	}
	if failed < 250 {
		t.Errorf("only %d of 300 garbage streams failed", failed)
	}
	// Hand-made impossible values: a first symbol that is a match has
	// nothing to refer to.
	e := &qtmEncoder{lo: 0, hi: 0xffff}
	e.ms.init(15)
	e.match(3, 1)
	if _, err := qtmDecodeAll(15, qtmStream([][]byte{e.endFrame()}), 3); err == nil || !strings.Contains(err.Error(), "before the start") {
		t.Errorf("match at the start: %v", err)
	}
	// A match running over the end of a frame.
	e.ms.init(15)
	for range qtmFrameSize - 2 {
		e.literal('a')
	}
	e.match(5, 1)
	if _, err := qtmDecodeAll(15, qtmStream([][]byte{e.endFrame()}), qtmFrameSize+10); err == nil || !strings.Contains(err.Error(), "runs over the end of frame 1") {
		t.Errorf("match over a frame end: %v", err)
	}
}

func FuzzQuantum(f *testing.F) {
	// Small seeds: the fuzzer's minimiser runs the target once per byte.
	for i, bits := range []int{10, 15, 21} {
		data := qtmSample(1500, int64(i))
		blocks, _ := qtmEncode(data, bits, 8)
		f.Add(byte(bits), uint32(len(data)), qtmStream(blocks))
	}
	text := qtmText(2000, 1)
	blocks, _ := qtmEncode(text, 13, 8)
	f.Add(byte(13), uint32(len(text)), qtmStream(blocks))
	// Three frames of repetitive data: frame ends and trailers.
	rep := bytes.Repeat(text[:700], 100)
	blocks, _ = qtmEncode(rep, 12, 4)
	f.Add(byte(12), uint32(len(rep)), qtmStream(blocks))
	blocks, _ = qtmEncode(eicar, 16, 4)
	f.Add(byte(16), uint32(len(eicar)), qtmStream(blocks))
	f.Fuzz(func(t *testing.T, bits byte, total uint32, in []byte) {
		total %= 3 * qtmFrameSize // several frames, and quick enough to fuzz
		d, err := newQuantum(int(bits%14)+9, in, int64(total))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatal(err)
			}
			return
		}
		if int64(len(d.win)) > max(int64(total)+2*qtmMaxMatch, 1<<qtmMinWindow) && int64(len(d.win)) > d.window {
			t.Fatalf("window of %d bytes for %d of output", len(d.win), total)
		}
		out, err := io.ReadAll(&qtmReader{d: d, total: int64(total)})
		if int64(len(out)) > int64(total) {
			t.Fatalf("%d bytes out, total %d", len(out), total)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v", err)
		}
	})
}

// makeQuantumCab builds a cabinet with one Quantum folder (window
// 2^bits), one CFDATA block per frame (see makeCab).
func makeQuantumCab(t testing.TB, bits int, files ...cabTestFile) []byte {
	t.Helper()
	return makeCab(t, cabTestFolder{cabCompQuantum | 4<<4 | uint16(bits)<<8, files})
}

// cabContents decodes every file of a cabinet with walkCab.
func cabContents(t *testing.T, data []byte) (map[string][]byte, map[string]error) {
	t.Helper()
	got, errs := map[string][]byte{}, map[string]error{}
	err := walkCab(context.Background(), &Container{Data: data}, func(m Member) error {
		r, err := m.Open()
		if err == nil {
			got[m.Name], err = io.ReadAll(r)
		}
		if err != nil {
			errs[m.Name] = err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walkCab: %v", err)
	}
	return got, errs
}

// cabextractCLI extracts a cabinet with Debian's cabextract (libmspack),
// or skips the test.
func cabextractCLI(t *testing.T, data []byte) (map[string][]byte, error) {
	t.Helper()
	if _, err := exec.LookPath("cabextract"); err != nil {
		t.Skip("cabextract command not installed")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.cab"), data)
	out := filepath.Join(dir, "out")
	if msg, err := exec.Command("cabextract", "-q", "-d", out, filepath.Join(dir, "in.cab")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, msg)
	}
	got := map[string][]byte{}
	err := filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		got[filepath.ToSlash(rel)] = readFile(t, p)
		return nil
	})
	return got, err
}

// TestCabQuantumMatchesCabextract: libmspack's decoder, an implementation
// independent of ours, extracts cabinets made by the test encoder byte
// for byte, so the encoder writes real Quantum; our decoder then reads
// the same cabinets to the same bytes.
func TestCabQuantumMatchesCabextract(t *testing.T) {
	kinds := map[string]func(int, int64) []byte{"text": qtmText, "random": qtmRandom, "mixed": qtmSample}
	for _, bits := range []int{10, 12, 15, 17, 21} {
		for kind, gen := range kinds {
			n := 150000
			if bits == 21 && kind == "mixed" {
				n = 1200000 // offsets far beyond 2^20
			}
			data := gen(n, int64(bits))
			files := []cabTestFile{
				{"first.bin", data[:70001]},
				{`dir\second.bin`, data[70001:]},
				{"empty", nil},
				{"tail.txt", []byte("the end")},
			}
			cab := makeQuantumCab(t, bits, files...)
			name := fmt.Sprintf("bits %d %s", bits, kind)
			ext, err := cabextractCLI(t, cab)
			if err != nil {
				t.Fatalf("%s: cabextract: %v", name, err)
			}
			ours, errs := cabContents(t, cab)
			for _, f := range files {
				slash := strings.ReplaceAll(f.name, `\`, "/")
				if !bytes.Equal(ext[slash], f.data) {
					t.Errorf("%s: cabextract gave %d bytes for %s, want %d", name, len(ext[slash]), slash, len(f.data))
				}
				if errs[slash] != nil || !bytes.Equal(ours[slash], f.data) {
					t.Errorf("%s: we gave %d bytes for %s (err %v), want %d", name, len(ours[slash]), slash, errs[slash], len(f.data))
				}
			}
		}
	}
}

func TestCabQuantumFindsEICAR(t *testing.T) {
	big := qtmSample(100000, 6) // four frames
	for _, bits := range []int{10, 15, 21} {
		data := makeQuantumCab(t, bits,
			cabTestFile{"readme.txt", []byte("hello")},
			cabTestFile{"big.bin", big},
			cabTestFile{`sub\eicar.com`, eicar},
			cabTestFile{"again.txt", append(append([]byte(nil), big[:40000]...), eicar...)})
		res := walkQuiet("q.cab", data)
		wantDetection(t, res, "q.cab/sub/eicar.com", verdict.Infected, "")
		wantDetection(t, res, "q.cab/again.txt", verdict.Infected, "")
		wantNoDetection(t, res, verdict.Corrupted)
		wantNoDetection(t, res, verdict.Unchecked)
		if res.Objects != 5 || len(res.Detections) != 2 {
			t.Errorf("bits %d: want the cabinet, four files and two detections:\n%s", bits, dump(res))
		}
	}
	clean := walkQuiet("c.cab", makeQuantumCab(t, 16, cabTestFile{"a.txt", qtmText(50000, 7)}))
	if clean.Status != verdict.Clean || clean.Objects != 2 {
		t.Errorf("want a clean cabinet of one file:\n%s", dump(clean))
	}
}

// TestCabQuantumNestedThreeLevels: a cpio inside a Quantum cab inside an xz.
func TestCabQuantumNestedThreeLevels(t *testing.T) {
	cp := makeCpio(t, "newc", cpioFile{"bin/eicar.com", 0o100755, eicar})
	cab := makeQuantumCab(t, 18, cabTestFile{"notes.txt", qtmText(40000, 8)}, cabTestFile{`pkg\payload.cpio`, cp})
	res := walk("setup.cab.xz", makeXz(t, cab), Limits{})
	d := wantDetection(t, res, "setup.cab.xz/setup.cab/pkg/payload.cpio/bin/eicar.com", verdict.Infected, "")
	if d.Depth != 3 {
		t.Errorf("depth %d", d.Depth)
	}
}

func TestCabQuantumTruncatedIsCorruptedAndEarlierFilesScanned(t *testing.T) {
	big := qtmSample(100000, 9)
	data := makeQuantumCab(t, 16,
		cabTestFile{"eicar.com", eicar},
		cabTestFile{"big.bin", big},
		cabTestFile{"last.txt", []byte("last")})
	res := walkQuiet("t.cab", data[:len(data)-20000])
	wantDetection(t, res, "t.cab/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "t.cab/big.bin", verdict.Corrupted, "cab: Quantum: data truncated")
	wantDetection(t, res, "t.cab/last.txt", verdict.Corrupted, "")

}
