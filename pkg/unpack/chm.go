package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "chm", Types: []filetype.Type{filetype.CHM}, Walk: walkCHM})
}

// walkCHM reads a Compiled HTML Help file (ITSF): the ITSP directory's
// PMGL listing chunks give each file's content section, offset and length.
// Files of section 0 (stored) are yielded as they are, named by their path
// without the leading "/" ("html/index.htm"). Files of section 1 (the
// "MSCompressed" LZX section, where most CHM content lives) are decoded
// from the nearest reset point at or before them (chmLZX). Directory entries,
// the internal "::DataSpace" files and the "#"/"$" system files are
// skipped.
func walkCHM(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	if len(d) < 0x58 || !bytes.Equal(d[:4], []byte("ITSF")) {
		return fmt.Errorf("%w: no ITSF header", ErrCorrupt)
	}
	version := binary.LittleEndian.Uint32(d[4:])
	dirOff := binary.LittleEndian.Uint64(d[0x48:])
	dirLen := binary.LittleEndian.Uint64(d[0x50:])
	content := dirOff + dirLen
	if version >= 3 {
		if len(d) < 0x60 {
			return fmt.Errorf("%w: header truncated", ErrCorrupt)
		}
		content = binary.LittleEndian.Uint64(d[0x58:])
	}
	if dirOff > uint64(len(d)) || uint64(len(d))-dirOff < 0x54 || !bytes.Equal(d[dirOff:dirOff+4], []byte("ITSP")) {
		return fmt.Errorf("%w: directory (ITSP) not found", ErrCorrupt)
	}
	itsp := d[dirOff:]
	hdrLen := uint64(binary.LittleEndian.Uint32(itsp[8:]))
	chunkSize := uint64(binary.LittleEndian.Uint32(itsp[0x10:]))
	numChunks := uint64(binary.LittleEndian.Uint32(itsp[0x2c:]))
	if chunkSize < 0x20 || chunkSize > 1<<20 || hdrLen > uint64(len(itsp)) {
		return fmt.Errorf("%w: bad directory header (chunk size %d)", ErrCorrupt, chunkSize)
	}
	var problems []string
	var ents []chmDirEntry
	chunks := itsp[hdrLen:]
	for i := uint64(0); i < numChunks; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if (i+1)*chunkSize > uint64(len(chunks)) {
			problems = append(problems, fmt.Sprintf("directory truncated at chunk %d of %d", i, numChunks))
			break
		}
		chunk := chunks[i*chunkSize : (i+1)*chunkSize]
		if !bytes.Equal(chunk[:4], []byte("PMGL")) {
			continue // an index chunk (PMGI) or garbage
		}
		free := uint64(binary.LittleEndian.Uint32(chunk[4:]))
		end := chunkSize
		if free < chunkSize-0x14 {
			end = chunkSize - free
		}
		entries := chunk[0x14:end]
		for pos := 0; pos < len(entries); {
			nameLen, ok := encint(entries, &pos)
			if !ok || nameLen > uint64(len(entries)-pos) {
				problems = append(problems, "bad directory entry")
				break
			}
			name := string(entries[pos : pos+int(nameLen)])
			pos += int(nameLen)
			section, ok1 := encint(entries, &pos)
			offset, ok2 := encint(entries, &pos)
			length, ok3 := encint(entries, &pos)
			if !ok1 || !ok2 || !ok3 {
				problems = append(problems, "bad directory entry")
				break
			}
			ents = append(ents, chmDirEntry{name, section, offset, length})
		}
	}
	// section0 returns a stored internal file's bytes, cut at the end of
	// the input.
	section0 := func(name string) []byte {
		for _, e := range ents {
			if e.name == name && e.section == 0 {
				start := content + e.offset
				if start < content || start > uint64(len(d)) {
					return nil
				}
				stop := start + e.length
				if stop < start || stop > uint64(len(d)) {
					stop = uint64(len(d))
				}
				return d[start:stop]
			}
		}
		return nil
	}
	var lzx *chmLZX
	for _, e := range ents {
		if !chmUserFile(e.name) || e.length == 0 {
			continue
		}
		m := Member{Name: strings.TrimPrefix(e.name, "/"), Size: clampSize(e.length), Packed: -1}
		switch e.section {
		case 0:
			start := content + e.offset
			if start < content || start > uint64(len(d)) {
				m.Open = chmFail("content beyond the end of the file")
				break
			}
			stop := start + e.length
			if stop < start || stop > uint64(len(d)) {
				stop = uint64(len(d))
				m.Anomaly = "chm: file truncated"
			}
			m.Data = d[start:stop]
			m.Size = int64(len(m.Data))
		case 1:
			if lzx == nil {
				lzx = newCHMLZX(section0)
			}
			e := e
			m.Open = func() (io.Reader, error) { return lzx.open(ctx, e.offset, e.length) }
		default:
			m.Open = chmFail(fmt.Sprintf("unknown content section %d", e.section))
		}
		if err := yield(m); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// chmUserFile reports whether a directory entry is a file of the help
// itself, not a directory or an internal file.
func chmUserFile(name string) bool {
	if !strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return false
	}
	return !strings.HasPrefix(name, "/#") && !strings.HasPrefix(name, "/$")
}

func chmFail(reason string) func() (io.Reader, error) {
	return func() (io.Reader, error) { return nil, fmt.Errorf("%w: chm: %s", ErrCorrupt, reason) }
}

// encint reads a CHM variable-length integer: seven bits a byte, most
// significant first, the high bit set on every byte but the last.
func encint(b []byte, pos *int) (uint64, bool) {
	var v uint64
	for i := 0; i < 9; i++ {
		if *pos >= len(b) {
			return 0, false
		}
		c := b[*pos]
		*pos++
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 == 0 {
			return v, true
		}
	}
	return 0, false
}

type chmDirEntry struct {
	name                    string
	section, offset, length uint64
}

const (
	chmContentName = "::DataSpace/Storage/MSCompressed/Content"
	chmControlName = "::DataSpace/Storage/MSCompressed/ControlData"
	chmResetName   = "::DataSpace/Storage/MSCompressed/Transform/{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/ResetTable"
)

// chmLZX is section 1: the LZX stream stored in the Content file, its
// window and reset interval from ControlData ("LZXC"), and the reset
// table giving the compressed offset of each 32 KiB frame.
type chmLZX struct {
	content     []byte
	bits        int
	resetFrames int64
	frames      []uint64 // compressed offset of each frame
	total       int64    // uncompressed length, -1 when unknown
	err         error
	cur         *lzxReader // the last reader, reused for files further on
}

func newCHMLZX(section0 func(string) []byte) *chmLZX {
	c := &chmLZX{total: -1}
	c.content = section0(chmContentName)
	ctl := section0(chmControlName)
	if c.content == nil || len(ctl) < 24 || !bytes.Equal(ctl[4:8], []byte("LZXC")) {
		c.err = fmt.Errorf("%w: chm: LZX section without its content or control data", ErrCorrupt)
		return c
	}
	le := binary.LittleEndian
	version := le.Uint32(ctl[8:])
	reset, window := uint64(le.Uint32(ctl[12:])), uint64(le.Uint32(ctl[16:]))
	if version == 2 {
		reset *= lzxFrameSize
		window *= lzxFrameSize
	}
	for b := 15; b <= 21; b++ {
		if window == 1<<b {
			c.bits = b
		}
	}
	if c.bits == 0 {
		c.err = fmt.Errorf("%w: chm: LZX window size %d not supported", ErrCorrupt, window)
		return c
	}
	if reset%lzxFrameSize == 0 {
		c.resetFrames = int64(reset / lzxFrameSize) // 0: never reset
	}
	if rt := section0(chmResetName); len(rt) >= 0x28 {
		n := uint64(le.Uint32(rt[4:]))
		esize := uint64(le.Uint32(rt[8:]))
		at := uint64(le.Uint32(rt[12:]))
		c.total = clampSize(le.Uint64(rt[0x10:]))
		if esize == 8 {
			for i := uint64(0); i < n && at+8 <= uint64(len(rt)); i, at = i+1, at+8 {
				c.frames = append(c.frames, le.Uint64(rt[at:]))
			}
		}
	}
	return c
}

// open returns a reader of length bytes at offset off of the section.
// Decoding starts at the last reset point at or before off whose offset
// the reset table gives, or else at the start of the section.
func (c *chmLZX) open(ctx context.Context, off, length uint64) (io.Reader, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.total >= 0 && (off > uint64(c.total) || length > uint64(c.total)-off) {
		return nil, fmt.Errorf("%w: chm: file beyond the end of the LZX section", ErrCorrupt)
	}
	// Files usually follow each other: go on from the last reader when the
	// file lies ahead of it and not beyond the next reset point or two.
	if r := c.cur; r != nil && r.err == nil {
		at := r.pos - int64(len(r.buf))
		if int64(off) >= at && (c.resetFrames == 0 || int64(off)-at < 2*c.resetFrames*lzxFrameSize) {
			return c.skipTo(ctx, r, at, off, length)
		}
	}
	d, err := newLZX(c.bits, c.content)
	if err != nil {
		return nil, err
	}
	r := &lzxReader{d: d, total: c.total, resetFrames: c.resetFrames}
	c.cur = r
	if c.resetFrames > 0 {
		f := int64(off/lzxFrameSize) / c.resetFrames * c.resetFrames
		for ; f > 0; f -= c.resetFrames {
			if f < int64(len(c.frames)) && c.frames[f] < uint64(len(c.content)) {
				d.seek(int(c.frames[f]))
				r.pos = f * lzxFrameSize
				break
			}
		}
	}
	return c.skipTo(ctx, r, r.pos, off, length)
}

// skipTo discards the section's bytes from at up to off, then limits r to
// length bytes.
func (c *chmLZX) skipTo(ctx context.Context, r *lzxReader, at int64, off, length uint64) (io.Reader, error) {
	skip := int64(off) - at
	for skip > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := io.CopyN(io.Discard, r, min(skip, 1<<20))
		skip -= n
		if err == io.EOF {
			c.cur = nil
			return nil, fmt.Errorf("%w: chm: file beyond the end of the LZX section", ErrCorrupt)
		}
		if err != nil {
			c.cur = nil
			return nil, err
		}
	}
	return io.LimitReader(r, int64(min(length, uint64(math.MaxInt64)))), nil
}
