package unpack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"testing"

	"ave/internal/fmtwrite"
	"ave/pkg/verdict"
)

// The LZX streams these tests decode are written by fmtwrite.LZX.

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
						enc, _ := fmtwrite.LZX(data, bits, e8, bs, types...)
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
	enc, _ := fmtwrite.LZX(data, 16, 0, 65536, lzxBlockVerbatim)
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
	enc, _ := fmtwrite.LZXPretranslated(data, 16, 12000000, len(data), lzxBlockStored)
	got, err := lzxDecodeAll(t, 16, enc, int64(len(data)))
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
	enc, _ := fmtwrite.LZX(data, 16, 0, 40000, lzxBlockVerbatim, lzxBlockStored)
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
		enc, _ := fmtwrite.LZX(lzxSample(5000), 15, 1000, 3000, types...)
		f.Add(byte(15), uint16(5000), enc)
	}
	enc, _ := fmtwrite.LZX(eicar, 16, 0, 100, lzxBlockVerbatim)
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
// CFDATA block holding one frame (fmtwrite.LZXCab).
func makeLZXCab(t testing.TB, bits int, files ...cabTestFile) []byte {
	t.Helper()
	data, err := fmtwrite.LZXCab(bits, cabFiles(files)...)
	if err != nil {
		t.Fatal(err)
	}
	return data
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
