package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "binhex", Types: []filetype.Type{filetype.BinHex}, Walk: walkBinHex})
}

// BinHex 4.0 (RFC 1741): after the "(This file must be converted ...)"
// banner, data between two colons is written with a 64-character alphabet,
// six bits per character. The decoded bytes are run-length encoded (0x90 n
// repeats the previous byte n-1 more times; 0x90 0 is a literal 0x90) and
// hold a header (name, type, creator, flags, fork lengths, CRC), the data
// fork and its CRC, then the resource fork and its CRC. The CRCs are
// CRC-16/XMODEM.
const binhexAlphabet = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"

var binhexValues = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(binhexAlphabet); i++ {
		t[binhexAlphabet[i]] = byte(i)
	}
	return t
}()

// walkBinHex yields the data fork (named by the header's file name) and,
// when it is not empty, the resource fork ("name.rsrc"). The forks are
// decoded as the Walker reads them, so a run-length bomb is bounded by the
// Walker's limits. A CRC mismatch makes the object CORRUPTED after the forks
// have been yielded and scanned; so does a truncated encoding.
func walkBinHex(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	start := bytes.Index(d, []byte("(This file must be converted"))
	if start < 0 {
		start = 0
	}
	colon := -1
	for pos := start; pos < len(d); {
		next := txtLineEnd(d, pos)
		if d[pos] == ':' {
			colon = pos
			break
		}
		pos = next
	}
	if colon < 0 {
		return fmt.Errorf("%w: no data after the banner", ErrCorrupt)
	}
	r := &binhexReader{src: d[colon+1:]}
	var problems []string

	// Header: name length, name, version, type, creator, flags, lengths.
	n, err := r.ReadByte()
	if err != nil {
		return binhexErr(err, "header")
	}
	hdr := make([]byte, 1+int(n)+1+4+4+2+4+4)
	hdr[0] = n
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return binhexErr(err, "header")
	}
	name := string(hdr[1 : 1+int(n)])
	rest := hdr[1+int(n)+1:]
	dlen := int64(binary.BigEndian.Uint32(rest[10:]))
	rlen := int64(binary.BigEndian.Uint32(rest[14:]))
	if ok, err := r.checkCRC(crc16XModem(0, hdr)); err != nil {
		return binhexErr(err, "header")
	} else if !ok {
		problems = append(problems, "header CRC mismatch")
	}
	if strings.TrimSpace(name) == "" {
		name = "data"
	}

	for i, fork := range []struct {
		name string
		size int64
	}{{name, dlen}, {name + ".rsrc", rlen}} {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i == 1 && fork.size == 0 {
			break
		}
		fr := &binhexFork{r: r, left: fork.size}
		if err := yield(Member{Name: fork.name, Size: fork.size, Packed: int64(len(d)),
			Open: func() (io.Reader, error) { return fr, nil }}); err != nil {
			return err
		}
		if fr.err != nil {
			return binhexErr(fr.err, fork.name)
		}
		// Skip whatever the Walker did not read (a fork over a limit):
		// its CRC cannot be checked then.
		checked := fr.left == 0
		if !checked {
			if _, err := r.skip(fr.left); err != nil {
				return binhexErr(err, fork.name)
			}
		}
		if ok, err := r.checkCRC(fr.crc); err != nil {
			return binhexErr(err, fork.name)
		} else if checked && !ok {
			problems = append(problems, fork.name+": CRC mismatch")
		}
	}
	if r.bad > 0 {
		problems = append(problems, fmt.Sprintf("%d characters outside the BinHex alphabet skipped", r.bad))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

func binhexErr(err error, where string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated in %s", ErrCorrupt, where)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, where, err)
}

// binhexReader decodes the six-bit characters and the run-length encoding.
type binhexReader struct {
	src  []byte
	pos  int
	done bool // the closing colon was read
	bad  int  // characters outside the alphabet, skipped

	acc   uint32 // bits not yet returned
	nbits uint

	last   byte
	repeat int // copies of last still to return
}

// raw returns the next byte of the six-bit decoding.
func (r *binhexReader) raw() (byte, error) {
	for r.nbits < 8 {
		if r.done {
			return 0, io.EOF
		}
		if r.pos >= len(r.src) {
			return 0, io.ErrUnexpectedEOF
		}
		c := r.src[r.pos]
		r.pos++
		switch c {
		case ':':
			r.done = true
			continue
		case '\r', '\n', ' ', '\t':
			continue
		}
		v := binhexValues[c]
		if v == 0xff {
			r.bad++
			continue
		}
		r.acc = r.acc<<6 | uint32(v)
		r.nbits += 6
	}
	r.nbits -= 8
	return byte(r.acc >> r.nbits), nil
}

// ReadByte returns the next byte after run-length decoding.
func (r *binhexReader) ReadByte() (byte, error) {
	for {
		if r.repeat > 0 {
			r.repeat--
			return r.last, nil
		}
		b, err := r.raw()
		if err != nil {
			return 0, err
		}
		if b != 0x90 {
			r.last = b
			return b, nil
		}
		n, err := r.raw()
		if err != nil {
			return 0, err
		}
		if n == 0 {
			r.last = 0x90
			return 0x90, nil
		}
		// The count includes the byte already returned: n-1 more copies
		// (a count of 1 repeats nothing and the loop reads on).
		r.repeat = int(n) - 1
	}
}

func (r *binhexReader) Read(p []byte) (int, error) {
	for i := range p {
		b, err := r.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = b
	}
	return len(p), nil
}

// skip discards up to n decoded bytes, taking runs whole so that skipping
// costs time in proportion to the input, not to the output.
func (r *binhexReader) skip(n int64) (int64, error) {
	var done int64
	for done < n {
		if r.repeat > 0 {
			k := min(int64(r.repeat), n-done)
			r.repeat -= int(k)
			done += k
			continue
		}
		if _, err := r.ReadByte(); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// checkCRC reads a stored CRC and compares it with crc.
func (r *binhexReader) checkCRC(crc uint16) (bool, error) {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return false, err
	}
	return binary.BigEndian.Uint16(b[:]) == crc, nil
}

// binhexFork reads one fork and keeps its CRC.
type binhexFork struct {
	r    *binhexReader
	left int64
	read int64
	crc  uint16
	err  error
}

func (f *binhexFork) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.crc = crc16XModem(f.crc, p[:n])
	f.left -= int64(n)
	f.read += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the fork is shorter than declared
		}
		f.err = err
		return n, fmt.Errorf("%w: binhex: fork truncated", ErrCorrupt)
	}
	return n, nil
}

// crc16XModem updates a CRC-16/XMODEM (polynomial 0x1021, initial 0),
// a byte at a time through crc16Table.
func crc16XModem(crc uint16, p []byte) uint16 {
	for _, b := range p {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^b]
	}
	return crc
}

// crc16Table[i] is the CRC-16/XMODEM register after shifting the byte i
// through it from zero.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
