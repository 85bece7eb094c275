package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "szdd", Types: []filetype.Type{filetype.SZDD}, Walk: walkSZDD})
}

// SZDD, the format of MS-DOS COMPRESS.EXE and EXPAND.EXE ("setup.ex_"):
// a 14-byte header (magic, mode 'A', the file name's replaced last
// character, the uncompressed size) and LZSS data in groups of one flag
// byte (bits from the lowest: 1 a literal byte, 0 a two-byte match) and
// eight items. A match is a 12-bit position in a 4 KiB ring buffer,
// initially filled with spaces and written from 4096-16, and a length of
// 3 to 18.
const (
	szddHeaderLen = 14
	szddWindow    = 4096
)

var szddMagic = []byte("SZDD\x88\xf0\x27\x33")

func walkSZDD(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	if len(d) < szddHeaderLen || !bytes.HasPrefix(d, szddMagic) {
		return fmt.Errorf("%w: szdd header truncated", ErrCorrupt)
	}
	if d[8] != 'A' {
		return fmt.Errorf("%w: szdd: unknown compression mode %#x", ErrCorrupt, d[8])
	}
	size := int64(binary.LittleEndian.Uint32(d[10:]))
	return yield(Member{
		Name:   szddName(c.Name, d[9]),
		Size:   size,
		Packed: int64(len(d)),
		Open: func() (io.Reader, error) {
			return newSZDDReader(d[szddHeaderLen:], size), nil
		},
	})
}

// szddName restores the name COMPRESS.EXE shortened: "setup.ex_" with the
// stored character 'e' is "setup.exe"; without one, the "_" is dropped.
func szddName(container string, last byte) string {
	if !strings.HasSuffix(container, "_") || len(container) < 2 {
		return container
	}
	base := container[:len(container)-1]
	if last >= 0x20 && last < 0x7f && last != '/' && last != '\\' {
		return base + string(rune(last))
	}
	return base
}

// szddReader decodes the LZSS stream; it stops at the declared size, and
// input that ends before it is an unexpected end of file. Every step
// consumes input, so a hostile stream ends when its bytes do.
type szddReader struct {
	in     []byte
	left   int64 // bytes still to produce
	win    [szddWindow]byte
	pos    int
	flags  uint // current flag byte with a guard bit above the eight flags
	copyAt int  // pending match: ring position and length
	copyN  int
}

func newSZDDReader(in []byte, size int64) *szddReader {
	r := &szddReader{in: in, left: size, pos: szddWindow - 16}
	for i := range r.win {
		r.win[i] = ' '
	}
	return r
}

func (r *szddReader) put(p []byte, n int, b byte) int {
	p[n] = b
	r.win[r.pos] = b
	r.pos = (r.pos + 1) & (szddWindow - 1)
	r.left--
	return n + 1
}

func (r *szddReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.left <= 0 {
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
		if r.copyN > 0 {
			b := r.win[r.copyAt]
			r.copyAt = (r.copyAt + 1) & (szddWindow - 1)
			r.copyN--
			n = r.put(p, n, b)
			continue
		}
		if r.flags <= 1 {
			if len(r.in) == 0 {
				return n, fmt.Errorf("%w: szdd: %v (%d bytes missing)", ErrCorrupt, io.ErrUnexpectedEOF, r.left)
			}
			r.flags = uint(r.in[0]) | 0x100
			r.in = r.in[1:]
		}
		literal := r.flags&1 == 1
		r.flags >>= 1
		if literal {
			if len(r.in) == 0 {
				return n, fmt.Errorf("%w: szdd: %v (%d bytes missing)", ErrCorrupt, io.ErrUnexpectedEOF, r.left)
			}
			n = r.put(p, n, r.in[0])
			r.in = r.in[1:]
			continue
		}
		if len(r.in) < 2 {
			return n, fmt.Errorf("%w: szdd: %v (%d bytes missing)", ErrCorrupt, io.ErrUnexpectedEOF, r.left)
		}
		r.copyAt = int(r.in[0]) | int(r.in[1]&0xf0)<<4
		r.copyN = int(r.in[1]&0x0f) + 3
		r.in = r.in[2:]
	}
	return n, nil
}
