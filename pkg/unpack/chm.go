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
	Register(Format{Name: "chm", Types: []filetype.Type{filetype.CHM}, Walk: walkCHM})
}

// walkCHM reads a Compiled HTML Help file (ITSF): the ITSP directory's
// PMGL listing chunks give each file's content section, offset and length.
// Files of section 0 (stored) are yielded as they are, named by their path
// without the leading "/" ("html/index.htm"). Files of section 1 (the
// "MSCompressed" LZX section, where most CHM content lives) cannot be
// decoded yet: there is no LZX decoder in this package, so they are
// yielded as CORRUPTED "unsupported compression LZX". Directory entries,
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
			if !chmUserFile(name) || length == 0 {
				continue
			}
			m := Member{Name: strings.TrimPrefix(name, "/"), Size: clampSize(length), Packed: -1}
			switch section {
			case 0:
				start := content + offset
				if start < content || start > uint64(len(d)) {
					m.Open = chmFail("content beyond the end of the file")
					break
				}
				stop := start + length
				if stop < start || stop > uint64(len(d)) {
					stop = uint64(len(d))
					m.Anomaly = "chm: file truncated"
				}
				m.Data = d[start:stop]
				m.Size = int64(len(m.Data))
			case 1:
				m.Open = chmFail("unsupported compression LZX")
			default:
				m.Open = chmFail(fmt.Sprintf("unknown content section %d", section))
			}
			if err := yield(m); err != nil {
				return err
			}
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
