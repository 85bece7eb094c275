package smtp

// AVE PATCH (bulk DATA reader): tests of dataReader against upstream's
// byte-at-a-time version (refDataReader below, copied from v0.25.1).

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand"
	"strings"
	"testing"
)

// refDataReader is upstream v0.25.1's dataReader.Read, unchanged but for
// the receiver's name.
type refDataReader struct {
	r     *bufio.Reader
	state int

	limited bool
	n       int64
}

func (r *refDataReader) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}
	for n < len(b) && r.state != stateEOF {
		var c byte
		c, err = r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		switch r.state {
		case stateBeginLine:
			if c == '.' {
				r.state = stateDot
				continue
			}
			if c == '\r' {
				r.state = stateCR
				break
			}
			r.state = stateData
		case stateDot:
			if c == '\r' {
				r.state = stateDotCR
				continue
			}
			r.state = stateData
		case stateDotCR:
			if c == '\n' {
				r.state = stateEOF
				continue
			}
			r.state = stateData
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
				break
			}
			r.state = stateData
		case stateData:
			if c == '\r' {
				r.state = stateCR
			}
		}
		b[n] = c
		n++
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}
	if r.limited {
		r.n -= int64(n)
	}
	return
}

// chunkReader returns the input in pieces of the given sizes (cycled),
// like a socket delivering segments.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := c.sizes[c.i%len(c.sizes)]
	c.i++
	if n > len(p) {
		n = len(p)
	}
	if n > len(c.data) {
		n = len(c.data)
	}
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

type outcome struct {
	data []byte
	err  error
	rest []byte // what follows in the connection after the reader stopped
}

// run reads input through rd (made on a bufio.Reader of bufSize over
// chunks of the input) with reads of readSizes (cycled) until an error.
func run(input []byte, bufSize int, chunks, readSizes []int, limit int64, bulk bool) outcome {
	br := bufio.NewReaderSize(&chunkReader{data: input, sizes: chunks}, bufSize)
	var rd io.Reader
	if bulk {
		d := &dataReader{r: br}
		if limit > 0 {
			d.limited, d.n = true, limit
		}
		rd = d
	} else {
		d := &refDataReader{r: br}
		if limit > 0 {
			d.limited, d.n = true, limit
		}
		rd = d
	}
	var out bytes.Buffer
	var err error
	for i := 0; err == nil; i++ {
		if i > 10*len(input)+100 {
			err = errors.New("no progress")
			break
		}
		buf := make([]byte, readSizes[i%len(readSizes)])
		var n int
		n, err = rd.Read(buf)
		out.Write(buf[:n])
	}
	rest, _ := io.ReadAll(br)
	return outcome{out.Bytes(), err, rest}
}

func checkSame(t *testing.T, input []byte, bufSize int, chunks, readSizes []int, limit int64) {
	t.Helper()
	want := run(input, bufSize, chunks, readSizes, limit, false)
	got := run(input, bufSize, chunks, readSizes, limit, true)
	if !bytes.Equal(got.data, want.data) || got.err != want.err || !bytes.Equal(got.rest, want.rest) {
		t.Fatalf("input %q buf %d chunks %v reads %v limit %d:\n got  %q %v rest %q\n want %q %v rest %q",
			input, bufSize, chunks, readSizes, limit, got.data, got.err, got.rest, want.data, want.err, want.rest)
	}
}

func TestDataReaderTable(t *testing.T) {
	long := strings.Repeat("x", 10000)
	cases := []struct {
		in, want, rest string
		err            error
	}{
		{"hello\r\n.\r\n", "hello\r\n", "", io.EOF},
		{".\r\n", "", "", io.EOF},
		{"..\r\n.\r\n", ".\r\n", "", io.EOF},                                          // dot-stuffed line
		{"a\r\n..b\r\n...\r\n.\r\nQUIT\r\n", "a\r\n.b\r\n..\r\n", "QUIT\r\n", io.EOF}, // pipelined command stays
		{"a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", "", io.EOF},                           // bare LF does not start a line
		{"a\rb\r\r\n\r\n.\r\n", "a\rb\r\r\n\r\n", "", io.EOF},                         // bare CR
		{"a\r\n.x\r\n.\r\n", "a\r\nx\r\n", "", io.EOF},                                // unstuffed dot is dropped
		{long + "\r\n" + long + "\r\n.\r\n", long + "\r\n" + long + "\r\n", "", io.EOF},
		{"a\r\nb", "a\r\nb", "", io.ErrUnexpectedEOF}, // EOF mid-data
		{"a\r\n.\r", "a\r\n", "", io.ErrUnexpectedEOF},
		{"", "", "", io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		for _, bufSize := range []int{16, 4096} {
			for _, chunks := range [][]int{{1}, {3, 1, 7}, {1 << 20}} {
				for _, reads := range [][]int{{1}, {5, 2}, {32 << 10}} {
					got := run([]byte(c.in), bufSize, chunks, reads, 0, true)
					if string(got.data) != c.want || got.err != c.err || string(got.rest) != c.rest {
						t.Errorf("%q buf %d chunks %v reads %v: got %q %v rest %q, want %q %v rest %q",
							c.in, bufSize, chunks, reads, got.data, got.err, got.rest, c.want, c.err, c.rest)
					}
					checkSame(t, []byte(c.in), bufSize, chunks, reads, 0)
				}
			}
		}
	}
}

func TestDataReaderLimit(t *testing.T) {
	in := []byte("0123456789\r\n..abc\r\n.\r\nNOOP\r\n")
	for limit := int64(1); limit <= int64(len(in))+2; limit++ {
		for _, reads := range [][]int{{1}, {4}, {1024}} {
			checkSame(t, in, 16, []int{1 << 20}, reads, limit)
			checkSame(t, in, 16, []int{2}, reads, limit)
		}
	}
	got := run(in, 4096, []int{1 << 20}, []int{1024}, 5, true)
	if string(got.data) != "01234" || got.err != ErrDataTooLarge {
		t.Fatalf("limit 5: %q %v", got.data, got.err)
	}
}

func TestDataReaderRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte("..\r\r\n\nab")
	for i := 0; i < 3000; i++ {
		in := make([]byte, rng.Intn(200))
		for j := range in {
			in[j] = alphabet[rng.Intn(len(alphabet))]
		}
		if rng.Intn(2) == 0 {
			in = append(in, "\r\n.\r\nRSET\r\n"...)
		}
		chunks := []int{1 + rng.Intn(20), 1 + rng.Intn(5)}
		reads := []int{1 + rng.Intn(50), 1 + rng.Intn(3)}
		var limit int64
		if rng.Intn(4) == 0 {
			limit = int64(rng.Intn(len(in) + 1))
		}
		checkSame(t, in, 16+rng.Intn(40), chunks, reads, limit)
	}
}

func FuzzDataReader(f *testing.F) {
	f.Add([]byte("a\r\n..b\r\n.\r\nQUIT\r\n"), uint8(3), uint8(5), uint16(0))
	f.Add([]byte("x\n.\r\n\r.\r\n.\r\n"), uint8(1), uint8(1), uint16(4))
	f.Add([]byte(".\r.\r\n"), uint8(200), uint8(9), uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, chunk, read uint8, limit uint16) {
		checkSame(t, in, 16, []int{int(chunk)%32 + 1, 1}, []int{int(read)%64 + 1, 7}, int64(limit))
	})
}

// BenchmarkDataReader reads a 1 MB message of 78-byte lines.
func BenchmarkDataReader(b *testing.B) {
	line := strings.Repeat("A", 76) + "\r\n"
	msg := []byte(strings.Repeat(line, 1<<20/len(line)) + ".\r\n")
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(msg)))
	for _, bulk := range []bool{false, true} {
		name := "upstream"
		if bulk {
			name = "bulk"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for i := 0; i < b.N; i++ {
				br := bufio.NewReader(bytes.NewReader(msg))
				var rd io.Reader = &refDataReader{r: br}
				if bulk {
					rd = &dataReader{r: br}
				}
				for {
					if _, err := rd.Read(buf); err != nil {
						break
					}
				}
			}
		})
	}
}
