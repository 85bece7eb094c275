package unpack

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "cab", Types: []filetype.Type{filetype.Cab}, Walk: walkCab})
}

// Microsoft cabinet ([MS-CAB]). Our own parser rather than go-cabfile:
// that library rejects a whole cabinet when one folder uses LZX or
// Quantum, decompresses a file's entire folder into memory for every file,
// ignores the per-folder and per-block reserve areas, and slices MSZIP
// blocks without checking their length. Stored, MSZIP, Quantum
// (quantum.go) and LZX (lzx.go) folders are all decoded.
const (
	cabHeaderLen = 36
	cabFolderLen = 8
	cabFileLen   = 16
	cabDataLen   = 8

	cabFlagPrev    = 0x1
	cabFlagNext    = 0x2
	cabFlagReserve = 0x4

	cabCompNone    = 0
	cabCompMSZIP   = 1
	cabCompQuantum = 2
	cabCompLZX     = 3

	cabFolderContinuedFromPrev = 0xfffd
	cabFolderContinuedToNext   = 0xfffe
	cabFolderContinuedPrevNext = 0xffff

	cabMaxBlock = 32768 + 6144 // largest CFDATA payload MSZIP/LZX may produce
)

type cabFolder struct {
	dataAt int // first CFDATA
	blocks int
	comp   uint16
}

type cabFile struct {
	name   string
	size   uint32
	offset uint32
	folder uint16
}

type cabinet struct {
	d        []byte
	dataRsv  int
	folders  []cabFolder
	files    []cabFile
	problem  string // why the file table stopped early
	multiVol bool
}

// walkCab yields every file of a cabinet, decoding stored, MSZIP, Quantum
// and LZX folders. A file whose folder cannot be read is reported on its
// own, and the walk goes on.
func walkCab(ctx context.Context, c *Container, yield func(Member) error) error {
	cab, err := parseCab(c.Data)
	if err != nil {
		return err
	}
	var cur *cabStream // the folder being read, kept while files follow in order
	for _, f := range cab.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := Member{Name: strings.ReplaceAll(f.name, "\\", "/"), Size: int64(f.size), Packed: -1}
		fi := int(f.folder)
		switch {
		case f.folder == cabFolderContinuedFromPrev || f.folder == cabFolderContinuedPrevNext:
			m.Open = cabFail("file continues from a previous cabinet")
		case f.folder == cabFolderContinuedToNext:
			fi = len(cab.folders) - 1
			fallthrough
		default:
			if fi < 0 || fi >= len(cab.folders) {
				m.Open = cabFail(fmt.Sprintf("folder %d out of range", f.folder))
				break
			}
			fo := cab.folders[fi]
			switch fo.comp & 0x0f {
			case cabCompNone, cabCompMSZIP, cabCompQuantum, cabCompLZX:
			default:
				m.Open = cabFail(fmt.Sprintf("unknown compression type %#x", fo.comp))
			}
			if m.Open != nil {
				break
			}
			f := f
			m.Open = func() (io.Reader, error) {
				if cur == nil || cur.folder != fi || cur.pos > int64(f.offset) {
					cur = &cabStream{cab: cab, folder: fi, at: fo.dataAt, left: fo.blocks, mszip: fo.comp&0x0f == cabCompMSZIP}
					var err error
					switch fo.comp & 0x0f {
					case cabCompLZX:
						cur.frames, err = cabLZX(cab, fo)
					case cabCompQuantum:
						cur.frames, err = cabQuantum(cab, fo)
					}
					if err != nil {
						cur = nil
						return nil, err
					}
					if cur.frames != nil {
						cur.left = 1
					}
				}
				if err := cur.skip(ctx, int64(f.offset)-cur.pos); err != nil {
					cur = nil
					return nil, err
				}
				return io.LimitReader(cur, int64(f.size)), nil
			}
		}
		if err := yield(m); err != nil {
			return err
		}
		if cur != nil && cur.err != nil {
			cur = nil
		}
	}
	if cab.problem != "" {
		return fmt.Errorf("%w: %s", ErrCorrupt, cab.problem)
	}
	return nil
}

func cabFail(reason string) func() (io.Reader, error) {
	return func() (io.Reader, error) { return nil, fmt.Errorf("%w: cab: %s", ErrCorrupt, reason) }
}

// parseCab reads the header, the folder table and as much of the file
// table as the input holds.
func parseCab(d []byte) (*cabinet, error) {
	if len(d) < cabHeaderLen || !bytes.HasPrefix(d, []byte("MSCF")) {
		return nil, fmt.Errorf("%w: header truncated", ErrCorrupt)
	}
	le := binary.LittleEndian
	coffFiles := int64(le.Uint32(d[16:]))
	nFolders := int(le.Uint16(d[26:]))
	nFiles := int(le.Uint16(d[28:]))
	flags := le.Uint16(d[30:])
	cab := &cabinet{d: d, multiVol: flags&(cabFlagPrev|cabFlagNext) != 0}
	p := cabHeaderLen
	folderRsv := 0
	if flags&cabFlagReserve != 0 {
		if len(d) < p+4 {
			return nil, fmt.Errorf("%w: header truncated", ErrCorrupt)
		}
		hdrRsv := int(le.Uint16(d[p:]))
		folderRsv = int(d[p+2])
		cab.dataRsv = int(d[p+3])
		p += 4 + hdrRsv
	}
	// Names of the previous and next cabinets and disks.
	for _, f := range []uint16{cabFlagPrev, cabFlagNext} {
		if flags&f == 0 {
			continue
		}
		for range 2 {
			if p > len(d) {
				break
			}
			i := bytes.IndexByte(d[p:], 0)
			if i < 0 {
				return nil, fmt.Errorf("%w: header truncated", ErrCorrupt)
			}
			p += i + 1
		}
	}
	for i := 0; i < nFolders; i++ {
		if p+cabFolderLen > len(d) {
			return nil, fmt.Errorf("%w: folder table truncated", ErrCorrupt)
		}
		cab.folders = append(cab.folders, cabFolder{
			dataAt: int(le.Uint32(d[p:])),
			blocks: int(le.Uint16(d[p+4:])),
			comp:   le.Uint16(d[p+6:]),
		})
		p += cabFolderLen + folderRsv
	}
	if coffFiles > int64(len(d)) {
		return nil, fmt.Errorf("%w: file table at %d beyond the end", ErrCorrupt, coffFiles)
	}
	p = int(coffFiles)
	for i := 0; i < nFiles; i++ {
		if p+cabFileLen > len(d) {
			cab.problem = fmt.Sprintf("file table truncated after %d of %d files", i, nFiles)
			break
		}
		end := bytes.IndexByte(d[p+cabFileLen:], 0)
		if end < 0 {
			cab.problem = fmt.Sprintf("file table truncated after %d of %d files", i, nFiles)
			break
		}
		cab.files = append(cab.files, cabFile{
			size:   le.Uint32(d[p:]),
			offset: le.Uint32(d[p+4:]),
			folder: le.Uint16(d[p+8:]),
			name:   string(d[p+cabFileLen : p+cabFileLen+end]),
		})
		p += cabFileLen + end + 1
	}
	return cab, nil
}

// cabStream reads a folder's uncompressed bytes block by block.
type cabStream struct {
	cab     *cabinet
	folder  int
	at      int   // next CFDATA
	left    int   // blocks not yet read
	pos     int64 // uncompressed offset of buf[0] plus what was consumed
	buf     []byte
	history []byte // MSZIP: the last 32 KiB of output
	mszip   bool
	// frames, for LZX and Quantum folders, decodes the next 32 KiB
	// frame; io.EOF after the last.
	frames func() ([]byte, error)
	err    error
}

// cabPayload gathers the payloads of a folder's CFDATA blocks into one
// stream, with trailer after each whole block, and adds up the blocks'
// uncompressed sizes to the folder's length. A block table cut short
// yields what precedes the cut and the error to report after it.
func cabPayload(cab *cabinet, fo cabFolder, trailer []byte) (in []byte, total int64, trunc error) {
	d := cab.d
	at := fo.dataAt
	for i := 0; i < fo.blocks; i++ {
		if at < 0 || at+cabDataLen > len(d) {
			trunc = fmt.Errorf("%w: cab: data block truncated: %v", ErrCorrupt, io.ErrUnexpectedEOF)
			break
		}
		cbData := int(binary.LittleEndian.Uint16(d[at+4:]))
		cbUncomp := int64(binary.LittleEndian.Uint16(d[at+6:]))
		start := at + cabDataLen + cab.dataRsv
		if start > len(d) {
			trunc = fmt.Errorf("%w: cab: data block truncated: %v", ErrCorrupt, io.ErrUnexpectedEOF)
			break
		}
		if start+cbData > len(d) {
			in = append(in, d[start:]...)
			total += cbUncomp
			trunc = fmt.Errorf("%w: cab: data block truncated: %v", ErrCorrupt, io.ErrUnexpectedEOF)
			break
		}
		in = append(in, d[start:start+cbData]...)
		in = append(in, trailer...)
		total += cbUncomp
		at = start + cbData
	}
	return in, total, trunc
}

// cabLZX prepares an LZX folder: the payloads of its CFDATA blocks form
// one bit stream (realigned at each 32 KiB frame). A block table cut
// short still decodes what precedes the cut, then reports it.
func cabLZX(cab *cabinet, fo cabFolder) (func() ([]byte, error), error) {
	in, total, trunc := cabPayload(cab, fo, nil)
	dec, err := newLZX(int(fo.comp>>8&0x1f), in)
	if err != nil {
		return nil, err
	}
	r := &lzxReader{d: dec, total: total, truncated: trunc}
	return cabFrames(r.next, &r.buf), nil
}

// cabQuantum prepares a Quantum folder: window bits in bits 8-12 of the
// compression type (bits 4-7, the level, matter only to encoders). Each
// CFDATA block holds one 32 KiB frame; the 0xff put after each block is
// the trailer the decoder skips to at a frame's end.
func cabQuantum(cab *cabinet, fo cabFolder) (func() ([]byte, error), error) {
	in, total, trunc := cabPayload(cab, fo, []byte{0xff})
	dec, err := newQuantum(int(fo.comp>>8&0x1f), in, total)
	if err != nil {
		return nil, err
	}
	r := &qtmReader{d: dec, total: total, truncated: trunc}
	return cabFrames(r.next, &r.buf), nil
}

// cabFrames hands out the frames a decoder's next puts into *buf.
func cabFrames(next func() error, buf *[]byte) func() ([]byte, error) {
	return func() ([]byte, error) {
		err := next()
		b := *buf
		*buf = nil
		return b, err
	}
}

// frameBlock hands out the next frame of an LZX or Quantum folder.
func (s *cabStream) frameBlock() error {
	b, err := s.frames()
	s.buf = b
	if err == io.EOF {
		s.left = 0
		return nil
	}
	return err
}

func (s *cabStream) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.left == 0 {
			s.err = io.EOF
			return 0, io.EOF
		}
		s.err = s.block()
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	s.pos += int64(n)
	return n, nil
}

// skip discards n bytes, checking ctx between blocks.
func (s *cabStream) skip(ctx context.Context, n int64) error {
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(s.buf) == 0 {
			if s.err != nil {
				if s.err == io.EOF {
					return fmt.Errorf("%w: cab: file starts beyond its folder's end", ErrCorrupt)
				}
				return s.err
			}
			if s.left == 0 {
				s.err = io.EOF
				continue
			}
			s.err = s.block()
			continue
		}
		k := min(n, int64(len(s.buf)))
		s.buf = s.buf[k:]
		s.pos += k
		n -= k
	}
	return nil
}

// block decodes the next CFDATA block into buf.
func (s *cabStream) block() error {
	if s.frames != nil {
		return s.frameBlock()
	}
	d := s.cab.d
	s.left--
	if s.at < 0 || s.at+cabDataLen > len(d) {
		return fmt.Errorf("%w: cab: data block truncated: %v", ErrCorrupt, io.ErrUnexpectedEOF)
	}
	cbData := int(binary.LittleEndian.Uint16(d[s.at+4:]))
	cbUncomp := int(binary.LittleEndian.Uint16(d[s.at+6:]))
	start := s.at + cabDataLen + s.cab.dataRsv
	if start+cbData > len(d) {
		// A truncated last block: stored data still yields what is there.
		if !s.mszip && start < len(d) {
			s.buf = d[start:]
			s.at = len(d)
			s.left = 0
			return fmt.Errorf("%w: cab: data block truncated: %v", ErrCorrupt, io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("%w: cab: data block truncated: %v", ErrCorrupt, io.ErrUnexpectedEOF)
	}
	raw := d[start : start+cbData]
	s.at = start + cbData
	if !s.mszip {
		s.buf = raw
		return nil
	}
	if cbUncomp > cabMaxBlock {
		return fmt.Errorf("%w: cab: MSZIP block of %d bytes", ErrCorrupt, cbUncomp)
	}
	if len(raw) < 2 || raw[0] != 'C' || raw[1] != 'K' {
		return fmt.Errorf("%w: cab: MSZIP block without its CK signature", ErrCorrupt)
	}
	out := make([]byte, cbUncomp)
	fr := flate.NewReaderDict(bytes.NewReader(raw[2:]), s.history)
	n, err := io.ReadFull(fr, out)
	_ = fr.Close()
	if err != nil {
		s.buf = out[:n]
		return fmt.Errorf("%w: cab: MSZIP block: %v", ErrCorrupt, err)
	}
	s.history = append(s.history, out...)
	if len(s.history) > 32768 {
		s.history = append(s.history[:0:0], s.history[len(s.history)-32768:]...)
	}
	s.buf = out
	return nil
}
