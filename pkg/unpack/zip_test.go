package unpack

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz/lzma"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// zipCLI runs Debian's zip in dir, skipping the test when it is missing.
func zipCLI(t *testing.T, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("zip"); err != nil {
		t.Skip("zip command not installed")
	}
	cmd := exec.Command("zip", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zip %v: %v\n%s", args, err, out)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestZipFindsEICARInArchiveMadeByGo(t *testing.T) {
	for _, method := range []uint16{zip.Store, zip.Deflate} {
		data := makeZip(t,
			zipEntry{"readme.txt", []byte("hello"), method},
			zipEntry{"docs/", nil, zip.Store},
			zipEntry{"docs/eicar.com", eicar, method})
		res := walk("a.zip", data, Limits{})
		d := wantDetection(t, res, "a.zip/docs/eicar.com", verdict.Infected, "")
		if d.Depth != 1 || d.Name != "EICAR" {
			t.Errorf("method %d: detection %+v", method, d)
		}
		if res.Objects != 3 {
			t.Errorf("method %d: %d objects, want archive and two files (directories skipped)", method, res.Objects)
		}
	}
}

func TestZipFindsEICARInArchiveMadeByZipCLI(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "eicar.com"), eicar)
	writeFile(t, filepath.Join(dir, "notes.txt"), bytes.Repeat([]byte("compressible text "), 100))
	zipCLI(t, dir, "-q", "-9", "a.zip", "notes.txt", "eicar.com")
	res := walk("a.zip", readFile(t, filepath.Join(dir, "a.zip")), Limits{})
	wantDetection(t, res, "a.zip/eicar.com", verdict.Infected, "")
	if _, ok := detection(res, "a.zip/notes.txt", verdict.Infected); ok {
		t.Errorf("clean member reported:\n%s", dump(res))
	}
}

func TestZipCleanArchiveIsClean(t *testing.T) {
	data := makeZip(t, zipEntry{"a.txt", []byte("alpha"), zip.Deflate}, zipEntry{"b.bin", randomBytes(t, 4096), zip.Store})
	res := walk("clean.zip", data, Limits{})
	if res.Status != verdict.Clean || res.Objects != 3 {
		t.Fatalf("want 3 clean objects:\n%s", dump(res))
	}
}

func TestZipPasswordProtectedByZipCLIIsProtected(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "eicar.com"), eicar)
	writeFile(t, filepath.Join(dir, "plain.txt"), []byte("not secret"))
	zipCLI(t, dir, "-q", "-P", "secret", "enc.zip", "eicar.com")
	zipCLI(t, dir, "-q", "enc.zip", "plain.txt") // add an unencrypted member
	res := walk("enc.zip", readFile(t, filepath.Join(dir, "enc.zip")), Limits{})
	wantDetection(t, res, "enc.zip/eicar.com", verdict.Protected, "encrypted")
	wantNoDetection(t, res, verdict.Infected)
	if _, ok := detection(res, "enc.zip/plain.txt", verdict.Protected); ok {
		t.Errorf("plain member reported protected")
	}
	if res.Status != verdict.Protected {
		t.Errorf("status %s", res.Status)
	}
}

func TestZipEncryptionFlagAndAESMethodAreProtected(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, fh := range []*zip.FileHeader{
		{Name: "zipcrypto.exe", Method: zip.Store, Flags: 0x1},
		{Name: "aes.exe", Method: 99},
	} {
		fh.CRC32 = crc32.ChecksumIEEE(eicar)
		fh.CompressedSize64, fh.UncompressedSize64 = uint64(len(eicar)), uint64(len(eicar))
		w, err := zw.CreateRaw(fh)
		if err != nil {
			t.Fatal(err)
		}
		// The bytes are plain, so a reader that ignored the flag would see EICAR.
		if _, err := w.Write(eicar); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Path == "e.zip" {
			return nil, false, nil // only the members matter here
		}
		return inspectEICAR(ctx, o)
	}}
	res := w.Walk(context.Background(), "e.zip", data, "", false)
	wantDetection(t, res, "e.zip/zipcrypto.exe", verdict.Protected, "encrypted")
	wantDetection(t, res, "e.zip/aes.exe", verdict.Protected, "encrypted")
	wantNoDetection(t, res, verdict.Infected)

	// The same archive without its central directory takes the local
	// header path, which must see the flags too.
	cut := data[:bytes.Index(data, zipCentralSig)]
	res = w.Walk(context.Background(), "e.zip", cut, "", false)
	wantDetection(t, res, "e.zip/zipcrypto.exe", verdict.Protected, "encrypted")
	wantDetection(t, res, "e.zip/aes.exe", verdict.Protected, "encrypted")
	wantNoDetection(t, res, verdict.Infected)
}

func TestZipTruncatedArchiveIsCorruptedAndEarlierMembersScanned(t *testing.T) {
	cases := map[string][]byte{
		"go": makeZip(t, zipEntry{"eicar.com", eicar, zip.Deflate}, zipEntry{"big.bin", randomBytes(t, 8192), zip.Deflate}),
	}
	if _, err := exec.LookPath("zip"); err == nil {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "eicar.com"), eicar)
		writeFile(t, filepath.Join(dir, "big.bin"), randomBytes(t, 8192))
		zipCLI(t, dir, "-q", "t.zip", "eicar.com", "big.bin")
		cases["cli"] = readFile(t, filepath.Join(dir, "t.zip"))
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			cut := data[:len(data)/2] // inside big.bin
			w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
				if o.Path == "t.zip" {
					return nil, false, nil // the raw archive may hold EICAR stored
				}
				return inspectEICAR(ctx, o)
			}}
			res := w.Walk(context.Background(), "t.zip", cut, "", false)
			wantDetection(t, res, "t.zip/eicar.com", verdict.Infected, "")
			wantDetection(t, res, "t.zip", verdict.Corrupted, "zip: unpack: corrupted: central directory missing: members read from local headers (2 found; no end of central directory record)")
			wantDetection(t, res, "t.zip/big.bin", verdict.Corrupted, "unexpected EOF")
		})
	}
}

func TestZipCutInsideLocalHeaderIsCorrupted(t *testing.T) {
	data := makeZip(t, zipEntry{"a.txt", []byte("alpha"), zip.Store}, zipEntry{"b.txt", []byte("beta"), zip.Store})
	second := bytes.LastIndex(data, zipLocalSig)
	res := walk("h.zip", data[:second+10], Limits{})
	wantDetection(t, res, "h.zip", verdict.Corrupted, "local header truncated")
	if res.Objects != 2 {
		t.Errorf("%d objects, want the archive and a.txt:\n%s", res.Objects, dump(res))
	}
	res = walk("n.zip", []byte("PK\x03\x04"), Limits{})
	wantDetection(t, res, "n.zip", verdict.Corrupted, "local header truncated")
	res = walk("e.zip", []byte("PK\x05\x06 not really"), Limits{})
	wantDetection(t, res, "e.zip", verdict.Corrupted, "no local file header")
}

func TestZipUnknownMethodIsUncheckedAndWalkContinues(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range []struct {
		name   string
		method uint16
	}{{"ppmd.bin", 98}, {"eicar.com", zip.Store}} {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: e.method, CRC32: crc32.ChecksumIEEE(eicar),
			CompressedSize64: uint64(len(eicar)), UncompressedSize64: uint64(len(eicar))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(eicar); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	res := walk("m.zip", data, Limits{})
	wantDetection(t, res, "m.zip/ppmd.bin", verdict.Unchecked, "unsupported: zip: compression method 98")
	wantDetection(t, res, "m.zip/eicar.com", verdict.Infected, "")
	wantNoDetection(t, res, verdict.Corrupted)
	// And through the local header walk.
	res = walk("m.zip", data[:bytes.Index(data, zipCentralSig)], Limits{})
	wantDetection(t, res, "m.zip/ppmd.bin", verdict.Unchecked, "unsupported: zip: compression method 98")
	wantDetection(t, res, "m.zip/eicar.com", verdict.Infected, "")
}

func TestZipBzip2MethodIsDecoded(t *testing.T) {
	packed := eicarBzip2(t)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "eicar.com", Method: zipMethodBzip2, CRC32: crc32.ChecksumIEEE(eicar),
		CompressedSize64: uint64(len(packed)), UncompressedSize64: uint64(len(eicar))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(packed); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	res := walk("b.zip", data, Limits{})
	wantDetection(t, res, "b.zip/eicar.com", verdict.Infected, "")

	// And through the local header walk.
	res = walk("b.zip", data[:bytes.Index(data, zipCentralSig)], Limits{})
	wantDetection(t, res, "b.zip/eicar.com", verdict.Infected, "")
}

func TestZipChecksumMismatchIsCorruptedButScanned(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "eicar.com", Method: zip.Store, CRC32: 12345,
		CompressedSize64: uint64(len(eicar)), UncompressedSize64: uint64(len(eicar))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(eicar); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	res := walk("c.zip", buf.Bytes(), Limits{})
	wantDetection(t, res, "c.zip/eicar.com", verdict.Corrupted, "checksum")
	wantDetection(t, res, "c.zip/eicar.com", verdict.Infected, "")
}

func TestZipInsecurePathsAreStillScanned(t *testing.T) {
	data := makeZip(t, zipEntry{"../../etc/eicar.com", eicar, zip.Deflate}, zipEntry{"/abs/x.txt", []byte("x"), zip.Deflate})
	res := walk("p.zip", data, Limits{})
	wantDetection(t, res, "p.zip/../../etc/eicar.com", verdict.Infected, "")
	if res.Objects != 3 {
		t.Errorf("%d objects:\n%s", res.Objects, dump(res))
	}
}

func TestZipLocalHeaderWalkFollowsDataDescriptors(t *testing.T) {
	// Go's writer streams: sizes follow the data in descriptors, so the
	// fallback must find where each deflate or stored entry ends.
	data := makeZip(t,
		zipEntry{"a.txt", bytes.Repeat([]byte("a"), 5000), zip.Deflate},
		zipEntry{"s.bin", []byte("stored, size unknown"), zip.Store},
		zipEntry{"eicar.com", eicar, zip.Deflate})
	cut := data[:bytes.Index(data, zipCentralSig)]
	res := walk("d.zip", cut, Limits{})
	wantDetection(t, res, "d.zip/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "d.zip", verdict.Corrupted, "members read from local headers (3 found;")
	if res.Objects != 4 {
		t.Errorf("%d objects:\n%s", res.Objects, dump(res))
	}
}

func TestZipMemberNamesKeepTheirFolders(t *testing.T) {
	var got []string
	data := makeZip(t, zipEntry{"./a/b.txt", []byte("b"), zip.Store}, zipEntry{"c/", nil, zip.Store}, zipEntry{"c/d.txt", []byte("d"), zip.Store})
	err := walkZip(context.Background(), &Container{Data: data, Name: "n.zip", MaxDepth: 16}, func(m Member) error {
		got = append(got, m.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "./a/b.txt,c/d.txt" {
		t.Errorf("members %q", got)
	}
}

func FuzzWalkZip(f *testing.F) {
	f.Add(makeZip(f, zipEntry{"eicar.com", eicar, zip.Deflate}, zipEntry{"d/", nil, zip.Store}, zipEntry{"s.txt", []byte("stored"), zip.Store}))
	nested := makeZip(f, zipEntry{"in.zip", makeZip(f, zipEntry{"x.txt", []byte("inner"), zip.Deflate}), zip.Store})
	f.Add(nested)
	f.Add(nested[:len(nested)/2])
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	var hdr [30]byte
	copy(hdr[:], zipLocalSig)
	binary.LittleEndian.PutUint16(hdr[6:], zipFlagDataDescriptor)
	binary.LittleEndian.PutUint16(hdr[8:], zipMethodBzip2)
	f.Add(append(hdr[:], "BZh91AY&SY"...))
	// Damaged directories, walked from the local headers: cut before it,
	// zeroed, its second entry spoiled; Go's writer puts data descriptors
	// after deflated and stored entries.
	three := makeZip(f, zipEntry{"a.txt", []byte("alpha"), zip.Deflate}, zipEntry{"eicar.com", eicar, zip.Store},
		zipEntry{"c.txt", bytes.Repeat([]byte("gamma "), 50), zip.Deflate})
	cd := bytes.Index(three, zipCentralSig)
	f.Add(three[:cd])
	zeroed := append([]byte(nil), three...)
	clear(zeroed[cd : len(zeroed)-zipEndLen])
	f.Add(zeroed)
	spoiled := append([]byte(nil), three...)
	copy(spoiled[cd+bytes.Index(spoiled[cd+1:], zipCentralSig)+1:], "XXXX")
	f.Add(spoiled)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.zip", data)
	})
}

// lsbBitWriter writes a deflate bit stream: values least significant bit
// first, Huffman codes most significant bit first.
type lsbBitWriter struct {
	out []byte
	acc uint64
	n   uint
}

func (w *lsbBitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

func (w *lsbBitWriter) code(c uint64, n uint) {
	var r uint64
	for i := uint(0); i < n; i++ {
		r = r<<1 | (c>>i)&1
	}
	w.bits(r, n)
}

func (w *lsbBitWriter) flush() {
	if w.n > 0 {
		w.bits(0, 8-w.n)
	}
}

// deflate64Sample is a stream only Deflate64 can read: a stored block of
// 40,000 bytes (EICAR at 7,000), then a fixed-code block with one match of
// length 1,000 (code 285 + 16 extra bits) at distance 33,000 (distance
// code 30 + 14 extra bits), which copies EICAR again. It returns the
// stream and what it decodes to.
func deflate64Sample() ([]byte, []byte) {
	r := rand.New(rand.NewSource(3))
	plain := make([]byte, 40000)
	r.Read(plain)
	copy(plain[7000:], eicar)
	var w lsbBitWriter
	w.bits(0, 1) // not final
	w.bits(0, 2) // stored
	w.flush()
	w.out = binary.LittleEndian.AppendUint16(w.out, uint16(len(plain)))
	w.out = binary.LittleEndian.AppendUint16(w.out, ^uint16(len(plain)))
	w.out = append(w.out, plain...)
	w.bits(1, 1)              // final
	w.bits(1, 2)              // fixed codes
	w.code(0xc0+(285-280), 8) // length code 285
	w.bits(1000-3, 16)        // its 16 extra bits
	w.code(30, 5)             // distance code 30
	w.bits(33000-32769, 14)   // its 14 extra bits
	w.code(0, 7)              // end of block
	w.flush()
	want := append(append([]byte(nil), plain...), plain[7000:8000]...)
	return w.out, want
}

func TestInflate64(t *testing.T) {
	stream, want := deflate64Sample()
	got, err := io.ReadAll(newInflate64(bytes.NewReader(stream)))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("deflate64 sample: err %v, equal %v", err, bytes.Equal(got, want))
	}
	// Deflate without length code 285 (258 in deflate, 3 + 16 bits in
	// Deflate64) reads the same: random words never repeat 258 bytes.
	words := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau")
	r := rand.New(rand.NewSource(5))
	var data []byte
	for len(data) < 200000 {
		data = append(data, words[r.Intn(len(words))]...)
		data = append(data, " \n"[r.Intn(2)])
	}
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.HuffmanOnly} {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, level)
		fw.Write(data)
		fw.Close()
		got, err := io.ReadAll(newInflate64(bytes.NewReader(b.Bytes())))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: err %v, %d of %d bytes", level, err, len(got), len(data))
		}
		for cut := 1; cut < b.Len(); cut += b.Len()/7 + 1 {
			got, err := io.ReadAll(newInflate64(bytes.NewReader(b.Bytes()[:cut])))
			if !errors.Is(err, ErrCorrupt) || !bytes.HasPrefix(data, got) {
				t.Fatalf("level %d cut %d: err %v, prefix %v", level, cut, err, bytes.HasPrefix(data, got))
			}
		}
	}
}

// zipRaw stores already compressed members.
func zipRaw(t *testing.T, entries ...*zip.FileHeader) func(bodies ...[]byte) []byte {
	return func(bodies ...[]byte) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i, h := range entries {
			h.CompressedSize64 = uint64(len(bodies[i]))
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(bodies[i])
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
}

// zipLZMABody compresses data as a zip LZMA member body (version, size of
// the properties, properties, raw stream) with ulikunitz/xz's writer,
// with an end marker or with the size known.
func zipLZMABody(t *testing.T, data []byte, eos bool) []byte {
	var b bytes.Buffer
	cfg := lzma.WriterConfig{}
	if !eos {
		cfg.SizeInHeader, cfg.Size = true, int64(len(data))
	}
	w, err := cfg.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	alone := b.Bytes()
	body := []byte{0x10, 0x02, 5, 0}
	body = append(body, alone[:5]...)
	return append(body, alone[lzma.HeaderLen:]...)
}

func TestZipDeflate64AndLZMAMadeByGo(t *testing.T) {
	d64, plain := deflate64Sample()
	big := lzxSample(100000)
	data := zipRaw(t,
		&zip.FileHeader{Name: "d64.bin", Method: zipMethodDeflate64, CRC32: crc32.ChecksumIEEE(plain), UncompressedSize64: uint64(len(plain))},
		&zip.FileHeader{Name: "eos.com", Method: zipMethodLZMA, Flags: zipFlagLZMAEOS, CRC32: crc32.ChecksumIEEE(eicar), UncompressedSize64: uint64(len(eicar))},
		&zip.FileHeader{Name: "big.bin", Method: zipMethodLZMA, CRC32: crc32.ChecksumIEEE(big), UncompressedSize64: uint64(len(big))},
		&zip.FileHeader{Name: "sized.com", Method: zipMethodLZMA, CRC32: crc32.ChecksumIEEE(eicar), UncompressedSize64: uint64(len(eicar))},
	)(d64, zipLZMABody(t, eicar, true), zipLZMABody(t, big, false), zipLZMABody(t, eicar, false))
	for _, cut := range []bool{false, true} {
		in := data
		if cut { // no central directory: the local header walk
			in = data[:bytes.Index(data, zipCentralSig)]
		}
		res := walk("m.zip", in, Limits{})
		wantDetection(t, res, "m.zip/d64.bin", verdict.Infected, "")
		wantDetection(t, res, "m.zip/eos.com", verdict.Infected, "")
		wantDetection(t, res, "m.zip/sized.com", verdict.Infected, "")
		if _, ok := detection(res, "m.zip/big.bin", verdict.Corrupted); ok {
			t.Errorf("cut %v:\n%s", cut, dump(res))
		}
	}
	// Truncated inside the big LZMA member: the earlier ones are scanned.
	res := walk("t.zip", data[:bytes.Index(data, []byte("sized.com"))-2000], Limits{})
	wantDetection(t, res, "t.zip/eos.com", verdict.Infected, "")
	wantDetection(t, res, "t.zip/big.bin", verdict.Corrupted, "")
}

// TestZipDeflate64AndLZMAMadeBy7z uses p7zip's 7z where it is installed.
func TestZipDeflate64AndLZMAMadeBy7z(t *testing.T) {
	if _, err := exec.LookPath("7z"); err != nil {
		t.Skip("7z command not installed")
	}
	for _, m := range []string{"Deflate64", "LZMA"} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "notes.txt"), lzxSample(200000))
		// Padded so that 7z compresses it rather than storing it.
		writeFile(t, filepath.Join(dir, "eicar.com"), append(append([]byte(nil), eicar...), bytes.Repeat([]byte(" "), 4000)...))
		cmd := exec.Command("7z", "a", "-tzip", "-mm="+m, "a.zip", "notes.txt", "eicar.com")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("7z %s: %v\n%s", m, err, out)
		}
		data := readFile(t, filepath.Join(dir, "a.zip"))
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			if want := map[string]uint16{"Deflate64": zipMethodDeflate64, "LZMA": zipMethodLZMA}[m]; f.Method != want {
				t.Fatalf("%s: 7z wrote %s with method %d", m, f.Name, f.Method)
			}
		}
		res := walk("a.zip", data, Limits{})
		wantDetection(t, res, "a.zip/eicar.com", verdict.Infected, "")
		if res.Objects != 3 || len(res.Detections) != 1 {
			t.Errorf("%s: want the archive, two files and one detection:\n%s", m, dump(res))
		}
		res = walk("a.zip", data[:len(data)/2], Limits{})
		wantDetection(t, res, "a.zip", verdict.Corrupted, "")
	}
}

func FuzzInflate64(f *testing.F) {
	stream, _ := deflate64Sample()
	f.Add(stream[len(stream)-40:])
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	fw.Write([]byte("alpha beta alpha beta gamma alpha beta gamma delta"))
	fw.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		// Every symbol costs at least one input bit and a match makes at
		// most 65,538 bytes: the output is bounded by the input. Read at
		// most 4 MiB, so that every run is short: an 80 s session with
		// 64 MiB ended once in "context deadline exceeded" and no
		// failing input, as when a run is still going at -fuzztime.
		out, _ := io.ReadAll(io.LimitReader(newInflate64(bytes.NewReader(in)), 4<<20))
		if int64(len(out)) > int64(len(in))*8*65538+65535 {
			t.Fatalf("%d bytes from %d", len(out), len(in))
		}
	})
}

// overlapZipBomb is the overlapping-entries construction of Fifield's
// "better zip bomb" in its simplest form: one local entry holding a deflate
// stream of mib MiB of zeros, and n central directory entries that all
// point at it. The end record holds n modulo 65536.
func overlapZipBomb(t testing.TB, mib, n int) []byte {
	t.Helper()
	var body bytes.Buffer
	crc, packed := zeroDeflate(t, &body, mib)
	le := binary.LittleEndian
	b := append([]byte(nil), zipLocalSig...)
	b = le.AppendUint16(b, 20)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, zipMethodDeflate)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, crc)
	b = le.AppendUint32(b, uint32(packed))
	b = le.AppendUint32(b, uint32(mib<<20))
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 0)
	b = append(b, 'k')
	b = append(b, body.Bytes()...)
	cdStart := len(b)
	for i := 0; i < n; i++ {
		name := strconv.Itoa(i)
		b = append(b, zipCentralSig...)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, zipMethodDeflate)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, crc)
		b = le.AppendUint32(b, uint32(packed))
		b = le.AppendUint32(b, uint32(mib<<20))
		b = le.AppendUint16(b, uint16(len(name)))
		b = append(b, make([]byte, 12)...) // extra, comment, disk, attributes
		b = le.AppendUint32(b, 0)          // every local header at offset 0
		b = append(b, name...)
	}
	cdSize := len(b) - cdStart
	b = append(b, "PK\x05\x06"...)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, uint16(n))
	b = le.AppendUint16(b, uint16(n))
	b = le.AppendUint32(b, uint32(cdSize))
	b = le.AppendUint32(b, uint32(cdStart))
	return le.AppendUint16(b, 0)
}

func TestZipOverlappingEntriesEndFast(t *testing.T) {
	// 21 MiB of zeros in 21 KiB: each entry would inflate up to the ratio
	// limit (5 MB) before being refused; 2,000 of them ran to the deadline.
	data := overlapZipBomb(t, 21, 2000)
	start := time.Now()
	inflated := 0
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Depth > 0 {
			inflated++
		}
		return nil, false, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := w.Walk(ctx, "bomb.zip", data, "", false)
	took := time.Since(start)
	wantDetection(t, res, "bomb.zip", verdict.Corrupted, "overlapping zip entries")
	if res.Status != verdict.Corrupted {
		t.Errorf("status %s:\n%s", res.Status, dump(res))
	}
	ratio := 0
	for _, d := range res.Detections {
		if strings.Contains(d.Reason, "compression ratio") {
			ratio++
		}
	}
	if inflated+ratio > 2 {
		t.Errorf("%d entries inflated and %d refused by the ratio: the shared data was read again\n%s", inflated, ratio, dump(res))
	}
	t.Logf("%d bytes, walked in %s:\n%s", len(data), took, dump(res))
	if took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestZipEntryInsideAnotherIsOverlapping(t *testing.T) {
	// Entry "outer" is stored and its data holds the whole local entry of
	// "inner" (Fifield's "quoted" overlap): different local headers, one
	// range inside the other. A third entry after them is still read.
	le := binary.LittleEndian
	local := func(name string, method uint16, body []byte) []byte {
		b := append([]byte(nil), zipLocalSig...)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, method)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, crc32.ChecksumIEEE(body))
		b = le.AppendUint32(b, uint32(len(body)))
		b = le.AppendUint32(b, uint32(len(body)))
		b = le.AppendUint16(b, uint16(len(name)))
		b = le.AppendUint16(b, 0)
		return append(append(b, name...), body...)
	}
	inner := local("inner", zipMethodStore, []byte("inner data"))
	outer := local("outer", zipMethodStore, inner)
	third := local("eicar.com", zipMethodStore, eicar)
	var cd []byte
	for _, e := range []struct {
		name string
		off  int
		body []byte
	}{{"outer", 0, inner}, {"inner", zipLocalLen + 5, []byte("inner data")}, {"eicar.com", len(outer), eicar}} {
		cd = append(cd, zipCentralSig...)
		cd = le.AppendUint16(cd, 20)
		cd = le.AppendUint16(cd, 20)
		cd = le.AppendUint16(cd, 0)
		cd = le.AppendUint16(cd, zipMethodStore)
		cd = le.AppendUint32(cd, 0)
		cd = le.AppendUint32(cd, crc32.ChecksumIEEE(e.body))
		cd = le.AppendUint32(cd, uint32(len(e.body)))
		cd = le.AppendUint32(cd, uint32(len(e.body)))
		cd = le.AppendUint16(cd, uint16(len(e.name)))
		cd = append(cd, make([]byte, 12)...)
		cd = le.AppendUint32(cd, uint32(e.off))
		cd = append(cd, e.name...)
	}
	data := append(append(append([]byte(nil), outer...), third...), cd...)
	data = append(data, "PK\x05\x06\x00\x00\x00\x00\x03\x00\x03\x00"...)
	data = le.AppendUint32(data, uint32(len(cd)))
	data = le.AppendUint32(data, uint32(len(outer)+len(third)))
	data = le.AppendUint16(data, 0)
	res := walk("q.zip", data, Limits{})
	// outer itself is a (directory-less) zip, walked from its local header.
	wantDetection(t, res, "q.zip", verdict.Corrupted, `overlapping zip entries: "inner" at offset 35 overlaps "outer"`)
	wantDetection(t, res, "q.zip/inner", verdict.Corrupted, "overlapping zip entries")
	wantDetection(t, res, "q.zip/eicar.com", verdict.Infected, "")
	if res.Objects != 4 {
		t.Errorf("want q.zip, q.zip/outer, q.zip/outer/inner and q.zip/eicar.com:\n%s", dump(res))
	}
}

func TestRefusedMembersCountTowardMaxScanBytes(t *testing.T) {
	// 100 separate members of 4 MiB of zeros (4 KiB packed each): each is
	// refused by the ratio limit after inflating about 1 MiB. Those bytes
	// count: a 16 MiB budget ends the walk after about 16 of them.
	var body bytes.Buffer
	crc, packed := zeroDeflate(t, &body, 4)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < 100; i++ {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("z%03d.bin", i), Method: zip.Deflate, CRC32: crc,
			CompressedSize64: uint64(packed), UncompressedSize64: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body.Bytes())
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	res := walk("r.zip", buf.Bytes(), Limits{MaxScanBytes: 16 << 20})
	ratio, budget := 0, 0
	for _, d := range res.Detections {
		switch {
		case strings.Contains(d.Reason, "compression ratio"):
			ratio++
		case d.Status == verdict.Unchecked && strings.Contains(d.Reason, "total bytes scanned over MaxScanBytes"):
			budget++
		}
	}
	if budget == 0 || ratio > 20 || res.Status != verdict.Unchecked {
		t.Fatalf("%d refused by the ratio, %d by the budget:\n%s", ratio, budget, dump(res))
	}
}

// manyEntryZip is a zip of n stored one-byte entries written by Go (which
// adds zip64 end records past 65,535 entries).
func manyEntryZip(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < n; i++ {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: strconv.Itoa(i), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte{'x'})
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestZipHugeEntryCountHasBoundedHeap(t *testing.T) {
	data := manyEntryZip(t, 200000)
	// The same archive with end records that lie: 5 entries declared.
	lying := append([]byte(nil), data...)
	le := binary.LittleEndian
	eocd := bytes.LastIndex(lying, []byte("PK\x05\x06"))
	le.PutUint16(lying[eocd+8:], 5)
	le.PutUint16(lying[eocd+10:], 5)
	if z64 := bytes.LastIndex(lying, []byte("PK\x06\x06")); z64 > 0 {
		le.PutUint64(lying[z64+24:], 5)
		le.PutUint64(lying[z64+32:], 5)
	} else {
		t.Fatal("Go wrote no zip64 end record")
	}
	for name, in := range map[string][]byte{"true": data, "lying": lying} {
		var res verdict.Result
		grew := heapGrowth(func() { res = walk("many.zip", in, Limits{MaxFiles: 10000}) })
		wantDetection(t, res, "many.zip", verdict.Unchecked, "more than MaxFiles 10000 members")
		if res.Objects != 10001 {
			t.Errorf("%s: %d objects, want the archive and 10,000 members", name, res.Objects)
		}
		t.Logf("%s count: %d bytes, heap growth %.1f MiB", name, len(in), float64(grew)/(1<<20))
		if grew > 16<<20 {
			t.Errorf("%s count: heap grew %d MiB for 200,000 entries", name, grew>>20)
		}
	}
}

func TestZipWithDataPrependedIsRead(t *testing.T) {
	// A self-extractor: the archive's offsets count from its own start.
	z := makeZip(t, zipEntry{"a.txt", []byte("alpha"), zip.Deflate}, zipEntry{"eicar.com", eicar, zip.Store})
	data := append(bytes.Repeat([]byte{0x90}, 5000), z...)
	res := walkHint("sfx.zip", data, filetype.Zip, Limits{})
	wantDetection(t, res, "sfx.zip/eicar.com", verdict.Infected, "")
	wantNoDetection(t, res, verdict.Corrupted)
	if res.Objects != 3 {
		t.Errorf("%d objects:\n%s", res.Objects, dump(res))
	}
}

func TestZipFolderEntryWithDataIsScanned(t *testing.T) {
	// Go's writer drops the data of folder entries: name it after writing.
	data := bytes.ReplaceAll(makeZip(t, zipEntry{"hiddenX", eicar, zip.Deflate}), []byte("hiddenX"), []byte("hidden/"))
	res := walk("f.zip", data, Limits{})
	wantDetection(t, res, "f.zip/hidden", verdict.Infected, "")
}

// walkZipMembers walks a zip matching EICAR in members only (a stored
// member puts EICAR in the archive's own bytes) and counts how many times
// the walk reaches each member.
func walkZipMembers(name string, data []byte) (verdict.Result, map[string]int) {
	seen := map[string]int{}
	w := &Walker{
		Visit: func(p string, _ int, _ int64) { seen[p]++ },
		Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
			if o.Depth == 0 {
				return nil, false, nil
			}
			return inspectEICAR(ctx, o)
		},
	}
	return w.Walk(context.Background(), name, data, "", false), seen
}

// wantSeenOnce fails unless each path was reached exactly once and
// nothing else was reached.
func wantSeenOnce(t *testing.T, seen map[string]int, paths ...string) {
	t.Helper()
	want := map[string]int{}
	for _, p := range paths {
		want[p] = 1
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("members reached %v, want %v", seen, want)
	}
}

// zipCentralStart is where the central directory of a well-formed zip
// starts, from its end record.
func zipCentralStart(t *testing.T, data []byte) int {
	t.Helper()
	eocd := bytes.LastIndex(data, []byte("PK\x05\x06"))
	if eocd < 0 {
		t.Fatal("no end record")
	}
	return int(binary.LittleEndian.Uint32(data[eocd+16:]))
}

// zipCLIFiles writes eicar.com, big.bin (random) and notes.txt into a new
// directory and returns it.
func zipCLIFiles(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "eicar.com"), eicar)
	writeFile(t, filepath.Join(dir, "big.bin"), randomBytes(t, 8192))
	writeFile(t, filepath.Join(dir, "notes.txt"), bytes.Repeat([]byte("compressible text "), 200))
	return dir
}

func TestZipCLIArchiveCutShortIsReadFromLocalHeaders(t *testing.T) {
	dir := zipCLIFiles(t)
	zipCLI(t, dir, "-q", "t.zip", "eicar.com", "big.bin", "notes.txt")
	data := readFile(t, filepath.Join(dir, "t.zip"))
	cd := zipCentralStart(t, data)
	second := bytes.Index(data[1:], zipLocalSig) + 1
	for _, c := range []struct {
		name string
		cut  int
		want []string // members reached
	}{
		{"inside the central directory", cd + 50, []string{"t.zip/eicar.com", "t.zip/big.bin", "t.zip/notes.txt"}},
		{"just before the central directory", cd, []string{"t.zip/eicar.com", "t.zip/big.bin", "t.zip/notes.txt"}},
		{"in the middle of the second member", second + 4000, []string{"t.zip/eicar.com", "t.zip/big.bin"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, seen := walkZipMembers("t.zip", data[:c.cut])
			wantDetection(t, res, "t.zip/eicar.com", verdict.Infected, "")
			wantDetection(t, res, "t.zip", verdict.Corrupted,
				fmt.Sprintf("central directory missing: members read from local headers (%d found; no end of central directory record)", len(c.want)))
			wantSeenOnce(t, seen, c.want...)
			_, cutMember := detection(res, "t.zip/big.bin", verdict.Corrupted)
			if cutMember != (len(c.want) == 2) {
				t.Errorf("big.bin reported corrupted: %v, want %v:\n%s", cutMember, len(c.want) == 2, dump(res))
			}
		})
	}
}

func TestZipDamagedCentralDirectoryIsReadFromLocalHeaders(t *testing.T) {
	dir := zipCLIFiles(t)
	zipCLI(t, dir, "-q", "t.zip", "eicar.com", "big.bin", "notes.txt")
	data := readFile(t, filepath.Join(dir, "t.zip"))
	cd := zipCentralStart(t, data)
	all := []string{"d.zip/eicar.com", "d.zip/big.bin", "d.zip/notes.txt"}

	// The whole directory overwritten with zeros: the end record is there,
	// the directory is not.
	zeroed := append([]byte(nil), data...)
	eocd := bytes.LastIndex(zeroed, []byte("PK\x05\x06"))
	clear(zeroed[cd:eocd])
	res, seen := walkZipMembers("d.zip", zeroed)
	wantDetection(t, res, "d.zip/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "d.zip", verdict.Corrupted, fmt.Sprintf(
		"central directory damaged: members read from local headers (3 found; no central directory header at offset %d)", cd))
	wantSeenOnce(t, seen, all...)

	// One entry unreadable midway: the entries before it come from the
	// directory, the others from their local headers, each read once.
	for k := 2; k <= 3; k++ {
		broken := append([]byte(nil), data...)
		at := cd
		for i := 1; i < k; i++ {
			at += bytes.Index(broken[at+1:], zipCentralSig) + 1
		}
		copy(broken[at:], "XXXX")
		res, seen := walkZipMembers("d.zip", broken)
		wantDetection(t, res, "d.zip/eicar.com", verdict.Infected, "")
		wantDetection(t, res, "d.zip", verdict.Corrupted, fmt.Sprintf(
			"central directory damaged: members read from local headers (%d found; entry %d: no central directory header at offset %d)", 4-k, k, at))
		wantSeenOnce(t, seen, all...)
		if len(res.Detections) != 2 {
			t.Errorf("entry %d damaged: want the archive corrupted and EICAR only:\n%s", k, dump(res))
		}
	}
}

func TestZipStreamedByZipCLIIsReadFromLocalHeaders(t *testing.T) {
	// zip writing to a pipe cannot seek back: every entry has its sizes in
	// a data descriptor after the data (zip64 ones for standard input).
	if _, err := exec.LookPath("zip"); err != nil {
		t.Skip("zip command not installed")
	}
	dir := zipCLIFiles(t)
	inner := filepath.Join(dir, "inner")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(inner, "x.com"), eicar)
	zipCLI(t, inner, "-q", "-0", "../inner.zip", "x.com")
	for _, c := range []struct {
		name, script string
		members      []string
	}{
		{"deflate", "zip -q - eicar.com big.bin notes.txt | cat > s.zip", []string{"eicar.com", "big.bin", "notes.txt"}},
		{"stored", "zip -q -0 - eicar.com big.bin notes.txt | cat > s.zip", []string{"eicar.com", "big.bin", "notes.txt"}},
		{"standard input", "zip -q - - < eicar.com | cat > s.zip", []string{"-"}},
		// A stored zip inside: its local headers are not the outer
		// archive's entries (the descriptor says where inner.zip ends).
		{"stored zip inside", "zip -q -0 - inner.zip eicar.com | cat > s.zip", []string{"inner.zip", "inner.zip/x.com", "eicar.com"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", c.script)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", c.script, err, out)
			}
			data := readFile(t, filepath.Join(dir, "s.zip"))
			if binary.LittleEndian.Uint16(data[6:])&zipFlagDataDescriptor == 0 {
				t.Fatal("zip wrote no data descriptor")
			}
			var want []string
			for _, m := range c.members {
				want = append(want, "s.zip/"+m)
			}
			res, seen := walkZipMembers("s.zip", data)
			wantNoDetection(t, res, verdict.Corrupted)
			wantSeenOnce(t, seen, want...)

			// Cut before the directory: every member, checked against
			// its descriptor, none corrupted but the archive.
			res, seen = walkZipMembers("s.zip", data[:zipCentralStart(t, data)])
			wantDetection(t, res, "s.zip", verdict.Corrupted, "central directory missing")
			wantSeenOnce(t, seen, want...)
			for _, d := range res.Detections {
				if d.Status == verdict.Corrupted && d.Path != "s.zip" {
					t.Errorf("member corrupted:\n%s", dump(res))
				}
			}
			if c.members[0] != "eicar.com" {
				return
			}
			// Cut inside the second member: the first is still found.
			second := bytes.Index(data[1:], zipLocalSig) + 1
			res, seen = walkZipMembers("s.zip", data[:second+200])
			wantDetection(t, res, "s.zip", verdict.Corrupted, "central directory missing")
			wantDetection(t, res, "s.zip/"+c.members[1], verdict.Corrupted, "")
			wantDetection(t, res, "s.zip/eicar.com", verdict.Infected, "")
		})
	}
}

func TestZipDescriptorsWithoutSignatureEndWhereTheStreamEnds(t *testing.T) {
	// Descriptors may omit their signature: then a deflated entry ends
	// where its decoder stopped reading, which must be exactly the end of
	// its stream, and a stored one before the descriptor that precedes
	// the next local header.
	data := makeZip(t, zipEntry{"a.txt", bytes.Repeat([]byte("alpha "), 3000), zip.Deflate},
		zipEntry{"s.txt", []byte("stored, size unknown"), zip.Store},
		zipEntry{"r.bin", randomBytes(t, 5000), zip.Deflate}, zipEntry{"eicar.com", eicar, zip.Deflate})
	cut := bytes.ReplaceAll(data[:bytes.Index(data, zipCentralSig)], zipDescriptorSig, nil)
	res, seen := walkZipMembers("n.zip", cut)
	wantDetection(t, res, "n.zip/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "n.zip", verdict.Corrupted, "members read from local headers (4 found;")
	wantSeenOnce(t, seen, "n.zip/a.txt", "n.zip/s.txt", "n.zip/r.bin", "n.zip/eicar.com")
	if len(res.Detections) != 2 {
		t.Errorf("want the archive corrupted and EICAR only:\n%s", dump(res))
	}
}

func TestZipDescriptorChecksumIsChecked(t *testing.T) {
	// Go's writer streams too: a CRC-32 spoiled in the descriptor of a
	// directory-less archive is found against the decoded bytes.
	data := makeZip(t, zipEntry{"eicar.com", eicar, zip.Deflate}, zipEntry{"b.txt", []byte("beta"), zip.Store})
	cut := append([]byte(nil), data[:bytes.Index(data, zipCentralSig)]...)
	d := bytes.Index(cut, zipDescriptorSig)
	cut[d+4] ^= 0xff
	res, seen := walkZipMembers("c.zip", cut)
	wantDetection(t, res, "c.zip/eicar.com", verdict.Corrupted, "checksum error")
	wantDetection(t, res, "c.zip/eicar.com", verdict.Infected, "")
	wantSeenOnce(t, seen, "c.zip/eicar.com", "c.zip/b.txt")
}

func TestZipLocalHeaderWalkIsLinear(t *testing.T) {
	// 150,000 stored folder entries with data descriptors but none
	// written: finding where each ends must not search the rest of the
	// file every time (that was 150,000 searches of up to 4.8 MB).
	le := binary.LittleEndian
	var b []byte
	const n = 150000
	for i := 0; i < n; i++ {
		b = append(b, zipLocalSig...)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, zipFlagDataDescriptor)
		b = append(b, make([]byte, 18)...) // method 0, time, CRC, sizes
		b = le.AppendUint16(b, 2)
		b = le.AppendUint16(b, 0)
		b = append(b, "d/"...)
	}
	b = append(b, makeZip(t, zipEntry{"eicar.com", eicar, zip.Store})...)
	b = b[:bytes.Index(b, zipCentralSig)]
	res, _ := walkZipMembers("l.zip", b)
	wantDetection(t, res, "l.zip/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "l.zip", verdict.Corrupted, fmt.Sprintf("members read from local headers (%d found;", n+1))
}
