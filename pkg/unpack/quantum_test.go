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

	"ave/internal/fmtwrite"
	"ave/pkg/verdict"
)

// The Quantum streams these tests decode are written by fmtwrite's
// encoder, whose models and slot tables are its own: the cabextract
// cross-check below verifies it independently of our decoder.

// qtmEncode compresses data with fmtwrite.Quantum: one block per 32 KiB
// frame, chain earlier positions tried by the match finder.
func qtmEncode(t testing.TB, data []byte, bits, chain int) ([][]byte, fmtwrite.QuantumStats) {
	t.Helper()
	blocks, st, err := fmtwrite.Quantum(data, bits, chain)
	if err != nil {
		t.Fatal(err)
	}
	return blocks, st
}

// qtmEncoder starts a hand-made stream with a window of 2^bits.
func qtmEncoder(t testing.TB, bits int) *fmtwrite.QuantumEncoder {
	t.Helper()
	e, err := fmtwrite.NewQuantumEncoder(bits)
	if err != nil {
		t.Fatal(err)
	}
	return e
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
	blocks, st := qtmEncode(t, data, 16, 16)
	for sel, n := range st.Selectors {
		if n == 0 {
			t.Errorf("selector %d never used: %+v", sel, st)
		}
	}
	if st.CrossFrame == 0 || st.MaxLen != qtmMaxMatch || st.MaxOff < 60000 || len(blocks) != 10 {
		t.Errorf("stats %+v, %d blocks", st, len(blocks))
	}
	// The models were re-sorted along the way, changing their order: the
	// decoder must follow.
	if st.Reorders == 0 {
		t.Errorf("no model was re-sorted: %+v", st)
	}
	// Small windows: matches whose bytes wrap around the window's end.
	_, st10 := qtmEncode(t, data[:100000], 10, 16)
	if st10.CrossWrap == 0 || st10.MaxOff > 1024 {
		t.Errorf("window 2^10: stats %+v", st10)
	}
	got, err := qtmDecodeAll(16, qtmStream(blocks), int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err %v, %d of %d bytes, equal %v", err, len(got), len(data), bytes.Equal(got, data))
	}
	// Literals alone re-sort the literal models: some model's entries are
	// no longer in symbol order.
	e := qtmEncoder(t, 16)
	for _, b := range data[:100000] {
		e.Literal(b)
	}
	if e.Stats().LiteralReorders == 0 {
		t.Error("no model was re-sorted")
	}
}

func TestQuantumCompresses(t *testing.T) {
	data := qtmText(200000, 2)
	blocks, _ := qtmEncode(t, data, 20, 32)
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
			blocks, _ := qtmEncode(t, data, bits, chain)
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
	blocks, _ := qtmEncode(t, data, 15, 8)
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
	e := qtmEncoder(t, 15)
	if err := e.Match(3, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := qtmDecodeAll(15, qtmStream([][]byte{e.EndFrame()}), 3); err == nil || !strings.Contains(err.Error(), "before the start") {
		t.Errorf("match at the start: %v", err)
	}
	// A match running over the end of a frame.
	e = qtmEncoder(t, 15)
	for range qtmFrameSize - 2 {
		e.Literal('a')
	}
	if err := e.Match(5, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := qtmDecodeAll(15, qtmStream([][]byte{e.EndFrame()}), qtmFrameSize+10); err == nil || !strings.Contains(err.Error(), "runs over the end of frame 1") {
		t.Errorf("match over a frame end: %v", err)
	}
}

func FuzzQuantum(f *testing.F) {
	// Small seeds: the fuzzer's minimiser runs the target once per byte.
	for i, bits := range []int{10, 15, 21} {
		data := qtmSample(1500, int64(i))
		blocks, _ := qtmEncode(f, data, bits, 8)
		f.Add(byte(bits), uint32(len(data)), qtmStream(blocks))
	}
	text := qtmText(2000, 1)
	blocks, _ := qtmEncode(f, text, 13, 8)
	f.Add(byte(13), uint32(len(text)), qtmStream(blocks))
	// Three frames of repetitive data: frame ends and trailers.
	rep := bytes.Repeat(text[:700], 100)
	blocks, _ = qtmEncode(f, rep, 12, 4)
	f.Add(byte(12), uint32(len(rep)), qtmStream(blocks))
	blocks, _ = qtmEncode(f, eicar, 16, 4)
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
// 2^bits), one CFDATA block per frame (fmtwrite.QuantumCab).
func makeQuantumCab(t testing.TB, bits int, files ...cabTestFile) []byte {
	t.Helper()
	data, err := fmtwrite.QuantumCab(bits, cabFiles(files)...)
	if err != nil {
		t.Fatal(err)
	}
	return data
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
