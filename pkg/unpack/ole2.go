package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/richardlehane/mscfb"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "ole2", Types: []filetype.Type{filetype.OLE2}, Walk: walkOLE2})
}

// walkOLE2 yields every stream of a compound file (Word, Excel and
// PowerPoint 97-2003 documents, MSI, vbaProject.bin, embedded OLE objects)
// named by its storage path ("Macros/VBA/Module1", "WordDocument"; the
// non-printable first character of names such as "\x05SummaryInformation"
// is dropped).
//
// An "\x01Ole10Native" stream (an object embedded with the Packager)
// also yields the packaged file itself, as "<stream path>/<file name>"
// ("ObjectPool/_1234/Ole10Native/invoice.exe").
//
// VBA macro storages (a storage named "VBA" holding a "dir" stream) also
// yield the decompressed source of each module as "<storage path>/<module
// name>.vba", for example "Macros/VBA/Module1.vba" in a Word document or
// "VBA/ThisDocument.vba" in a vbaProject.bin, so that rules can match the
// macro source itself (filename endswith ".vba").
func walkOLE2(ctx context.Context, c *Container, yield func(Member) error) error {
	r, err := mscfb.New(bytes.NewReader(c.Data))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	limit := int64(len(c.Data))
	vba := map[string]map[string]*mscfb.File{} // storage path -> lower-case stream name -> stream
	var vbaOrder []string
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := r.Next()
		if err != nil {
			break // io.EOF: Next has no other error
		}
		if f.FileInfo().IsDir() {
			continue
		}
		dir := strings.Join(f.Path, "/")
		name := f.Name
		if dir != "" {
			name = dir + "/" + f.Name
		}
		if len(f.Path) > 0 && strings.EqualFold(f.Path[len(f.Path)-1], "VBA") {
			if vba[dir] == nil {
				vba[dir] = map[string]*mscfb.File{}
				vbaOrder = append(vbaOrder, dir)
			}
			vba[dir][strings.ToLower(f.Name)] = f
		}
		size := f.Size
		if size < 0 || size > limit {
			// A stream cannot be larger than the file that holds it; a
			// looping sector chain must not make it so.
			size = limit
		}
		if err := yield(Member{Name: name, Size: size, Packed: -1, Open: func() (io.Reader, error) {
			return io.LimitReader(f, size), nil
		}}); err != nil {
			return err
		}
		if strings.EqualFold(f.Name, "Ole10Native") {
			// An embedded Packager object: a 32-bit size, then the
			// package (label, paths, the file). The file is yielded
			// alone, byte for byte, under its own name.
			if b := readStream(f, limit); len(b) > 4 {
				if pname, data, ok := olePackage(b[4:]); ok {
					if err := yield(Member{Name: name + "/" + pname, Size: int64(len(data)), Packed: -1, Data: data}); err != nil {
						return err
					}
				}
			}
		}
	}
	for _, dir := range vbaOrder {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := vbaModules(dir, vba[dir], limit, yield); err != nil {
			return err
		}
	}
	return nil
}

// readStream reads a whole stream from its start, at most limit bytes.
func readStream(f *mscfb.File, limit int64) []byte {
	size := min(f.Size, limit)
	if size <= 0 {
		return nil
	}
	b, _ := io.ReadAll(io.NewSectionReader(f, 0, size))
	return b
}

// vbaDirLimit bounds the decompressed "dir" stream: it is metadata (module
// names and offsets), a few KiB in real projects.
const vbaDirLimit = 4 << 20

// vbaModules yields the decompressed source of every module of a VBA
// storage. Module streams and source offsets come from the "dir" stream;
// when it cannot be read, each other stream is searched for a compressed
// container that starts with "Attribut", as every module's source does.
func vbaModules(dir string, streams map[string]*mscfb.File, limit int64, yield func(Member) error) error {
	type module struct {
		name, stream string
		offset       uint32
	}
	var mods []module
	if f := streams["dir"]; f != nil {
		d := vbaDecompress(readStream(f, limit), 0, vbaDirLimit)
		var cur *module
		for pos := 0; pos+6 <= len(d); {
			id := binary.LittleEndian.Uint16(d[pos:])
			size := int(binary.LittleEndian.Uint32(d[pos+2:]))
			if id == 0x0009 {
				size = 6 // PROJECTVERSION: its size field says 4, the record holds 6
			}
			pos += 6
			if size > len(d)-pos {
				break
			}
			v := d[pos : pos+size]
			pos += size
			switch id {
			case 0x0019: // MODULENAME
				mods = append(mods, module{name: string(v)})
				cur = &mods[len(mods)-1]
			case 0x001a: // MODULESTREAMNAME
				if cur != nil {
					cur.stream = string(v)
				}
			case 0x0031: // MODULEOFFSET
				if cur != nil && len(v) == 4 {
					cur.offset = binary.LittleEndian.Uint32(v)
				}
			}
		}
	}
	base := dir + "/"
	found := false
	for _, m := range mods {
		stream := m.stream
		if stream == "" {
			stream = m.name
		}
		f := streams[strings.ToLower(stream)]
		if f == nil {
			continue
		}
		src := readStream(f, limit)
		if int64(m.offset) >= int64(len(src)) || src[m.offset] != 0x01 {
			continue
		}
		found = true
		if err := yieldVBA(base+vbaName(m.name, stream), src[m.offset:], yield); err != nil {
			return err
		}
	}
	if found {
		return nil
	}
	// No usable dir stream: look for the source in each stream.
	keys := make([]string, 0, len(streams))
	for k := range streams {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		f := streams[key]
		if key == "dir" || key == "_vba_project" || strings.HasPrefix(key, "__srp_") || key == "project" {
			continue
		}
		src := readStream(f, limit)
		i := bytes.Index(src, []byte("\x00Attribut"))
		if i < 3 || src[i-3] != 0x01 {
			continue
		}
		if err := yieldVBA(base+f.Name+".vba", src[i-3:], yield); err != nil {
			return err
		}
	}
	return nil
}

func vbaName(name, stream string) string {
	if strings.TrimSpace(name) == "" {
		name = stream
	}
	return name + ".vba"
}

func yieldVBA(name string, container []byte, yield func(Member) error) error {
	return yield(Member{Name: name, Size: -1, Packed: int64(len(container)), Open: func() (io.Reader, error) {
		return &vbaReader{src: container, pos: 1}, nil
	}})
}

// vbaDecompress decompresses a whole MS-OVBA compressed container (from
// its 0x01 signature byte at src[off]), up to max bytes.
func vbaDecompress(src []byte, off, max int) []byte {
	if off >= len(src) || src[off] != 0x01 {
		return nil
	}
	r := &vbaReader{src: src[off:], pos: 1}
	b, _ := io.ReadAll(io.LimitReader(r, int64(max)))
	return b
}

// vbaReader decompresses an MS-OVBA compressed container (MS-OVBA 2.4.1)
// one chunk at a time: each chunk has a 16-bit header (size minus 3 in the
// low 12 bits, 0b011 in bits 12-14, "compressed" in bit 15) and holds at
// most 4096 bytes once decompressed. Compressed chunks are flag bytes each
// followed by eight tokens: a literal byte, or a 16-bit copy token whose
// split between offset and length depends on how much of the chunk has
// been decompressed. Decoding is lenient: a bad chunk ends the stream.
type vbaReader struct {
	src   []byte
	pos   int
	chunk []byte // the decompressed current chunk
	out   int    // bytes of chunk already returned
}

func (v *vbaReader) Read(p []byte) (int, error) {
	for v.out >= len(v.chunk) {
		if !v.next() {
			return 0, io.EOF
		}
	}
	n := copy(p, v.chunk[v.out:])
	v.out += n
	return n, nil
}

// next decompresses the next chunk; it returns false at the end.
func (v *vbaReader) next() bool {
	if v.pos+2 > len(v.src) {
		return false
	}
	hdr := binary.LittleEndian.Uint16(v.src[v.pos:])
	size := int(hdr&0x0fff) + 3
	end := min(v.pos+size, len(v.src))
	data := v.src[v.pos+2 : end]
	v.pos = end
	v.chunk = v.chunk[:0]
	v.out = 0
	if hdr&0x8000 == 0 {
		// An uncompressed chunk: 4096 raw bytes.
		v.chunk = append(v.chunk, data[:min(len(data), 4096)]...)
		return len(data) > 0
	}
	for i := 0; i < len(data); {
		flags := data[i]
		i++
		for bit := 0; bit < 8 && i < len(data); bit++ {
			if flags&(1<<bit) == 0 {
				v.chunk = append(v.chunk, data[i])
				i++
				continue
			}
			if i+2 > len(data) {
				return len(v.chunk) > 0
			}
			tok := binary.LittleEndian.Uint16(data[i:])
			i += 2
			bits := 4
			for 1<<bits < len(v.chunk) {
				bits++
			}
			lengthMask := uint16(0xffff) >> bits
			length := int(tok&lengthMask) + 3
			offset := int(tok>>(16-bits)) + 1
			if offset > len(v.chunk) {
				return len(v.chunk) > 0 // a copy from before the chunk: corrupt
			}
			for k := 0; k < length && len(v.chunk) < 4096; k++ {
				v.chunk = append(v.chunk, v.chunk[len(v.chunk)-offset])
			}
		}
	}
	return true
}
