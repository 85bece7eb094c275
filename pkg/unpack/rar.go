package unpack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nwaples/rardecode/v2"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "rar", Types: []filetype.Type{filetype.Rar}, Walk: walkRar})
}

// rarMaxDict bounds the decoding window rardecode allocates when it moves
// to a file (before the Walker has seen the file's size). rardecode already
// shrinks a non-solid file's window to the file's size; a larger window
// than this is only declared by solid archives with huge dictionaries and by
// hostile headers, and stops the walk as a limit.
const rarMaxDict = 64 << 20

// walkRar yields every file of a RAR 1.5–4.x or RAR 5 archive, one volume
// (a file continued in the next volume is read as far as this one holds).
// Encrypted files are PROTECTED members; encrypted headers make the whole
// archive PROTECTED.
func walkRar(ctx context.Context, c *Container, yield func(Member) error) error {
	rr, err := rardecode.NewReader(bytes.NewReader(c.Data), rardecode.MaxDictionarySize(rarMaxDict))
	if err != nil {
		return rarError(err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := rr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// rardecode's Reader cannot go on after a failed Next.
			return rarError(err)
		}
		if h.IsDir || h.LinkType != 0 {
			continue // no content (a link's target is metadata)
		}
		m := Member{Name: h.Name, Size: h.UnPackedSize, Packed: h.PackedSize}
		if h.UnKnownSize || m.Size < 0 {
			m.Size = -1
		}
		if m.Packed <= 0 {
			m.Packed = -1
		}
		if h.Encrypted {
			m.Encrypted = true
		} else {
			m.Open = func() (io.Reader, error) { return rarReader{rr}, nil }
		}
		if err := yield(m); err != nil {
			return err
		}
		if h.Solid && !h.Encrypted {
			// The next file of a solid archive is reached by decoding
			// the rest of this one; rardecode's Next would do it with no
			// deadline, through as much as the header declares.
			if err := sevenZipDrain(ctx, rr); err != nil {
				return err
			}
		}
	}
}

// rarReader maps rardecode's read errors onto ours.
type rarReader struct{ r *rardecode.Reader }

func (r rarReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = rarError(err)
	}
	return n, err
}

func rarError(err error) error {
	switch {
	case errors.Is(err, rardecode.ErrArchiveEncrypted):
		return fmt.Errorf("%w: rar: headers encrypted", ErrEncrypted)
	case errors.Is(err, rardecode.ErrArchivedFileEncrypted):
		return fmt.Errorf("%w: rar: file encrypted", ErrEncrypted)
	case errors.Is(err, rardecode.ErrDictionaryTooLarge):
		return fmt.Errorf("%w: rar: dictionary larger than %d bytes", ErrLimit, rarMaxDict)
	}
	return fmt.Errorf("%w: rar: %v", ErrCorrupt, err)
}
