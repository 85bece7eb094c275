package unpack

import (
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "zip", Types: []filetype.Type{filetype.Zip}, Walk: walkZip})
}

// Compression methods and flags of the zip format (APPNOTE.TXT 4.4.4, 4.4.5).
const (
	zipMethodStore   = 0
	zipMethodDeflate = 8
	zipMethodBzip2   = 12
	zipMethodAES     = 99 // WinZip AES: the real method sits in an extra field

	zipFlagEncrypted       = 0x1  // traditional PKWARE encryption (ZipCrypto)
	zipFlagDataDescriptor  = 0x8  // sizes and CRC follow the data
	zipFlagStrongEncrypted = 0x40 // PKWARE strong encryption
)

var (
	zipLocalSig      = []byte("PK\x03\x04")
	zipCentralSig    = []byte("PK\x01\x02")
	zipDescriptorSig = []byte("PK\x07\x08")
)

func zipBzip2(r io.Reader) io.ReadCloser { return io.NopCloser(bzip2.NewReader(r)) }

// walkZip reads the central directory with archive/zip. When that fails (a
// truncated or damaged archive), it walks the local file headers from the
// start instead, so whatever precedes the damage is still scanned.
func walkZip(ctx context.Context, c *Container, yield func(Member) error) error {
	zr, err := zip.NewReader(bytes.NewReader(c.Data), int64(len(c.Data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// ErrInsecurePath ("../x", "/etc/x") comes with a usable reader:
		// nothing is extracted to disk, so such names are only reported.
		return walkZipLocal(ctx, c, yield, err)
	}
	zr.RegisterDecompressor(zipMethodBzip2, zipBzip2)
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.FileInfo().IsDir() {
			continue
		}
		m := Member{
			Name:   f.Name,
			Size:   clampSize(f.UncompressedSize64),
			Packed: clampSize(f.CompressedSize64),
		}
		var rc io.ReadCloser
		if zipEncrypted(f.Flags, f.Method) {
			m.Encrypted = true
		} else {
			m.Open = func() (io.Reader, error) {
				r, err := f.Open()
				if err != nil {
					if errors.Is(err, zip.ErrAlgorithm) {
						return nil, fmt.Errorf("%w: zip: unsupported compression method %d", ErrCorrupt, f.Method)
					}
					return nil, fmt.Errorf("%w: zip: %v", ErrCorrupt, err)
				}
				rc = r
				return r, nil
			}
		}
		err := yield(m)
		if rc != nil {
			// Close releases the decompressor; its error only repeats
			// what reading already reported.
			_ = rc.Close()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func zipEncrypted(flags, method uint16) bool {
	return flags&(zipFlagEncrypted|zipFlagStrongEncrypted) != 0 || method == zipMethodAES
}

// clampSize converts a declared 64-bit size; a value that does not fit an
// int64 is certainly over every limit.
func clampSize(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}

// eofReader remembers whether its reader reached the end, so the local
// header walk knows how many bytes a deflate stream used.
type eofReader struct {
	r   io.Reader
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.eof = true
	}
	return n, err
}

// truncatedReader returns the bytes it has, then io.ErrUnexpectedEOF.
func truncatedReader(b []byte) io.Reader {
	return io.MultiReader(bytes.NewReader(b), errorReader{io.ErrUnexpectedEOF})
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }

// walkZipLocal walks the local file headers one after the other. It is the
// fallback for archives whose central directory cannot be read, and always
// ends with an error wrapping ErrCorrupt that says why it was needed.
func walkZipLocal(ctx context.Context, c *Container, yield func(Member) error, cdErr error) error {
	d := c.Data
	pos := bytes.Index(d, zipLocalSig)
	if pos < 0 {
		return fmt.Errorf("%w: central directory unreadable (%v) and no local file header found", ErrCorrupt, cdErr)
	}
	entries := 0
	problem := ""
	for pos >= 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(d)-pos < 30 {
			problem = "; local header truncated"
			break
		}
		h := d[pos:]
		flags := binary.LittleEndian.Uint16(h[6:])
		method := binary.LittleEndian.Uint16(h[8:])
		csize := binary.LittleEndian.Uint32(h[18:])
		usize := binary.LittleEndian.Uint32(h[22:])
		nlen := int(binary.LittleEndian.Uint16(h[26:]))
		elen := int(binary.LittleEndian.Uint16(h[28:]))
		start := pos + 30 + nlen + elen
		if start > len(d) {
			problem = "; local header truncated"
			break
		}
		name := string(h[30 : 30+nlen])
		entries++

		// Sizes in the local header are valid unless a data descriptor
		// follows the data or the entry is zip64.
		sizeKnown := flags&zipFlagDataDescriptor == 0 && csize != math.MaxUint32 && usize != math.MaxUint32
		end, truncated := len(d), false
		if sizeKnown {
			if int64(start)+int64(csize) <= int64(len(d)) {
				end = start + int(csize)
			} else {
				truncated = true
			}
		} else if method != zipMethodDeflate && method != zipMethodBzip2 {
			// Stored data of unknown length ends where the next record starts.
			end = nextZipRecord(d, start)
		}
		body := d[start:end]

		m := Member{Name: name, Size: -1, Packed: -1}
		if sizeKnown {
			m.Size, m.Packed = int64(usize), int64(csize)
		}
		isDir := strings.HasSuffix(name, "/") && len(body) == 0
		br := bytes.NewReader(body)
		var track *eofReader
		switch {
		case isDir:
		case zipEncrypted(flags, method):
			m.Encrypted = true
		case method == zipMethodStore:
			m.Open = func() (io.Reader, error) {
				if truncated {
					return truncatedReader(body), nil
				}
				return br, nil
			}
		case method == zipMethodDeflate, method == zipMethodBzip2:
			m.Open = func() (io.Reader, error) {
				var r io.Reader
				if method == zipMethodDeflate {
					r = flate.NewReader(br)
				} else {
					r = bzip2.NewReader(br)
				}
				track = &eofReader{r: r}
				return track, nil
			}
		default:
			m.Open = func() (io.Reader, error) {
				return nil, fmt.Errorf("%w: zip: unsupported compression method %d", ErrCorrupt, method)
			}
		}
		if !isDir {
			if err := yield(m); err != nil {
				return err
			}
		}
		// Where the next entry starts: after the declared size when it is
		// known, after the compressed stream when it was read to its end
		// (the decoders read a bytes.Reader byte by byte, so what is left
		// in it is exact), or else wherever the next signature is found.
		next := start
		switch {
		case sizeKnown && !truncated:
			next = end
		case track != nil && track.eof:
			next = start + len(body) - br.Len()
		}
		pos = nextLocalHeader(d, next)
	}
	return fmt.Errorf("%w: central directory unreadable (%v); %d entries read from local headers%s", ErrCorrupt, cdErr, entries, problem)
}

// nextLocalHeader finds the next local file header at or after from.
func nextLocalHeader(d []byte, from int) int {
	if from >= len(d) {
		return -1
	}
	i := bytes.Index(d[from:], zipLocalSig)
	if i < 0 {
		return -1
	}
	return from + i
}

// nextZipRecord finds where stored data of unknown length ends: at the next
// data descriptor, local header or central directory entry.
func nextZipRecord(d []byte, from int) int {
	end := len(d)
	for _, sig := range [][]byte{zipDescriptorSig, zipLocalSig, zipCentralSig} {
		if i := bytes.Index(d[from:end], sig); i >= 0 {
			end = from + i
		}
	}
	return end
}
