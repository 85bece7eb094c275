package unpack

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "gzip", Types: []filetype.Type{filetype.Gzip}, Walk: walkGzip})
}

// gzipSuffixes maps a compressed file's suffix to what the decompressed
// file is called: "a.tar.gz" holds "a.tar", "a.tgz" holds "a.tar" too.
var gzipSuffixes = [][2]string{{".tgz", ".tar"}, {".gzip", ""}, {".gz", ""}, {".z", ""}}

// walkGzip yields the one decompressed stream of a gzip file. Concatenated
// gzip members are read as one stream, as gunzip does; zero bytes padding
// the end (tape blocks) are ignored, other trailing bytes are corrupt.
func walkGzip(ctx context.Context, c *Container, yield func(Member) error) error {
	br := bytes.NewReader(c.Data)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return fmt.Errorf("%w: gzip header: %v", ErrCorrupt, err)
	}
	zr.Multistream(false)
	return yield(Member{
		Name:   gzipMemberName(zr.Name, c.Name),
		Size:   -1,
		Packed: int64(len(c.Data)),
		Open: func() (io.Reader, error) {
			return &gzipStreams{zr: zr, br: br, data: c.Data}, nil
		},
	})
}

// gzipMemberName is the original file name stored in the gzip header (its
// last element), or else the container's name without its suffix.
func gzipMemberName(header, container string) string {
	if header != "" {
		n := path.Base(strings.ReplaceAll(header, "\\", "/"))
		if n != "." && n != "/" {
			return n
		}
	}
	return stripSuffix(container, gzipSuffixes)
}

// gzipStreams reads every member of a multi-member gzip file in turn.
type gzipStreams struct {
	zr   *gzip.Reader
	br   *bytes.Reader
	data []byte
}

func (g *gzipStreams) Read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		if err != io.EOF {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		// End of one member. gzip.Reader reads a bytes.Reader byte by
		// byte, so br stands exactly after the member's trailer.
		off := len(g.data) - g.br.Len()
		if off >= len(g.data) || allZero(g.data[off:]) {
			return 0, io.EOF
		}
		if err := g.zr.Reset(g.br); err != nil {
			return 0, fmt.Errorf("%w: gzip: %d bytes of trailing data after the last member: %v", ErrCorrupt, len(g.data)-off, err)
		}
		g.zr.Multistream(false)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// stripSuffix replaces the first matching suffix (any case) of name; a name
// with no known suffix is kept as it is.
func stripSuffix(name string, suffixes [][2]string) string {
	lower := strings.ToLower(name)
	for _, s := range suffixes {
		if strings.HasSuffix(lower, s[0]) && len(name) > len(s[0]) {
			return name[:len(name)-len(s[0])] + s[1]
		}
	}
	return name
}
