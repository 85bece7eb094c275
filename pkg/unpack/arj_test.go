package unpack

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

type arjFile struct {
	name    string
	data    []byte
	method  byte // 0 stored, 4 literal-only fast encoding
	garbled bool
	badCRC  bool
}

// arjHeaderBytes builds one header (basic header, its CRC, no extended
// headers).
func arjHeaderBytes(fileType, flags, method byte, packed, size, crc uint32, name string) []byte {
	b := []byte{30, 11, 1, 2, flags, method, fileType, 0}
	b = binary.LittleEndian.AppendUint32(b, 0x5a210000) // date and time
	b = binary.LittleEndian.AppendUint32(b, packed)
	b = binary.LittleEndian.AppendUint32(b, size)
	b = binary.LittleEndian.AppendUint32(b, crc)
	b = append(b, 0, 0, 0x20, 0, 0, 0) // filespec position, access mode, chapters
	b = append(b, name...)
	b = append(b, 0, 0) // name and comment ends
	out := []byte{0x60, 0xea}
	out = binary.LittleEndian.AppendUint16(out, uint16(len(b)))
	out = append(out, b...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(b))
	return append(out, 0, 0) // no extended header
}

// arjFastLiterals encodes data with method 4 using literals only: a 0 bit
// and eight bits per byte, most significant first.
func arjFastLiterals(data []byte) []byte {
	var out []byte
	var acc uint32
	n := 0
	put := func(v uint32, bits int) {
		for i := bits - 1; i >= 0; i-- {
			acc = acc<<1 | (v>>uint(i))&1
			if n++; n == 8 {
				out = append(out, byte(acc))
				acc, n = 0, 0
			}
		}
	}
	for _, c := range data {
		put(0, 1)
		put(uint32(c), 8)
	}
	if n > 0 {
		out = append(out, byte(acc<<(8-uint(n))))
	}
	return out
}

func makeArj(files ...arjFile) []byte {
	out := arjHeaderBytes(2, 0, 0, 0, 0, 0, "test.arj")
	for _, f := range files {
		body := f.data
		if f.method == 4 {
			body = arjFastLiterals(f.data)
		}
		var flags byte
		if f.garbled {
			flags |= arjFlagGarbled
		}
		crc := crc32.ChecksumIEEE(f.data)
		if f.badCRC {
			crc++
		}
		out = append(out, arjHeaderBytes(0, flags, f.method, uint32(len(body)), uint32(len(f.data)), crc, f.name)...)
		out = append(out, body...)
	}
	return append(out, 0x60, 0xea, 0, 0)
}

func TestArjFindsEICARMadeByGo(t *testing.T) {
	for _, method := range []byte{0, 4} {
		data := makeArj(arjFile{name: "readme.txt", data: []byte("hello"), method: method},
			arjFile{name: `dir\eicar.com`, data: eicar, method: method})
		if got := filetype.Detect(data, ""); got != filetype.Arj {
			t.Fatalf("detected %s", got)
		}
		res := walkQuiet("a.arj", data)
		d := wantDetection(t, res, "a.arj/dir/eicar.com", verdict.Infected, "")
		if d.Depth != 1 || res.Objects != 3 || len(res.Detections) != 1 {
			t.Errorf("method %d: want the archive, two files and one detection:\n%s", method, dump(res))
		}
	}
}

func TestArjFixtures(t *testing.T) {
	for _, name := range []string{"method1.arj", "method4.arj"} {
		res := walkMarker(name, readFile(t, filepath.Join("testdata", "arj", name)))
		wantDetection(t, res, name+"/data.txt", verdict.Infected, "")
		if res.Objects != 3 || len(res.Detections) != 1 {
			t.Errorf("%s: want the archive, two files and one detection:\n%s", name, dump(res))
		}
	}
	res := walkMarker("garbled.arj", readFile(t, filepath.Join("testdata", "arj", "garbled.arj")))
	wantDetection(t, res, "garbled.arj/data.txt", verdict.Protected, "encrypted")
	wantDetection(t, res, "garbled.arj/other.txt", verdict.Protected, "encrypted")
	wantNoDetection(t, res, verdict.Infected)
}

// arjCLI runs Debian's arj in dir, or skips the test.
func arjCLI(t *testing.T, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("arj"); err != nil {
		t.Skip("arj command not installed")
	}
	cmd := exec.Command("arj", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("arj %v: %v\n%s", args, err, out)
	}
}

func TestArjFindsEICARMadeByArjCLIWithEveryMethod(t *testing.T) {
	dir := t.TempDir()
	var text bytes.Buffer
	for i := 0; i < 4000; i++ {
		text.WriteString("line ")
		text.WriteByte(byte('a' + i%26))
		text.WriteByte('\n')
	}
	payload := append(append(text.Bytes(), randomBytes(t, 30000)...), eicar...)
	writeFile(t, filepath.Join(dir, "eicar.com"), payload)
	writeFile(t, filepath.Join(dir, "notes.txt"), text.Bytes())
	for _, m := range []string{"0", "1", "2", "3", "4"} {
		t.Run("m"+m, func(t *testing.T) {
			name := "m" + m + ".arj"
			arjCLI(t, dir, "a", "-m"+m, "-y", name, "notes.txt", "eicar.com")
			res := walkQuiet(name, readFile(t, filepath.Join(dir, name)))
			wantDetection(t, res, name+"/eicar.com", verdict.Infected, "")
			if res.Objects != 3 || len(res.Detections) != 1 {
				t.Errorf("want the archive, two files and one detection:\n%s", dump(res))
			}
		})
	}
	t.Run("garbled", func(t *testing.T) {
		arjCLI(t, dir, "a", "-gsecret", "-y", "g.arj", "eicar.com")
		res := walkQuiet("g.arj", readFile(t, filepath.Join(dir, "g.arj")))
		wantDetection(t, res, "g.arj/eicar.com", verdict.Protected, "encrypted")
		wantNoDetection(t, res, verdict.Infected)
	})
}

func TestArjCleanIsClean(t *testing.T) {
	res := walk("c.arj", makeArj(arjFile{name: "a.txt", data: []byte("alpha"), method: 4}, arjFile{name: "b", data: nil}), Limits{})
	if res.Status != verdict.Clean || res.Objects != 3 {
		t.Fatalf("want 3 clean objects:\n%s", dump(res))
	}
}

func TestArjTruncatedAndDamagedAreCorrupted(t *testing.T) {
	big := randomBytes(t, 4000)
	data := makeArj(arjFile{name: "eicar.com", data: eicar}, arjFile{name: "big.bin", data: big}, arjFile{name: "last", data: []byte("x")})
	at := bytes.Index(data, big)
	res := walkQuiet("t.arj", data[:at+1000])
	wantDetection(t, res, "t.arj/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "t.arj/big.bin", verdict.Corrupted, "unexpected EOF")
	wantDetection(t, res, "t.arj", verdict.Corrupted, "\"big.bin\" truncated (1000 of 4000 bytes)")

	res = walkQuiet("h.arj", data[:at-10])
	wantDetection(t, res, "h.arj/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "h.arj", verdict.Corrupted, "truncated")

	bad := append([]byte(nil), data...)
	bad[at-20] ^= 0xff // inside big.bin's header
	res = walkQuiet("b.arj", bad)
	wantDetection(t, res, "b.arj", verdict.Corrupted, "header checksum mismatch")

	res = walkQuiet("c.arj", makeArj(arjFile{name: "eicar.com", data: eicar, badCRC: true}))
	wantDetection(t, res, "c.arj/eicar.com", verdict.Corrupted, "checksum mismatch")
	wantDetection(t, res, "c.arj/eicar.com", verdict.Infected, "")
}

func TestArjCompressedFixturesTruncated(t *testing.T) {
	for _, name := range []string{"method1.arj", "method4.arj"} {
		data := readFile(t, filepath.Join("testdata", "arj", name))
		res := walkMarker(name, data[:len(data)-500])
		wantDetection(t, res, name+"/data.txt", verdict.Corrupted, "unexpected EOF")
		wantDetection(t, res, name, verdict.Corrupted, "truncated")
		if res.Objects != 3 {
			t.Errorf("%s: other.txt and the start of data.txt not scanned:\n%s", name, dump(res))
		}
	}
}

func TestArjGarbledIsProtected(t *testing.T) {
	res := walkQuiet("g.arj", makeArj(arjFile{name: "secret.com", data: eicar, garbled: true}, arjFile{name: "plain.txt", data: []byte("plain")}))
	wantDetection(t, res, "g.arj/secret.com", verdict.Protected, "encrypted")
	wantNoDetection(t, res, verdict.Infected)
}

func FuzzWalkArj(f *testing.F) {
	for _, name := range []string{"method1.arj", "method4.arj", "garbled.arj"} {
		d, err := os.ReadFile(filepath.Join("testdata", "arj", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(d)
		f.Add(d[:len(d)/2])
	}
	f.Add(makeArj(arjFile{name: "a", data: []byte("abc"), method: 4}, arjFile{name: "g.gz", data: makeGzip(f, eicar)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.arj", data)
	})
}
