package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/ulikunitz/xz/lzma"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "lzma", Types: []filetype.Type{filetype.Lzma}, Walk: walkLzma})
}

var lzmaSuffixes = [][2]string{{".tlz", ".tar"}, {".lzma", ""}}

// walkLzma yields the decompressed content of an LZMA "alone" file (13-byte
// header: properties, dictionary size, uncompressed size or all ones).
// The declared dictionary is lowered to xzMaxDict first, for the reason
// given there; the header is otherwise passed on unchanged.
func walkLzma(ctx context.Context, c *Container, yield func(Member) error) error {
	if len(c.Data) < lzma.HeaderLen {
		return fmt.Errorf("%w: lzma header truncated", ErrCorrupt)
	}
	hdr := append([]byte(nil), c.Data[:lzma.HeaderLen]...)
	if binary.LittleEndian.Uint32(hdr[1:]) > xzMaxDict {
		binary.LittleEndian.PutUint32(hdr[1:], xzMaxDict)
	}
	src := io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(c.Data[lzma.HeaderLen:]))
	zr, err := lzma.ReaderConfig{DictCap: xzMaxDict}.NewReader(src)
	if err != nil {
		return fmt.Errorf("%w: lzma header: %v", ErrCorrupt, err)
	}
	size := int64(binary.LittleEndian.Uint64(c.Data[5:]))
	if size < 0 {
		size = -1 // all ones: unknown, the stream ends with a marker
	}
	return yield(Member{
		Name:   stripSuffix(c.Name, lzmaSuffixes),
		Size:   size,
		Packed: int64(len(c.Data)),
		Open:   func() (io.Reader, error) { return &drainReader{r: zr}, nil },
	})
}
