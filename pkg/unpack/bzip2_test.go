package unpack

import (
	"bytes"
	"encoding/hex"
	"os/exec"
	"testing"

	"ave/pkg/verdict"
)

// eicarBzip2 is EICAR compressed by bzip2 1.0.8 (-9), so the bzip2 tests
// run where the bzip2 command is not installed.
const eicarBzip2Hex = "425a68393141592653598652cbd300001f1e80267a06806f65df5d00022000488a69a030834f48c6a7a27a8453d4686464d184c234f4d4de28bf1c9088095087eb07410cfb939aa29bcce4c612e676c9b501a22eaa0cefb32803cf5a199010f7f8bb9229c2848432965e98"

// cleanBzip2Hex is "hello, clean world\n" compressed by bzip2.
const cleanBzip2Hex = "425a6839314159265359b831efa3000004d180001040042e45908020003100d00104626c495d072cb1c4ae94681f177245385090b831efa3"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eicarBzip2(t testing.TB) []byte { return mustHex(t, eicarBzip2Hex) }

// bzip2CLI compresses data with the bzip2 command, or skips the test.
func bzip2CLI(t *testing.T, data []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Skip("bzip2 command not installed")
	}
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bzip2: %v", err)
	}
	return out
}

func TestBzip2FindsEICAR(t *testing.T) {
	res := walk("eicar.com.bz2", eicarBzip2(t), Limits{})
	d := wantDetection(t, res, "eicar.com.bz2/eicar.com", verdict.Infected, "")
	if d.Depth != 1 {
		t.Errorf("depth %d", d.Depth)
	}
}

func TestBzip2FindsEICARCompressedByBzip2CLI(t *testing.T) {
	data := bzip2CLI(t, append(bytes.Repeat([]byte("padding "), 10000), eicar...))
	res := walk("x.bz2", data, Limits{})
	wantDetection(t, res, "x.bz2/x", verdict.Infected, "")
}

func TestBzip2CleanIsClean(t *testing.T) {
	res := walk("c.txt.bz2", mustHex(t, cleanBzip2Hex), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

func TestBzip2ConcatenatedStreamsAreOneMember(t *testing.T) {
	data := append(mustHex(t, cleanBzip2Hex), eicarBzip2(t)...)
	res := walk("cat.bz2", data, Limits{})
	wantDetection(t, res, "cat.bz2/cat", verdict.Infected, "")
}

func TestBzip2TruncatedIsCorrupted(t *testing.T) {
	data := eicarBzip2(t)
	res := walk("t.bz2", data[:len(data)-20], Limits{})
	wantDetection(t, res, "t.bz2/t", verdict.Corrupted, "unpack: corrupted")
}

func TestBzip2MemberNames(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a.tar.bz2", "a.tar"},
		{"a.tbz2", "a.tar"},
		{"a.TBZ", "a.tar"},
		{"a.bz", "a"},
		{"noext", "noext"},
		{".bz2", ".bz2"},
	} {
		if got := stripSuffix(tc.in, bzip2Suffixes); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}
