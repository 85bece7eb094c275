package unpack

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ave/pkg/verdict"
)

// runTool runs a Debian tool in dir and returns its standard output,
// skipping the test when the tool is not installed.
func runTool(t *testing.T, dir, tool string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed", tool)
	}
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, stderr.String())
	}
	return out
}

// toolEncode writes data to dir/name and runs tool on it.
func toolEncode(t *testing.T, name string, data []byte, tool string, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, name), data)
	return runTool(t, dir, tool, args...)
}

// uuencodeGo is a small uuencoder for fixtures the tests need to shape.
func uuencodeGo(name string, data []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "begin 644 %s\n", name)
	enc := func(v byte) byte {
		if v == 0 {
			return '`'
		}
		return v + 0x20
	}
	for len(data) > 0 {
		n := min(45, len(data))
		line := data[:n]
		data = data[n:]
		b.WriteByte(enc(byte(n)))
		for i := 0; i < n; i += 3 {
			var g [3]byte
			copy(g[:], line[i:min(i+3, n)])
			b.WriteByte(enc(g[0] >> 2))
			b.WriteByte(enc((g[0]<<4 | g[1]>>4) & 0x3f))
			b.WriteByte(enc((g[1]<<2 | g[2]>>6) & 0x3f))
			b.WriteByte(enc(g[2] & 0x3f))
		}
		b.WriteByte('\n')
	}
	b.WriteString("`\nend\n")
	return b.String()
}

func TestUUEFindsEICARMadeBySharutils(t *testing.T) {
	enc := toolEncode(t, "eicar.com", eicar, "uuencode", "eicar.com", "eicar.com")
	body := "Hello,\nthe file you asked for:\n\n" + string(enc) + "\nRegards\n"
	res := walk("body.txt", []byte(body), Limits{})
	d := wantDetection(t, res, "body.txt/eicar.com", verdict.Infected, "")
	if d.Type != "text" || d.Depth != 1 {
		t.Errorf("detection %+v", d)
	}
	if res.Status != verdict.Infected || len(res.Detections) != 1 {
		t.Errorf("want exactly one detection:\n%s", dump(res))
	}
}

func TestUUEYieldsEveryFile(t *testing.T) {
	body := "prose\n" + uuencodeGo("a.txt", []byte("alpha")) + "between\n" +
		uuencodeGo("dir/b.com", eicar) + uuencodeGo("c.bin", bytes.Repeat([]byte{0, 1, 2}, 100))
	var names []string
	err := walkUUE(context.Background(), &Container{Data: []byte(body)}, func(m Member) error {
		names = append(names, m.Name)
		if m.Name == "a.txt" && string(m.Data) != "alpha" {
			t.Errorf("a.txt = %q", m.Data)
		}
		if m.Name == "c.bin" && !bytes.Equal(m.Data, bytes.Repeat([]byte{0, 1, 2}, 100)) {
			t.Errorf("c.bin decoded wrong")
		}
		return nil
	})
	if err != nil || strings.Join(names, ",") != "a.txt,dir/b.com,c.bin" {
		t.Fatalf("names %v err %v", names, err)
	}
	res := walk("m.txt", []byte(body), Limits{})
	wantDetection(t, res, "m.txt/dir/b.com", verdict.Infected, "")
}

func TestUUEStrippedTrailingBlanksStillDecode(t *testing.T) {
	enc := uuencodeGo("e.com", eicar)
	var lines []string
	for _, l := range strings.Split(enc, "\n") {
		lines = append(lines, strings.TrimRight(l, " "))
	}
	res := walk("t.txt", []byte(strings.Join(lines, "\r\n")), Limits{})
	wantDetection(t, res, "t.txt/e.com", verdict.Infected, "")
}

func TestUUETruncatedIsCorruptedAndScanned(t *testing.T) {
	enc := uuencodeGo("e.com", append(append([]byte{}, eicar...), bytes.Repeat([]byte("x"), 200)...))
	cut := enc[:strings.Index(enc, "\n`")] // no end line
	res := walk("cut.txt", []byte("text\n"+cut), Limits{})
	wantDetection(t, res, "cut.txt/e.com", verdict.Infected, "")
	wantDetection(t, res, "cut.txt", verdict.Corrupted, "no end line")
}

func TestUUECleanIsClean(t *testing.T) {
	res := walk("c.txt", []byte("hi\n"+uuencodeGo("notes.txt", []byte("nothing to see"))), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

func FuzzWalkUUE(f *testing.F) {
	f.Add([]byte(uuencodeGo("a.txt", []byte("harmless"))))
	f.Add([]byte("text\nbegin 644 x\nM" + strings.Repeat("!", 70) + "\n"))
	f.Add([]byte("begin 0755 a\n\x7f\n" + uuencodeGo("b", []byte("bb"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.uue", data)
	})
}
