package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "cpio", Types: []filetype.Type{filetype.Cpio}, Walk: walkCpio})
}

// cpio header variants (see cpio(5)).
const (
	cpioNewcLen = 110 // "070701"/"070702": 13 fields of 8 hex digits
	cpioOdcLen  = 76  // "070707": octal fields (POSIX.1 portable format)
	cpioBinLen  = 26  // old binary: 13 16-bit words in the writer's byte order

	cpioTypeMask = 0o170000
	cpioTypeReg  = 0o100000
)

// cpioEntry is one parsed header.
type cpioEntry struct {
	name     string
	mode     uint64
	size     uint64
	dataAt   int // offset of the content
	next     int // offset of the next header (after the content's padding)
	hdrError string
}

// walkCpio walks every regular file of a cpio archive, in any of the four
// header formats (newc, crc, odc, old binary in either byte order; each
// header is read in whatever format its magic says), up to the TRAILER!!!
// entry. Content that runs past the end of the input is scanned as far as
// it goes and the archive is reported corrupt.
func walkCpio(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	pos := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if pos >= len(d) {
			return fmt.Errorf("%w: archive ends without a TRAILER!!! entry", ErrCorrupt)
		}
		e, err := cpioHeader(d, pos)
		if err != nil {
			return err
		}
		if e.name == "TRAILER!!!" {
			return nil
		}
		if e.mode&cpioTypeMask != cpioTypeReg {
			if e.next <= pos || e.next > len(d) {
				return fmt.Errorf("%w: entry %q runs past the end of the archive", ErrCorrupt, e.name)
			}
			pos = e.next
			continue
		}
		end := uint64(e.dataAt) + e.size
		truncated := end > uint64(len(d))
		if truncated {
			end = uint64(len(d))
		}
		body := d[e.dataAt:end]
		m := Member{Name: e.name, Size: clampSize(e.size), Packed: clampSize(e.size), Data: body}
		if truncated {
			m.Data = nil
			m.Open = func() (io.Reader, error) { return truncatedReader(body), nil }
		}
		if err := yield(m); err != nil {
			return err
		}
		if truncated {
			return fmt.Errorf("%w: %q truncated (%d of %d bytes)", ErrCorrupt, e.name, len(body), e.size)
		}
		if e.next <= pos {
			return fmt.Errorf("%w: entry %q does not advance", ErrCorrupt, e.name)
		}
		pos = min(e.next, len(d))
		if e.next > len(d) {
			// Only the padding after the content is missing.
			return fmt.Errorf("%w: archive ends after %q without a TRAILER!!! entry", ErrCorrupt, e.name)
		}
	}
}

// cpioHeader parses the header at d[pos:].
func cpioHeader(d []byte, pos int) (cpioEntry, error) {
	h := d[pos:]
	switch {
	case bytes.HasPrefix(h, []byte("070701")), bytes.HasPrefix(h, []byte("070702")):
		if len(h) < cpioNewcLen {
			return cpioEntry{}, fmt.Errorf("%w: header at %d truncated", ErrCorrupt, pos)
		}
		var f [13]uint64
		for i := range f {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return cpioEntry{}, fmt.Errorf("%w: bad newc header at %d", ErrCorrupt, pos)
			}
			f[i] = v
		}
		mode, size, nsize := f[1], f[6], f[11]
		name, ok := cpioName(h[cpioNewcLen:], nsize)
		if !ok {
			return cpioEntry{}, fmt.Errorf("%w: name at %d truncated", ErrCorrupt, pos)
		}
		dataAt := pos + cpioNewcLen + int(nsize)
		dataAt += (4 - dataAt%4) % 4 // header and name padded to four (offsets from a 4-aligned start)
		next := uint64(dataAt) + size
		next += (4 - next%4) % 4
		return cpioEntry{name: name, mode: mode, size: size, dataAt: min(dataAt, len(d)), next: clampInt(next)}, nil

	case bytes.HasPrefix(h, []byte("070707")):
		if len(h) < cpioOdcLen {
			return cpioEntry{}, fmt.Errorf("%w: header at %d truncated", ErrCorrupt, pos)
		}
		field := func(off, n int) (uint64, bool) {
			v, err := strconv.ParseUint(string(h[off:off+n]), 8, 64)
			return v, err == nil
		}
		mode, ok1 := field(18, 6)
		nsize, ok2 := field(59, 6)
		size, ok3 := field(65, 11)
		if !ok1 || !ok2 || !ok3 {
			return cpioEntry{}, fmt.Errorf("%w: bad odc header at %d", ErrCorrupt, pos)
		}
		name, ok := cpioName(h[cpioOdcLen:], nsize)
		if !ok {
			return cpioEntry{}, fmt.Errorf("%w: name at %d truncated", ErrCorrupt, pos)
		}
		dataAt := pos + cpioOdcLen + int(nsize)
		return cpioEntry{name: name, mode: mode, size: size, dataAt: dataAt, next: clampInt(uint64(dataAt) + size)}, nil

	case len(h) >= 2 && (h[0] == 0xc7 && h[1] == 0x71 || h[0] == 0x71 && h[1] == 0xc7):
		if len(h) < cpioBinLen {
			return cpioEntry{}, fmt.Errorf("%w: header at %d truncated", ErrCorrupt, pos)
		}
		var bo binary.ByteOrder = binary.LittleEndian
		if h[0] == 0x71 {
			bo = binary.BigEndian
		}
		word := func(i int) uint64 { return uint64(bo.Uint16(h[2*i:])) }
		mode := word(3)
		nsize := word(10)
		size := word(11)<<16 | word(12) // two words, most significant first
		name, ok := cpioName(h[cpioBinLen:], nsize)
		if !ok {
			return cpioEntry{}, fmt.Errorf("%w: name at %d truncated", ErrCorrupt, pos)
		}
		dataAt := pos + cpioBinLen + int(nsize)
		dataAt += dataAt % 2
		next := uint64(dataAt) + size
		next += next % 2
		return cpioEntry{name: name, mode: mode, size: size, dataAt: min(dataAt, len(d)), next: clampInt(next)}, nil
	}
	return cpioEntry{}, fmt.Errorf("%w: no header magic at %d", ErrCorrupt, pos)
}

// cpioName reads a name of nsize bytes (its NUL included).
func cpioName(b []byte, nsize uint64) (string, bool) {
	if nsize > uint64(len(b)) {
		return "", false
	}
	n := b[:nsize]
	if i := bytes.IndexByte(n, 0); i >= 0 {
		n = n[:i]
	}
	return string(n), true
}

func clampInt(v uint64) int {
	if v > uint64(1<<62) {
		return 1 << 62
	}
	return int(v)
}
