package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "tar", Types: []filetype.Type{filetype.Tar}, Walk: walkTar})
}

// walkTar yields the regular files of a tar archive (ustar, GNU and pax
// headers, as archive/tar reads them). Directories, links, devices and
// FIFOs carry no content and are skipped.
func walkTar(ctx context.Context, c *Container, yield func(Member) error) error {
	tr := tar.NewReader(bytes.NewReader(c.Data))
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: tar: %v", ErrCorrupt, err)
		}
		switch h.Typeflag {
		case tar.TypeReg, '\x00', tar.TypeGNUSparse, tar.TypeCont:
		default:
			continue
		}
		// Packed stays unknown: the Walker then measures the ratio against
		// the whole archive, which only a sparse file can exceed.
		m := Member{Name: h.Name, Size: h.Size, Packed: -1, Open: func() (io.Reader, error) { return tr, nil }}
		if err := yield(m); err != nil {
			return err
		}
	}
}
