package unpack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

type cpioFile struct {
	name string
	mode uint32
	data []byte
}

// makeCpio writes a cpio archive in format "newc", "crc", "odc", "bin-le"
// or "bin-be", ending with the TRAILER!!! entry.
func makeCpio(t testing.TB, format string, files ...cpioFile) []byte {
	t.Helper()
	var b bytes.Buffer
	pad := func(n int) {
		for b.Len()%n != 0 {
			b.WriteByte(0)
		}
	}
	files = append(files, cpioFile{name: "TRAILER!!!"})
	for i, f := range files {
		name := f.name + "\x00"
		switch format {
		case "newc", "crc":
			magic := "070701"
			if format == "crc" {
				magic = "070702"
			}
			var sum uint32
			for _, c := range f.data {
				sum += uint32(c)
			}
			fmt.Fprintf(&b, "%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x", magic,
				i+1, f.mode, 0, 0, 1, 0, len(f.data), 0, 0, 0, 0, len(name), sum)
			b.WriteString(name)
			pad(4)
			b.Write(f.data)
			pad(4)
		case "odc":
			fmt.Fprintf(&b, "070707%06o%06o%06o%06o%06o%06o%06o%011o%06o%011o",
				0, i+1, f.mode, 0, 0, 1, 0, 0, len(name), len(f.data))
			b.WriteString(name)
			b.Write(f.data)
		case "bin-le", "bin-be":
			var bo binary.AppendByteOrder = binary.LittleEndian
			if format == "bin-be" {
				bo = binary.BigEndian
			}
			size := uint32(len(f.data))
			for _, w := range []uint16{0o70707, 0, uint16(i + 1), uint16(f.mode), 0, 0, 1, 0, 0, 0,
				uint16(len(name)), uint16(size >> 16), uint16(size)} {
				b.Write(bo.AppendUint16(nil, w))
			}
			b.WriteString(name)
			pad(2)
			b.Write(f.data)
			pad(2)
		default:
			t.Fatalf("unknown cpio format %s", format)
		}
	}
	pad(512)
	return b.Bytes()
}

var cpioFormats = []string{"newc", "crc", "odc", "bin-le", "bin-be"}

func TestCpioFindsEICARInEveryHeaderFormat(t *testing.T) {
	for _, format := range cpioFormats {
		t.Run(format, func(t *testing.T) {
			data := makeCpio(t, format,
				cpioFile{"dir", 0o40755, nil},
				cpioFile{"dir/readme.txt", 0o100644, []byte("hello")},
				cpioFile{"dir/link", 0o120777, eicar}, // a symlink's target is not content
				cpioFile{"dir/eicar.com", 0o100644, eicar},
				cpioFile{"odd", 0o100644, []byte("abc")})
			if got := filetype.Detect(data, ""); got != filetype.Cpio {
				t.Fatalf("detected %s", got)
			}
			res := walkQuiet("a.cpio", data)
			d := wantDetection(t, res, "a.cpio/dir/eicar.com", verdict.Infected, "")
			if d.Depth != 1 {
				t.Errorf("depth %d", d.Depth)
			}
			if _, ok := detection(res, "a.cpio/dir/link", verdict.Infected); ok {
				t.Errorf("symlink scanned:\n%s", dump(res))
			}
			if res.Objects != 4 || len(res.Detections) != 1 {
				t.Errorf("want the archive, three files and one detection:\n%s", dump(res))
			}
		})
	}
}

// cpioCLI archives the files of dir with Debian's cpio, or skips the test.
func cpioCLI(t *testing.T, dir, format string, names ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio command not installed")
	}
	cmd := exec.Command("cpio", "-o", "--quiet", "-H", format)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(names, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -H %s: %v", format, err)
	}
	return out
}

func TestCpioFindsEICARInArchivesMadeByCpioCLI(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "eicar.com"), eicar)
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("odd length text"))
	for _, format := range []string{"newc", "crc", "odc", "bin"} {
		t.Run(format, func(t *testing.T) {
			data := cpioCLI(t, dir, format, "notes.txt", "sub", "sub/eicar.com")
			res := walkQuiet("c.cpio", data)
			wantDetection(t, res, "c.cpio/sub/eicar.com", verdict.Infected, "")
			if res.Objects != 3 || len(res.Detections) != 1 {
				t.Errorf("want the archive, two files and one detection:\n%s", dump(res))
			}
		})
	}
}

func TestCpioCleanIsClean(t *testing.T) {
	res := walk("c.cpio", makeCpio(t, "newc", cpioFile{"a", 0o100644, []byte("alpha")}, cpioFile{"empty", 0o100644, nil}), Limits{})
	if res.Status != verdict.Clean || res.Objects != 3 {
		t.Fatalf("want 3 clean objects:\n%s", dump(res))
	}
}

func TestCpioTruncatedIsCorruptedAndEarlierMembersScanned(t *testing.T) {
	for _, format := range cpioFormats {
		t.Run(format, func(t *testing.T) {
			big := randomBytes(t, 4000)
			data := makeCpio(t, format, cpioFile{"eicar.com", 0o100644, eicar}, cpioFile{"big.bin", 0o100644, big},
				cpioFile{"last", 0o100644, []byte("x")})
			at := bytes.Index(data, big[:64])
			res := walkQuiet("t.cpio", data[:at+1000]) // inside big.bin
			wantDetection(t, res, "t.cpio/eicar.com", verdict.Infected, "")
			wantDetection(t, res, "t.cpio/big.bin", verdict.Corrupted, "unexpected EOF")
			wantDetection(t, res, "t.cpio", verdict.Corrupted, "\"big.bin\" truncated (1000 of 4000 bytes)")

			res = walkQuiet("h.cpio", data[:at-3]) // inside the name
			wantDetection(t, res, "h.cpio/eicar.com", verdict.Infected, "")
			wantDetection(t, res, "h.cpio", verdict.Corrupted, "truncated")

			res = walkQuiet("n.cpio", data[:at+len(big)+8]) // no trailer
			wantDetection(t, res, "n.cpio", verdict.Corrupted, "cpio:")
		})
	}
}

func TestCpioGarbageHeaderIsCorrupted(t *testing.T) {
	res := walk("g.cpio", []byte("070701zzzzzzzz"+strings.Repeat("0", 200)), Limits{})
	wantDetection(t, res, "g.cpio", verdict.Corrupted, "bad newc header")
	res = walk("g.cpio", []byte("070707"+strings.Repeat("9", 100)), Limits{})
	wantDetection(t, res, "g.cpio", verdict.Corrupted, "bad odc header")
	data := makeCpio(t, "newc", cpioFile{"a", 0o100644, []byte("alpha")})
	copy(data[bytes.Index(data, []byte("alpha"))+8:], "garbage")
	res = walk("g.cpio", data, Limits{})
	wantDetection(t, res, "g.cpio", verdict.Corrupted, "no header magic")
}

func FuzzWalkCpio(f *testing.F) {
	for _, format := range cpioFormats {
		d := makeCpio(f, format, cpioFile{"d", 0o40755, nil}, cpioFile{"d/a", 0o100644, []byte("abc")},
			cpioFile{"b.gz", 0o100644, makeGzip(f, eicar)})
		f.Add(d)
		f.Add(d[:len(d)/3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.cpio", data)
	})
}
