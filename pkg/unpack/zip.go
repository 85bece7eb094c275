package unpack

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	kflate "github.com/klauspost/compress/flate"
	"github.com/ulikunitz/xz/lzma"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "zip", Types: []filetype.Type{filetype.Zip}, Walk: walkZip})
}

// Compression methods and flags of the zip format (APPNOTE.TXT 4.4.4, 4.4.5).
const (
	zipMethodStore     = 0
	zipMethodDeflate   = 8
	zipMethodDeflate64 = 9
	zipMethodBzip2     = 12
	zipMethodLZMA      = 14
	zipMethodAES       = 99 // WinZip AES: the real method sits in an extra field

	zipFlagEncrypted       = 0x1  // traditional PKWARE encryption (ZipCrypto)
	zipFlagDataDescriptor  = 0x8  // sizes and CRC follow the data
	zipFlagStrongEncrypted = 0x40 // PKWARE strong encryption
)

var (
	zipLocalSig      = []byte("PK\x03\x04")
	zipCentralSig    = []byte("PK\x01\x02")
	zipDescriptorSig = []byte("PK\x07\x08")
)

// walkZip walks the central directory itself, one record at a time, so
// that nothing is held per entry: an archive of a million entries costs no
// more memory than one of ten, and the Walker's MaxFiles ends the walk.
// Each entry's local header is read where the central record says, and
// the bytes it covers (local header and data) must not overlap those of an
// entry already read nor the central directory: an overlapping entry is
// reported CORRUPTED without being decoded, the container too, and after
// zipMaxOverlaps of them the walk stops (the "better zip bomb": thousands
// of records inflating one shared stream). When the central directory cannot be
// found or read, the local file headers are walked from the start instead,
// so whatever precedes the damage is still scanned.
func walkZip(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	dec := &zipDecoders{}
	cd, err := zipFindDirectory(d)
	if err != nil {
		return walkZipLocal(ctx, c, yield, err, nil, dec)
	}
	var spans zipSpans
	overlaps, firstOverlap := 0, ""
	pos, entries := cd.start, uint64(0)
	for pos < cd.end {
		if entries&0xff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if entries > 0 && bytes.HasPrefix(d[pos:], []byte("PK\x05\x05")) {
			break // the digital signature record that may end the directory
		}
		e, next, err := zipCentralEntry(d, pos, cd.base)
		if err != nil {
			// What the directory still lists is looked for in the
			// local headers, skipping the entries already read.
			return walkZipLocal(ctx, c, yield, fmt.Errorf("entry %d: %v", entries+1, err), &spans, dec)
		}
		pos = next
		entries++
		if e.isDir() {
			continue
		}
		m := Member{Name: e.name, Size: clampSize(e.usize), Packed: clampSize(e.csize)}
		if zipEncrypted(e.flags, e.method) {
			m.Encrypted = true
			if body, err := zipLocalData(d, e); err == nil {
				// Known, so that a local header walk after a damaged
				// directory does not report it again.
				spans.add(e.offset, e.dataStart+int64(len(body)), e.name)
			}
		} else {
			body, lerr := zipLocalData(d, e)
			if lerr == nil {
				lo, hi := e.offset, e.dataStart+int64(len(body))
				what := ""
				if hi > cd.start && lo < cd.end {
					what = fmt.Sprintf("%q at offset %d runs into the central directory", e.name, e.offset)
				} else if prev, ok := spans.add(lo, hi, e.name); !ok {
					what = fmt.Sprintf("%q at offset %d overlaps %q", e.name, e.offset, prev)
				}
				if what != "" {
					// The entry is not read: its bytes belong to another.
					overlaps++
					if firstOverlap == "" {
						firstOverlap = what
					}
					if overlaps > zipMaxOverlaps {
						return fmt.Errorf("%w: overlapping zip entries: %s; walk stopped at %d overlapping entries", ErrCorrupt, firstOverlap, overlaps)
					}
					lerr = fmt.Errorf("%w: zip: overlapping zip entries: %s", ErrCorrupt, what)
				}
			}
			m.Open = func() (io.Reader, error) {
				if lerr != nil {
					return nil, lerr
				}
				return dec.open(e, body)
			}
		}
		if err := yield(m); err != nil {
			return err
		}
	}
	if overlaps > 0 {
		return fmt.Errorf("%w: overlapping zip entries: %s (%d entries not read)", ErrCorrupt, firstOverlap, overlaps)
	}
	if pos > cd.end {
		return fmt.Errorf("%w: central directory runs past its end record", ErrCorrupt)
	}
	if cd.zip64 && entries != cd.count || !cd.zip64 && uint16(entries) != uint16(cd.count) {
		return fmt.Errorf("%w: end record declares %d entries, central directory holds %d", ErrCorrupt, cd.count, entries)
	}
	return nil
}

// zipMaxOverlaps is how many overlapping entries are reported one by one
// before the walk stops: a few can be a damaged archive, thousands are a
// bomb (Fifield's "better zip bomb" shares one stream between them all).
const zipMaxOverlaps = 3

// zipDirectory is where the central directory sits, from the end records.
type zipDirectory struct {
	start, end int64  // the central directory's bytes (end: the end record)
	base       int64  // added to every offset (data prepended to the archive)
	count      uint64 // entries declared by the end record
	zip64      bool
}

const (
	zipEndLen      = 22 // end of central directory record, without the comment
	zipEnd64LocLen = 20 // zip64 end of central directory locator
	zipEnd64Len    = 56 // zip64 end of central directory record, fixed part
	zipCentralLen  = 46 // central directory header, fixed part
	zipLocalLen    = 30 // local file header, fixed part
)

// zipFindDirectory reads the end of central directory record (the last one
// whose comment fits the file) and, when there is one, the zip64 end
// record, and locates the first central directory header. Archives with
// data prepended (self-extractors) have offsets relative to the archive's
// own start: when the directory is not at its offset but right before the
// end record, the difference is the base added to every offset.
func zipFindDirectory(d []byte) (zipDirectory, error) {
	var cd zipDirectory
	le := binary.LittleEndian
	// The end record whose comment ends the file; failing that the last
	// one whose comment fits, unless a local header follows it: then it is
	// the end of a zip stored inside an archive cut short.
	eocd, fits := -1, -1
	for i := len(d) - zipEndLen; i >= 0 && i >= len(d)-zipEndLen-0xffff; i-- {
		if d[i] == 'P' && bytes.Equal(d[i:i+4], []byte("PK\x05\x06")) {
			switch end := i + zipEndLen + int(le.Uint16(d[i+20:])); {
			case end == len(d):
				eocd = i
			case end < len(d) && fits < 0 && !bytes.Contains(d[end:], zipLocalSig):
				fits = i
			}
			if eocd >= 0 {
				break
			}
		}
	}
	if eocd < 0 {
		eocd = fits
	}
	if eocd < 0 {
		return cd, errZipNoEnd
	}
	e := d[eocd:]
	cd.count = uint64(le.Uint16(e[10:]))
	size := uint64(le.Uint32(e[12:]))
	off := uint64(le.Uint32(e[16:]))
	end := int64(eocd)
	if loc := eocd - zipEnd64LocLen; loc >= zipEnd64Len && bytes.Equal(d[loc:loc+4], []byte("PK\x06\x07")) {
		// The locator gives the zip64 record's offset; an archive with
		// data prepended has it right before the locator instead.
		at := le.Uint64(d[loc+8:])
		for _, cand := range []uint64{at, uint64(loc - zipEnd64Len)} {
			if cand <= uint64(loc-zipEnd64Len) && bytes.Equal(d[cand:cand+4], []byte("PK\x06\x06")) {
				r := d[cand:]
				cd.count = le.Uint64(r[32:])
				size = le.Uint64(r[40:])
				off = le.Uint64(r[48:])
				cd.zip64 = true
				end = int64(cand)
				break
			}
		}
	}
	if size > uint64(end) || off > uint64(len(d)) {
		return cd, fmt.Errorf("central directory of %d bytes at offset %d outside the file", size, off)
	}
	for _, base := range []int64{0, end - int64(size) - int64(off)} {
		start := base + int64(off)
		if base < 0 || start > end {
			continue
		}
		if start == end && cd.count == 0 || start+4 <= end && bytes.Equal(d[start:start+4], zipCentralSig) {
			cd.start, cd.end, cd.base = start, end, base
			return cd, nil
		}
	}
	return cd, fmt.Errorf("no central directory header at offset %d", off)
}

// zipCentral is what one central directory header says about a member.
type zipCentral struct {
	name          string
	flags, method uint16
	crc           uint32
	csize, usize  uint64
	offset        int64 // of the local header, base included
	dataStart     int64 // set by zipLocalData
	creator       uint16
	extAttrs      uint32
	// Set for entries read from their local header alone: zip64 sizes,
	// and sizes still unknown (a data descriptor follows the data).
	zip64, sizeUnknown bool
}

// zipCentralEntry parses the central directory header at pos and returns
// the position of the next one.
func zipCentralEntry(d []byte, pos, base int64) (*zipCentral, int64, error) {
	le := binary.LittleEndian
	if pos+zipCentralLen > int64(len(d)) {
		return nil, 0, errors.New("truncated")
	}
	h := d[pos:]
	if !bytes.Equal(h[:4], zipCentralSig) {
		return nil, 0, fmt.Errorf("no central directory header at offset %d", pos)
	}
	nlen, elen, clen := int64(le.Uint16(h[28:])), int64(le.Uint16(h[30:])), int64(le.Uint16(h[32:]))
	next := pos + zipCentralLen + nlen + elen + clen
	if next > int64(len(d)) {
		return nil, 0, errors.New("truncated")
	}
	e := &zipCentral{
		name:     string(h[zipCentralLen : zipCentralLen+nlen]),
		creator:  le.Uint16(h[4:]) >> 8,
		flags:    le.Uint16(h[8:]),
		method:   le.Uint16(h[10:]),
		crc:      le.Uint32(h[16:]),
		csize:    uint64(le.Uint32(h[20:])),
		usize:    uint64(le.Uint32(h[24:])),
		extAttrs: le.Uint32(h[38:]),
	}
	off := uint64(le.Uint32(h[42:]))
	// Zip64 extended information (APPNOTE 4.5.3): each field is present
	// only when the header's own field is saturated, in this order.
	extra := h[zipCentralLen+nlen : zipCentralLen+nlen+elen]
	for len(extra) >= 4 {
		id, n := le.Uint16(extra), int(le.Uint16(extra[2:]))
		if 4+n > len(extra) {
			break
		}
		f := extra[4 : 4+n]
		if id == 0x0001 {
			for _, p := range []*uint64{&e.usize, &e.csize, &off} {
				if *p == math.MaxUint32 && len(f) >= 8 {
					*p = le.Uint64(f)
					f = f[8:]
				}
			}
		}
		extra = extra[4+n:]
	}
	if off > uint64(len(d)) || int64(off)+base > int64(len(d)) {
		e.offset = int64(len(d))
	} else {
		e.offset = int64(off) + base
	}
	return e, next, nil
}

// isDir: an entry named like a folder or marked one by its attributes,
// with nothing in it (a "folder" holding data is scanned as a file).
func (e *zipCentral) isDir() bool {
	dir := strings.HasSuffix(e.name, "/")
	switch e.creator {
	case 3, 19: // Unix, OS X: st_mode in the high half
		dir = dir || (e.extAttrs>>16)&0o170000 == 0o040000
	case 0, 11, 14: // FAT, NTFS, VFAT: the MS-DOS directory attribute
		dir = dir || e.extAttrs&0x10 != 0
	}
	return dir && e.usize == 0 && e.csize <= 2
}

// zipLocalData reads the local header the central record points at and
// returns the member's compressed bytes (cut short when the file is).
func zipLocalData(d []byte, e *zipCentral) ([]byte, error) {
	le := binary.LittleEndian
	at := e.offset
	if at+zipLocalLen > int64(len(d)) || !bytes.Equal(d[at:at+4], zipLocalSig) {
		e.dataStart = at
		return nil, fmt.Errorf("%w: zip: no local header for %q at offset %d", ErrCorrupt, e.name, at)
	}
	start := at + zipLocalLen + int64(le.Uint16(d[at+26:])) + int64(le.Uint16(d[at+28:]))
	e.dataStart = start
	if start > int64(len(d)) {
		return nil, fmt.Errorf("%w: zip: local header of %q truncated", ErrCorrupt, e.name)
	}
	end := int64(len(d))
	if e.csize <= uint64(end-start) {
		end = start + int64(e.csize)
	}
	return d[start:end], nil
}

// zipSpans holds the byte ranges of the entries read so far, sorted and
// disjoint, to find an entry that overlaps another.
type zipSpans struct {
	lo, hi []int64
	names  []string
}

// add records [lo, hi); it fails, naming the other entry, when the range
// overlaps one already recorded.
func (s *zipSpans) add(lo, hi int64, name string) (string, bool) {
	i := sort.Search(len(s.lo), func(i int) bool { return s.lo[i] >= lo })
	if i < len(s.lo) && s.lo[i] < hi {
		return s.names[i], false
	}
	if i > 0 && s.hi[i-1] > lo {
		return s.names[i-1], false
	}
	s.lo = slices.Insert(s.lo, i, lo)
	s.hi = slices.Insert(s.hi, i, hi)
	s.names = slices.Insert(s.names, i, name)
	return "", true
}

// find returns the index of the range starting at lo.
func (s *zipSpans) find(lo int64) (int, bool) {
	if s == nil {
		return 0, false
	}
	i, ok := slices.BinarySearch(s.lo, lo)
	return i, ok
}

// before returns the index of the last range starting before at, or -1.
func (s *zipSpans) before(at int64) int {
	if s == nil {
		return -1
	}
	i, _ := slices.BinarySearch(s.lo, at)
	return i - 1
}

// after returns the index of the first range starting after at, or -1.
func (s *zipSpans) after(at int64) int {
	if s == nil {
		return -1
	}
	i, found := slices.BinarySearch(s.lo, at)
	if found {
		i++
	}
	if i >= len(s.lo) {
		return -1
	}
	return i
}

// zipDecoders opens members, reusing one flate decoder for the archive.
// It is klauspost/compress's: given the member's bytes as a *bytes.Reader
// it reads them without a call through an interface per byte, and inflates
// about a quarter faster than compress/flate. Like compress/flate, it
// reads no byte past the end of the stream from an io.ByteReader, which
// the local header walk counts on.
type zipDecoders struct {
	flate io.ReadCloser
}

// open returns the reader of a member's uncompressed content, checked
// against the central record's size and CRC-32.
// An entry whose sizes are unknown is decoded from body until its stream
// ends, unchecked.
func (z *zipDecoders) open(e *zipCentral, body []byte) (io.Reader, error) {
	short := !e.sizeUnknown && uint64(len(body)) < e.csize
	br := bytes.NewReader(body)
	var src io.Reader = br
	if short {
		src, br = truncatedReader(body), nil
	}
	var r io.Reader
	switch e.method {
	case zipMethodStore:
		r = src
	case zipMethodDeflate:
		if z.flate == nil {
			z.flate = kflate.NewReader(src)
		} else if err := z.flate.(kflate.Resetter).Reset(src, nil); err != nil {
			return nil, fmt.Errorf("%w: zip: %v", ErrCorrupt, err)
		}
		r = z.flate
	case zipMethodBzip2:
		r = bzip2.NewReader(src)
	case zipMethodDeflate64, zipMethodLZMA:
		var err error
		size := clampSize(e.usize)
		if e.sizeUnknown {
			size = -1
		}
		if r, err = zipExtraMethod(e.method, e.flags, size, src); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: zip: compression method %d", ErrUnsupported, e.method)
	}
	return &zipChecked{r: r, e: e, src: br}, nil
}

// zipChecked counts and checksums what a member's decoder produces: more
// than the declared size, or a CRC-32 that does not match at the end, is
// an error (the bytes read are still scanned). src, when the member's
// bytes are all there, tells how many of them the decoder consumed.
type zipChecked struct {
	r   io.Reader
	e   *zipCentral
	src *bytes.Reader
	n   uint64
	crc uint32
}

func (z *zipChecked) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if z.e.sizeUnknown {
		return n, err
	}
	z.n += uint64(n)
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p[:n])
	if z.n > z.e.usize {
		return n, fmt.Errorf("%w: zip: %q holds more than its declared %d bytes", ErrCorrupt, z.e.name, z.e.usize)
	}
	if err == io.EOF {
		if z.n != z.e.usize {
			return n, fmt.Errorf("%w: zip: %q holds %d bytes, not its declared %d: %v", ErrCorrupt, z.e.name, z.n, z.e.usize, io.ErrUnexpectedEOF)
		}
		if z.e.crc != 0 && z.crc != z.e.crc {
			return n, fmt.Errorf("%w: zip: checksum error in %q", ErrCorrupt, z.e.name)
		}
	}
	return n, err
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

// truncatedReader returns the bytes it has, then io.ErrUnexpectedEOF.
func truncatedReader(b []byte) io.Reader {
	return io.MultiReader(bytes.NewReader(b), errorReader{io.ErrUnexpectedEOF})
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }

// errZipNoEnd: the archive has no end of central directory record (a
// download cut short), as opposed to a directory that is there but damaged.
var errZipNoEnd = errors.New("no end of central directory record")

// walkZipLocal walks the local file headers one after the other. It is the
// fallback for archives whose central directory is missing or damaged, and
// always ends with an error wrapping ErrCorrupt that says why it was
// needed. done holds the entries the central directory walk already read
// (empty when it read none): they are skipped, not read again, and an
// entry found here that overlaps one of them is refused like in the
// central directory walk.
//
// Where an entry ends: after its declared size when the local header has
// one; for an entry whose sizes follow in a data descriptor, at the first
// "PK\x07\x08" descriptor whose compressed size reaches back exactly to the
// entry's data; failing that, a compressed entry ends where its decoder
// stopped reading, and a stored one at the next zip record found. Every
// byte is looked at by at most one decoder and one signature search, so
// hostile input costs time linear in its size.
func walkZipLocal(ctx context.Context, c *Container, yield func(Member) error, cdErr error, done *zipSpans, dec *zipDecoders) error {
	d := c.Data
	why := "central directory damaged"
	if errors.Is(cdErr, errZipNoEnd) {
		why = "central directory missing"
	}
	pos := bytes.Index(d, zipLocalSig)
	if pos < 0 {
		return fmt.Errorf("%w: %s (%v) and no local file header found", ErrCorrupt, why, cdErr)
	}
	var descs zipDescIndex
	entries, overlaps := 0, 0
	problem := ""
	for pos >= 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i, ok := done.find(int64(pos)); ok {
			// Read by the central directory walk: go on after it.
			pos = nextLocalHeader(d, int(done.hi[i]))
			continue
		}
		e, start, ok := zipLocalEntry(d, pos)
		if !ok {
			problem = "; local header truncated"
			break
		}
		entries++
		// limit: the entry's data cannot run into an entry already read.
		limit := int64(len(d))
		if i := done.after(int64(pos)); i >= 0 {
			limit = max(done.lo[i], start)
		}
		end, next, cut := int64(-1), int64(-1), false
		if e.sizeUnknown {
			if p, ok := descs.lookup(d, start); ok && p <= limit {
				end, next = p, zipReadDescriptor(d, e, p, start)
			} else if e.csize != 0 && !e.zip64 {
				e.sizeUnknown = false // sizes written despite the flag (zip -0 to a pipe)
			} else if e.method == zipMethodStore {
				end = zipRecordEnd(d, start, limit)
				next, cut = end, end == int64(len(d))
			}
		}
		if !e.sizeUnknown && end < 0 {
			end = start + int64(e.csize)
			if e.csize > uint64(limit-start) {
				end = limit
			}
			next = end
		}
		body := d[start:limit]
		if end >= 0 {
			body = d[start:end]
		}
		m := Member{Name: e.name, Size: -1, Packed: -1}
		if !e.sizeUnknown {
			m.Size, m.Packed = clampSize(e.usize), clampSize(e.csize)
		}
		// The entry must not overlap one already read: its header may not
		// sit inside one, nor its declared data run into the next.
		overlap := ""
		if i := done.before(int64(pos)); i >= 0 && done.hi[i] > int64(pos) {
			overlap = fmt.Sprintf("%q at offset %d overlaps %q", e.name, pos, done.names[i])
		} else if j := done.after(int64(pos)); j >= 0 && (done.lo[j] < start || !e.sizeUnknown && e.csize > uint64(limit-start)) {
			overlap = fmt.Sprintf("%q at offset %d overlaps %q", e.name, pos, done.names[j])
		}
		var chk *zipChecked
		isDir := strings.HasSuffix(e.name, "/") && end == start
		switch {
		case isDir:
		case overlap != "":
			if overlaps++; overlaps > zipMaxOverlaps {
				return fmt.Errorf("%w: overlapping zip entries: %s; walk stopped at %d overlapping entries", ErrCorrupt, overlap, overlaps)
			}
			err := fmt.Errorf("%w: zip: overlapping zip entries: %s", ErrCorrupt, overlap)
			m.Open = func() (io.Reader, error) { return nil, err }
			next = -1
		case zipEncrypted(e.flags, e.method):
			m.Encrypted = true
		case cut:
			// Stored data that runs to the end of the file without the
			// descriptor that must follow it.
			m.Open = func() (io.Reader, error) { return truncatedReader(body), nil }
		default:
			m.Open = func() (io.Reader, error) {
				r, err := dec.open(e, body)
				chk, _ = r.(*zipChecked)
				return r, err
			}
		}
		if !isDir {
			if err := yield(m); err != nil {
				return err
			}
		}
		if next < 0 && chk != nil && chk.src != nil {
			// The bytes the decoder consumed are this entry's, whether it
			// reached the end of its stream or was stopped on the way.
			if used := int64(len(body) - chk.src.Len()); used > 0 {
				next = start + used
			}
		}
		if next < 0 {
			next = start // unknown: the next signature after the header
		}
		pos = nextLocalHeader(d, int(next))
	}
	if overlaps > 0 {
		problem += fmt.Sprintf("; %d overlapping entries not read", overlaps)
	}
	return fmt.Errorf("%w: %s: members read from local headers (%d found; %v)%s", ErrCorrupt, why, entries, cdErr, problem)
}

// zipLocalEntry parses the local file header at pos and returns the entry
// (sizeUnknown set when its sizes follow the data) and where its data starts.
func zipLocalEntry(d []byte, pos int) (*zipCentral, int64, bool) {
	le := binary.LittleEndian
	if len(d)-pos < zipLocalLen {
		return nil, 0, false
	}
	h := d[pos:]
	nlen, elen := int(le.Uint16(h[26:])), int(le.Uint16(h[28:]))
	start := pos + zipLocalLen + nlen + elen
	if start > len(d) {
		return nil, 0, false
	}
	e := &zipCentral{
		name:   string(h[zipLocalLen : zipLocalLen+nlen]),
		flags:  le.Uint16(h[6:]),
		method: le.Uint16(h[8:]),
		crc:    le.Uint32(h[14:]),
		csize:  uint64(le.Uint32(h[18:])),
		usize:  uint64(le.Uint32(h[22:])),
		offset: int64(pos),
	}
	e.dataStart = int64(start)
	// A zip64 local header holds both sizes in its extra field (APPNOTE
	// 4.5.3), the uncompressed one first.
	if e.csize == math.MaxUint32 || e.usize == math.MaxUint32 {
		e.zip64 = true
		for extra := h[zipLocalLen+nlen : zipLocalLen+nlen+elen]; len(extra) >= 4; {
			id, n := le.Uint16(extra), int(le.Uint16(extra[2:]))
			if 4+n > len(extra) {
				break
			}
			if f := extra[4 : 4+n]; id == 0x0001 && len(f) >= 16 {
				e.usize, e.csize = le.Uint64(f), le.Uint64(f[8:])
			}
			extra = extra[4+n:]
		}
	}
	e.sizeUnknown = e.flags&zipFlagDataDescriptor != 0 || e.csize == math.MaxUint32 || e.usize == math.MaxUint32
	return e, int64(start), true
}

// zipReadDescriptor takes the CRC-32 and sizes of e from the data
// descriptor at p (its signature checked by the caller) and returns where
// the descriptor ends.
func zipReadDescriptor(d []byte, e *zipCentral, p, start int64) int64 {
	le := binary.LittleEndian
	r := d[p:]
	e.crc, e.csize = le.Uint32(r[4:]), uint64(p-start)
	if e.zip64 && len(r) >= 24 {
		e.usize = le.Uint64(r[16:])
		e.sizeUnknown = false
		return p + 24
	}
	e.usize = uint64(le.Uint32(r[12:]))
	e.sizeUnknown = false
	return p + 16
}

// zipDescIndex maps where an entry's data starts to the data descriptor
// that closes it: a "PK\x07\x08" record whose compressed size reaches back
// exactly to that start. It is built in one pass, when the first entry
// with a data descriptor is met, and holds at most zipMaxDescriptors.
type zipDescIndex struct {
	built bool
	at    map[int64]int64
}

const zipMaxDescriptors = 1 << 16

func (x *zipDescIndex) lookup(d []byte, start int64) (int64, bool) {
	if !x.built {
		x.built = true
		x.at = map[int64]int64{}
		for from := int(start); len(x.at) < zipMaxDescriptors; {
			i := bytes.Index(d[from:], zipDescriptorSig)
			if i < 0 {
				break
			}
			p := from + i
			from = p + 4
			if p+16 > len(d) {
				break
			}
			// The low 32 bits of the compressed size, in both the plain
			// and the zip64 form (an object is under 4 GiB).
			k := int64(p) - int64(binary.LittleEndian.Uint32(d[p+8:]))
			if _, dup := x.at[k]; k >= 0 && !dup {
				x.at[k] = int64(p)
			}
		}
	}
	p, ok := x.at[start]
	return p, ok
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

// zipRecordEnd finds, in one pass, where stored data of unknown length
// that starts at from ends: at the next data descriptor, local header,
// central directory header or end record, less a descriptor without
// signature whose size matches; at limit when there is none.
func zipRecordEnd(d []byte, from, limit int64) int64 {
	le := binary.LittleEndian
	for at := from; at+4 <= limit; {
		i := bytes.Index(d[at:limit], []byte("PK"))
		if i < 0 || at+int64(i)+4 > limit {
			break
		}
		p := at + int64(i)
		switch string(d[p+2 : p+4]) {
		case "\x07\x08":
			return p
		case "\x03\x04", "\x01\x02", "\x05\x06", "\x06\x06":
			// A descriptor without its signature: CRC, then sizes.
			if p-from >= 12 && int64(le.Uint32(d[p-8:])) == p-12-from {
				return p - 12
			}
			return p
		}
		at = p + 2
	}
	return limit
}

// zipFlagLZMAEOS: an LZMA member ends with an end-of-stream marker.
const zipFlagLZMAEOS = 0x2

// zipExtraMethod decodes the methods archive/zip does not know: deflate64
// (our own decoder below) and LZMA (APPNOTE 5.8: a 2-byte version, a
// 2-byte properties size and the 5 properties bytes, then the raw LZMA
// stream, read with ulikunitz/xz behind a "LZMA alone" header we build).
// size is the declared uncompressed size, or -1.
func zipExtraMethod(method, flags uint16, size int64, raw io.Reader) (io.Reader, error) {
	if method == zipMethodDeflate64 {
		return newInflate64(raw), nil
	}
	var h [9]byte
	if _, err := io.ReadFull(raw, h[:4]); err != nil {
		return nil, fmt.Errorf("%w: zip: LZMA header truncated", ErrCorrupt)
	}
	psize := int(binary.LittleEndian.Uint16(h[2:]))
	if psize != 5 {
		return nil, fmt.Errorf("%w: zip: LZMA properties of %d bytes", ErrCorrupt, psize)
	}
	if _, err := io.ReadFull(raw, h[4:9]); err != nil {
		return nil, fmt.Errorf("%w: zip: LZMA header truncated", ErrCorrupt)
	}
	hdr := make([]byte, lzma.HeaderLen)
	copy(hdr, h[4:9])
	if binary.LittleEndian.Uint32(hdr[1:]) > xzMaxDict {
		binary.LittleEndian.PutUint32(hdr[1:], xzMaxDict)
	}
	if size < 0 || flags&zipFlagLZMAEOS != 0 {
		binary.LittleEndian.PutUint64(hdr[5:], math.MaxUint64) // ends with its marker
	} else {
		binary.LittleEndian.PutUint64(hdr[5:], uint64(size))
	}
	zr, err := lzma.ReaderConfig{DictCap: xzMaxDict}.NewReader(io.MultiReader(bytes.NewReader(hdr), raw))
	if err != nil {
		return nil, fmt.Errorf("%w: zip: LZMA header: %v", ErrCorrupt, err)
	}
	return &drainReader{r: zr}, nil
}

// inflate64 decodes Deflate64 ("enhanced deflate"): deflate with a 64 KiB
// window, length code 285 meaning 3 plus 16 extra bits, and distance
// codes 30 and 31 (14 extra bits each). It reads its input a byte at a
// time, so it never consumes past the end of the stream.
type inflate64 struct {
	br     io.ByteReader
	bitbuf uint32
	nbits  uint

	win    [1 << 16]byte
	wpos   int
	filled int64

	state    int // 0: block header, 1: stored, 2: Huffman, 3: done
	final    bool
	stored   int
	lit, dis inflateHuff
	copyLen  int
	copyDist int
	err      error
}

type inflateHuff struct {
	count [16]uint16
	sym   []uint16
}

var (
	inf64LenBase  [29]int
	inf64LenExtra [29]uint
	inf64DistBase = [32]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577, 32769, 49153}
	inf64ClOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
	inf64Fixed   struct {
		once     sync.Once
		lit, dis inflateHuff
	}
)

func init() {
	base := 3
	for i := 0; i < 28; i++ {
		e := uint(0)
		if i >= 8 {
			e = uint(i/4 - 1)
		}
		inf64LenBase[i], inf64LenExtra[i] = base, e
		base += 1 << e
	}
	inf64LenBase[28], inf64LenExtra[28] = 3, 16
}

func inf64DistExtra(code int) uint {
	if code < 4 {
		return 0
	}
	return uint(code/2 - 1)
}

func newInflate64(r io.Reader) *inflate64 {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &inflate64{br: br}
}

func inf64Err(format string, a ...any) error {
	return fmt.Errorf("%w: deflate64: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

func (h *inflateHuff) build(lens []uint8) error {
	h.count = [16]uint16{}
	for _, l := range lens {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return inf64Err("over-subscribed Huffman code")
		}
	}
	var offs [17]int
	for l := 1; l < 16; l++ {
		offs[l+1] = offs[l] + int(h.count[l])
	}
	h.sym = make([]uint16, offs[16])
	for s, l := range lens {
		if l != 0 {
			h.sym[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	return nil
}

func (z *inflate64) bits(n uint) (int, error) {
	for z.nbits < n {
		b, err := z.br.ReadByte()
		if err != nil {
			return 0, inf64Err("stream truncated: %v", io.ErrUnexpectedEOF)
		}
		z.bitbuf |= uint32(b) << z.nbits
		z.nbits += 8
	}
	v := int(z.bitbuf & (1<<n - 1))
	z.bitbuf >>= n
	z.nbits -= n
	return v, nil
}

// decode reads one symbol, its code sent most significant bit first.
func (z *inflate64) decode(h *inflateHuff) (int, error) {
	code, first, idx := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := z.bits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		c := int(h.count[l])
		if code-first < c {
			return int(h.sym[idx+code-first]), nil
		}
		idx += c
		first = (first + c) << 1
		code <<= 1
	}
	return 0, inf64Err("invalid Huffman code")
}

func (z *inflate64) put(b byte) {
	z.win[z.wpos] = b
	z.wpos = (z.wpos + 1) & 0xffff
	z.filled++
}

func (z *inflate64) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if z.copyLen > 0 {
			b := z.win[(z.wpos-z.copyDist)&0xffff]
			z.put(b)
			p[n] = b
			n++
			z.copyLen--
			continue
		}
		if z.err != nil {
			break
		}
		switch z.state {
		case 0:
			z.err = z.header()
		case 1:
			if z.stored == 0 {
				z.state = z.next()
				continue
			}
			b, err := z.br.ReadByte()
			if err != nil {
				z.err = inf64Err("stored block truncated: %v", io.ErrUnexpectedEOF)
				break
			}
			z.put(b)
			p[n] = b
			n++
			z.stored--
		case 2:
			sym, err := z.decode(&z.lit)
			if err != nil {
				z.err = err
				break
			}
			if sym < 256 {
				z.put(byte(sym))
				p[n] = byte(sym)
				n++
				continue
			}
			if sym == 256 {
				z.state = z.next()
				continue
			}
			z.err = z.match(sym - 257)
		default:
			z.err = io.EOF
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, z.err
}

// next is the state after a block: another header, or the end.
func (z *inflate64) next() int {
	if z.final {
		return 3
	}
	return 0
}

func (z *inflate64) match(code int) error {
	if code >= 29 {
		return inf64Err("bad length code %d", code+257)
	}
	e, err := z.bits(inf64LenExtra[code])
	if err != nil {
		return err
	}
	length := inf64LenBase[code] + e
	dc, err := z.decode(&z.dis)
	if err != nil {
		return err
	}
	e, err = z.bits(inf64DistExtra(dc))
	if err != nil {
		return err
	}
	dist := inf64DistBase[dc] + e
	if int64(dist) > z.filled {
		return inf64Err("distance %d beyond the start of the output", dist)
	}
	z.copyLen, z.copyDist = length, dist
	return nil
}

func (z *inflate64) header() error {
	v, err := z.bits(3)
	if err != nil {
		return err
	}
	z.final = v&1 == 1
	switch v >> 1 {
	case 0:
		z.bitbuf, z.nbits = 0, 0 // to a byte boundary
		var b [4]byte
		for i := range b {
			c, err := z.br.ReadByte()
			if err != nil {
				return inf64Err("stored block truncated: %v", io.ErrUnexpectedEOF)
			}
			b[i] = c
		}
		ln, nln := binary.LittleEndian.Uint16(b[:]), binary.LittleEndian.Uint16(b[2:])
		if ln != ^nln {
			return inf64Err("stored block length check failed")
		}
		z.stored, z.state = int(ln), 1
		return nil
	case 1:
		inf64Fixed.once.Do(func() {
			var l [288]uint8
			for i := range l {
				switch {
				case i < 144:
					l[i] = 8
				case i < 256:
					l[i] = 9
				case i < 280:
					l[i] = 7
				default:
					l[i] = 8
				}
			}
			_ = inf64Fixed.lit.build(l[:])
			var d [32]uint8
			for i := range d {
				d[i] = 5
			}
			_ = inf64Fixed.dis.build(d[:])
		})
		z.lit, z.dis = inf64Fixed.lit, inf64Fixed.dis
		z.state = 2
		return nil
	case 2:
		return z.dynamic()
	default:
		return inf64Err("bad block type 3")
	}
}

func (z *inflate64) dynamic() error {
	hlit, err := z.bits(5)
	if err != nil {
		return err
	}
	hdist, err := z.bits(5)
	if err != nil {
		return err
	}
	hclen, err := z.bits(4)
	if err != nil {
		return err
	}
	nlit, ndist := hlit+257, hdist+1
	var cl [19]uint8
	for i := 0; i < hclen+4; i++ {
		v, err := z.bits(3)
		if err != nil {
			return err
		}
		cl[inf64ClOrder[i]] = uint8(v)
	}
	var clh inflateHuff
	if err := clh.build(cl[:]); err != nil {
		return err
	}
	lens := make([]uint8, nlit+ndist)
	for i := 0; i < len(lens); {
		sym, err := z.decode(&clh)
		if err != nil {
			return err
		}
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var run int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return inf64Err("repeat with no previous length")
			}
			val = lens[i-1]
			r, err := z.bits(2)
			if err != nil {
				return err
			}
			run = 3 + r
		case 17:
			r, err := z.bits(3)
			if err != nil {
				return err
			}
			run = 3 + r
		default:
			r, err := z.bits(7)
			if err != nil {
				return err
			}
			run = 11 + r
		}
		if i+run > len(lens) {
			return inf64Err("code lengths overrun")
		}
		for ; run > 0; run-- {
			lens[i] = val
			i++
		}
	}
	if err := z.lit.build(lens[:nlit]); err != nil {
		return err
	}
	if err := z.dis.build(lens[nlit:]); err != nil {
		return err
	}
	z.state = 2
	return nil
}
