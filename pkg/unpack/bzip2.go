package unpack

import (
	"bytes"
	"compress/bzip2"
	"context"
	"io"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "bzip2", Types: []filetype.Type{filetype.Bzip2}, Walk: walkBzip2})
}

// bzip2Suffixes maps a compressed file's suffix to the decompressed name.
var bzip2Suffixes = [][2]string{{".tbz2", ".tar"}, {".tbz", ".tar"}, {".bz2", ""}, {".bz", ""}}

// walkBzip2 yields the decompressed stream of a bzip2 file (concatenated
// streams are read as one, which compress/bzip2 does by itself). bzip2 has
// no header to check beyond the magic, so every error shows up while the
// Walker reads the member.
func walkBzip2(ctx context.Context, c *Container, yield func(Member) error) error {
	return yield(Member{
		Name:   stripSuffix(c.Name, bzip2Suffixes),
		Size:   -1,
		Packed: int64(len(c.Data)),
		Open: func() (io.Reader, error) {
			return bzip2.NewReader(bytes.NewReader(c.Data)), nil
		},
	})
}
