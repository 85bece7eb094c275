package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/ulikunitz/xz"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "xz", Types: []filetype.Type{filetype.Xz}, Walk: walkXz})
}

var xzSuffixes = [][2]string{{".txz", ".tar"}, {".xz", ""}}

// xzMaxDict is the largest LZMA dictionary the xz and lzma formats allocate.
// A dictionary is only needed as far back as a match can reach, which is
// never beyond what the Walker lets a member grow to (MaxObjectSize, 64 MiB
// by default): larger declared sizes are lowered to this before decoding,
// so a 100-byte hostile header cannot make the decoder allocate 4 GiB.
const xzMaxDict = 64 << 20

// walkXz yields the decompressed content of an xz file (every concatenated
// stream, as xz -d does) as one member.
//
// ulikunitz/xz allocates each block's dictionary at the size its LZMA2
// filter declares. Before decoding, xzBound walks the file's structure (block
// headers and LZMA2 chunk headers, which carry their own sizes), lowers each
// declared dictionary to what the block can actually use, and cuts the input
// where the structure breaks: the decoder never sees a header we did not
// check, and reports the cut as an unexpected end of input.
func walkXz(ctx context.Context, c *Container, yield func(Member) error) error {
	data, bad := xzBound(c.Data)
	zr, err := xz.ReaderConfig{DictCap: 4096}.NewReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: xz header: %v", ErrCorrupt, err)
	}
	var tail error
	if bad != nil {
		tail = fmt.Errorf("%w: xz: %v", ErrCorrupt, bad)
	}
	return yield(Member{
		Name:   stripSuffix(c.Name, xzSuffixes),
		Size:   -1,
		Packed: int64(len(c.Data)),
		Open:   func() (io.Reader, error) { return &drainReader{r: zr, tail: tail}, nil },
	})
}

// drainReader wraps an LZMA decoder from ulikunitz/xz. That decoder fills
// its whole dictionary buffer before handing anything out, and when the
// input ends early it returns the error without the bytes it had decoded:
// a truncated file would yield nothing at all. drainReader holds the error
// back and keeps reading until the decoder stops producing bytes, so what
// precedes the damage is scanned. tail, when set, replaces a clean end of
// stream (the input was cut before decoding, see xzBound).
type drainReader struct {
	r       io.Reader
	err     error
	tail    error
	retries int
}

func (d *drainReader) Read(p []byte) (int, error) {
	if d.err == nil {
		n, err := d.r.Read(p)
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF:
			if d.tail != nil {
				err = d.tail
			}
			d.err = err
			if n > 0 {
				return n, nil
			}
			return 0, err
		default:
			d.err = err
			if n > 0 {
				return n, nil
			}
		}
	}
	if d.err == io.EOF || d.err == d.tail {
		return 0, d.err
	}
	// After an error: collect what is still buffered. Each call either
	// returns bytes (from a finite buffer) or ends the stream; the retry
	// cap bounds a decoder that would keep inventing bytes.
	if d.retries++; d.retries > 1<<12 || len(p) == 0 {
		return 0, d.err
	}
	n, _ := d.r.Read(p)
	if n == 0 {
		return 0, d.err
	}
	return n, nil
}

// xzCheckSize is the size of a block's integrity check for a check type.
func xzCheckSize(t byte) int {
	if t == 0 {
		return 0
	}
	return 4 << ((t - 1) / 3)
}

// xzVLI reads an xz variable-length integer (at most 9 bytes) at d[p:].
func xzVLI(d []byte, p int) (uint64, int, bool) {
	var v uint64
	for i := 0; i < 9; i++ {
		if p+i >= len(d) {
			return 0, 0, false
		}
		b := d[p+i]
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if i > 0 && b == 0 {
				return 0, 0, false // not minimally encoded
			}
			return v, p + i + 1, true
		}
	}
	return 0, 0, false
}

// xzDictSize decodes an LZMA2 dictionary property byte.
func xzDictSize(b byte) int64 {
	if b == 40 {
		return 1<<32 - 1
	}
	return int64(2|b&1) << (b/2 + 11)
}

// xzDictByte is the smallest property byte whose size is at least n.
func xzDictByte(n int64) byte {
	for b := byte(0); b < 40; b++ {
		if xzDictSize(b) >= n {
			return b
		}
	}
	return 40
}

// xzBound returns the data to decode: a copy of d with every LZMA2
// dictionary lowered to what its block can use (at most xzMaxDict), cut at
// the first structural error, which it returns too (nil when whole). Data
// in a block whose header was checked is kept up to the error, so that the
// decoder can still produce what precedes it.
func xzBound(d []byte) ([]byte, error) {
	out := d
	patched := false
	p := 0
	streams := 0
	for p < len(d) {
		if streams > 0 {
			// Stream padding: zero bytes in groups of four.
			for p+4 <= len(d) && d[p] == 0 && d[p+1] == 0 && d[p+2] == 0 && d[p+3] == 0 {
				p += 4
			}
			if p >= len(d) {
				break
			}
		}
		if len(d)-p < 12 || !bytes.HasPrefix(d[p:], []byte("\xfd7zXZ\x00")) {
			return out[:p], fmt.Errorf("stream header at %d", p)
		}
		check := d[p+7] & 0x0f
		start := p
		p += 12
		for {
			if p >= len(d) {
				return out[:p], fmt.Errorf("truncated at %d", p)
			}
			if d[p] == 0 {
				break // the index
			}
			block := p
			hsize := (int(d[p]) + 1) * 4
			if len(d)-p < hsize {
				return out[:p], fmt.Errorf("block header truncated at %d", p)
			}
			h := d[p : p+hsize]
			if crc32.ChecksumIEEE(h[:hsize-4]) != binary.LittleEndian.Uint32(h[hsize-4:]) {
				return out[:p], fmt.Errorf("block header checksum at %d", p)
			}
			flags := h[1]
			q := 2
			var ok bool
			if flags&0x40 != 0 {
				if _, q, ok = xzVLI(h, q); !ok {
					return out[:p], fmt.Errorf("block header at %d", p)
				}
			}
			if flags&0x80 != 0 {
				if _, q, ok = xzVLI(h, q); !ok {
					return out[:p], fmt.Errorf("block header at %d", p)
				}
			}
			dictAt := -1
			for f := 0; f <= int(flags&3); f++ {
				var id, psize uint64
				if id, q, ok = xzVLI(h, q); !ok {
					return out[:p], fmt.Errorf("filter flags at %d", p)
				}
				if psize, q, ok = xzVLI(h, q); !ok || psize > uint64(len(h)-4-q) {
					return out[:p], fmt.Errorf("filter flags at %d", p)
				}
				if id == 0x21 && psize == 1 {
					dictAt = p + q
				}
				q += int(psize)
			}
			p += hsize
			// The LZMA2 chunks: each header gives its sizes. A damaged
			// chunk ends the walk there, but the block's dictionary is
			// still lowered so that its good chunks can be decoded.
			var unpacked int64
			var broken error
			for broken == nil {
				if p >= len(d) {
					broken = fmt.Errorf("lzma2 data truncated at %d", p)
					p = len(d)
					break
				}
				ctl := d[p]
				if ctl == 0 {
					p++
					break
				}
				switch {
				case ctl == 1 || ctl == 2:
					if len(d)-p < 3 {
						broken = fmt.Errorf("lzma2 chunk truncated at %d", p)
						p = len(d)
						break
					}
					n := int(binary.BigEndian.Uint16(d[p+1:])) + 1
					unpacked += int64(n)
					p += 3 + n
				case ctl >= 0x80:
					hl := 5
					if ctl >= 0xc0 {
						hl = 6
					}
					if len(d)-p < hl {
						broken = fmt.Errorf("lzma2 chunk truncated at %d", p)
						p = len(d)
						break
					}
					unpacked += int64(ctl&0x1f)<<16 + int64(binary.BigEndian.Uint16(d[p+1:])) + 1
					p += hl + int(binary.BigEndian.Uint16(d[p+3:])) + 1
				default:
					broken = fmt.Errorf("lzma2 control byte %#x at %d", ctl, p)
				}
			}
			if dictAt >= 0 && d[dictAt] <= 40 {
				want := xzDictByte(min(unpacked, xzMaxDict))
				if want < d[dictAt] {
					if !patched {
						out = append([]byte(nil), d...)
						patched = true
					}
					out[dictAt] = want
					hdr := out[block : block+hsize]
					binary.LittleEndian.PutUint32(hdr[hsize-4:], crc32.ChecksumIEEE(hdr[:hsize-4]))
				}
			}
			if broken != nil {
				return out[:min(p, len(d))], broken
			}
			// Block padding to a multiple of four, then the check.
			p += (4 - (p-start)%4) % 4
			p += xzCheckSize(check)
			if p > len(d) {
				return out[:block], fmt.Errorf("block check truncated")
			}
		}
		// The index: indicator, record count, records, padding, CRC32.
		n, q, ok := xzVLI(d, p+1)
		if !ok {
			return out[:p], fmt.Errorf("index at %d", p)
		}
		for i := uint64(0); i < 2*n; i++ {
			if _, q, ok = xzVLI(d, q); !ok {
				return out[:p], fmt.Errorf("index at %d", p)
			}
		}
		q += (4 - (q-start)%4) % 4
		q += 4 + 12 // index CRC32, stream footer
		if q > len(d) {
			return out[:p], fmt.Errorf("index or footer truncated")
		}
		p = q
		streams++
	}
	return out, nil
}
