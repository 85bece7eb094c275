package mailer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand"
	"strings"
	"testing"
	"testing/iotest"
)

// stuffByBytes is the byte-at-a-time definition WriteDotStuffed must
// match: "." doubled at the start and after every CRLF.
func stuffByBytes(msg []byte) string {
	var b strings.Builder
	lineStart, prevCR := true, false
	for _, c := range msg {
		if lineStart && c == '.' {
			b.WriteByte('.')
		}
		b.WriteByte(c)
		lineStart = c == '\n' && prevCR
		prevCR = c == '\r'
	}
	if !lineStart {
		b.WriteString("\r\n")
	}
	return b.String() + ".\r\n"
}

func stuff(t testing.TB, msg []byte) string {
	return stuffFrom(t, bytes.NewReader(msg))
}

func stuffFrom(t testing.TB, r io.Reader) string {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := WriteDotStuffed(w, r); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return out.String()
}

// TestWriteDotStuffedSmallReads: every chunk boundary (CR | LF., CRLF | .)
// with reads of 1 to 7 bytes.
func TestWriteDotStuffedSmallReads(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	alphabet := []byte(".\r\nab")
	for i := 0; i < 2000; i++ {
		msg := make([]byte, rng.Intn(100))
		for j := range msg {
			msg[j] = alphabet[rng.Intn(len(alphabet))]
		}
		var r io.Reader = iotest.OneByteReader(bytes.NewReader(msg))
		if i%2 == 1 {
			r = &pieces{data: msg, n: 1 + rng.Intn(7)}
		}
		if got, want := stuffFrom(t, r), stuffByBytes(msg); got != want {
			t.Fatalf("stuff(%q) = %q, want %q", msg, got, want)
		}
	}
}

type pieces struct {
	data []byte
	n    int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), p.n)], p.data)
	p.data = p.data[n:]
	return n, nil
}

func TestWriteDotStuffedReturnsReadErrorsBeforeTheDot(t *testing.T) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	boom := errors.New("spool read failed")
	err := WriteDotStuffed(w, io.MultiReader(strings.NewReader("a\r\n.b\r\n"), iotest.ErrReader(boom)))
	w.Flush()
	if err != boom || strings.HasSuffix(out.String(), ".\r\n") {
		t.Fatalf("got %v, wrote %q", err, out.String())
	}
}

func TestWriteDotStuffed(t *testing.T) {
	for in, want := range map[string]string{
		"":                  ".\r\n",
		".":                 "..\r\n.\r\n",
		"a\r\n.b\r\n":       "a\r\n..b\r\n.\r\n",
		"a\n.b\r\n":         "a\n.b\r\n.\r\n",
		"a\r\r\n.\r\n":      "a\r\r\n..\r\n.\r\n",
		"x\r\n..\r\n":       "x\r\n...\r\n.\r\n",
		"no newline":        "no newline\r\n.\r\n",
		"ends in CR\r":      "ends in CR\r\r\n.\r\n",
		".\r\n.\r\n":        "..\r\n..\r\n.\r\n",
		"a\r\nb\r\n.\r\nc.": "a\r\nb\r\n..\r\nc.\r\n.\r\n",
	} {
		if got := stuff(t, []byte(in)); got != want {
			t.Errorf("stuff(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWriteDotStuffedMatchesTheByteDefinition covers chunk edges: lines
// longer than the 64 KiB buffer, CR and LF split across chunks.
func TestWriteDotStuffedMatchesTheByteDefinition(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte(".\r\nab")
	for i := 0; i < 300; i++ {
		n := rng.Intn(200)
		if i%50 == 0 {
			n = 64<<10 + rng.Intn(10)
		}
		msg := make([]byte, n)
		for j := range msg {
			msg[j] = alphabet[rng.Intn(len(alphabet))]
		}
		if i%50 == 0 && n > 64<<10 {
			copy(msg[64<<10-1:], "\r\n.")
		}
		if got, want := stuff(t, msg), stuffByBytes(msg); got != want {
			t.Fatalf("case %d differs (len %d)", i, n)
		}
	}
}

func BenchmarkWriteDotStuffed(b *testing.B) {
	msg := []byte(strings.Repeat(strings.Repeat("A", 76)+"\r\n", 1<<17))
	b.SetBytes(int64(len(msg)))
	w := bufio.NewWriter(io.Discard)
	for i := 0; i < b.N; i++ {
		WriteDotStuffed(w, bytes.NewReader(msg))
	}
}

func FuzzWriteDotStuffed(f *testing.F) {
	for _, s := range []string{"", ".", "a\r\n.b", "\r\r\n.", "x\n.\r\n", ".\r\n.\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if got, want := stuff(t, msg), stuffByBytes(msg); got != want {
			t.Fatalf("stuff(%q) = %q, want %q", msg, got, want)
		}
	})
}

// FuzzReplyLines: any downstream reply parses or fails without panic,
// and a parsed code is a valid reply code.
func FuzzReplyLines(f *testing.F) {
	for _, s := range []string{"250 ok\r\n", "250-a\r\n250 b\r\n", "452 4.5.3 too many\r\n", "2\r\n", "999 x\r\n", "250-\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c := &client{r: bufio.NewReader(strings.NewReader(in))}
		_, r, err := c.replyLines()
		if err == nil && (r.Code < 200 || r.Code > 599) {
			t.Fatalf("code %d from %q", r.Code, in)
		}
	})
}
