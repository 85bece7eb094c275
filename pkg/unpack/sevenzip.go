package unpack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bodgit/sevenzip"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "7z", Types: []filetype.Type{filetype.SevenZ}, Walk: walkSevenZip})
	// The 7z AES coder (06 F1 07 01). bodgit/sevenzip has no typed error for
	// encryption, and without a password it still derives a key from the
	// empty one: 2^cycles SHA-256 rounds, up to 2^24 per folder, which a
	// hostile archive can repeat for every folder. We never have passwords,
	// so the coder is replaced, for the whole process, by one that fails at
	// once with an error wrapping ErrEncrypted. That marks encrypted
	// members (the folder's coder chain cannot be built) and encrypted
	// headers (NewReader fails with it) without any key derivation.
	sevenzip.RegisterDecompressor([]byte{0x06, 0xf1, 0x07, 0x01}, sevenZipAES)
}

var errSevenZipAES = fmt.Errorf("%w: 7z: AES-256 encrypted", ErrEncrypted)

func sevenZipAES([]byte, uint64, []io.ReadCloser) (io.ReadCloser, error) {
	return nil, errSevenZipAES
}

// walkSevenZip yields every file of a 7z archive. The archive's header sits
// at its end, so a truncated archive has no readable member at all: it is
// reported corrupt as a whole. Damage inside one folder (a solid block)
// makes that folder's files corrupt and the walk goes on with the next.
func walkSevenZip(ctx context.Context, c *Container, yield func(Member) error) error {
	zr, err := sevenzip.NewReader(bytes.NewReader(c.Data), int64(len(c.Data)))
	if err != nil {
		if errors.Is(err, ErrEncrypted) {
			return fmt.Errorf("%w: 7z: headers encrypted", ErrEncrypted)
		}
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.FileInfo().IsDir() {
			continue
		}
		m := Member{Name: f.Name, Size: clampSize(f.UncompressedSize), Packed: -1}
		rc, err := f.Open()
		switch {
		case errors.Is(err, ErrEncrypted):
			m.Encrypted = true
		case err != nil:
			m.Open = func() (io.Reader, error) { return nil, fmt.Errorf("%w: 7z: %v", ErrCorrupt, err) }
		default:
			m.Open = func() (io.Reader, error) { return rc, nil }
		}
		err = yield(m)
		if rc != nil {
			// In a solid folder the next file is found by decoding past
			// this one. Left to the library, that happens inside its Open
			// (a Seek that no deadline interrupts, through as much as a
			// hostile header declares); done here, the scan's deadline
			// stops it. Close then hands the folder, positioned at the
			// next file, back to the library's pool. Errors here repeat
			// what reading the member reported.
			if err == nil {
				err = sevenZipDrain(ctx, rc)
			}
			_ = rc.Close()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sevenZipDrain reads what the Walker left of a member (7z, solid rar),
// checking ctx.
func sevenZipDrain(ctx context.Context, r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		if err != nil || n == 0 {
			// A read error was the member's; the walk goes on.
			return nil
		}
	}
}
