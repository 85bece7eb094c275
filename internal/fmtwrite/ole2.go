package fmtwrite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// CFBStream is one stream of a compound file, named by its path
// ("Macros/VBA/dir"); storages are made for every directory of the path.
type CFBStream struct {
	Path string
	Data []byte
}

// Compound file constants ([MS-CFB] 2.1, 2.2).
const (
	cfbSector    = 512 // version 3
	cfbMiniSect  = 64
	cfbCutoff    = 4096 // streams this large and larger live in regular sectors
	cfbEndOfCh   = 0xfffffffe
	cfbFree      = 0xffffffff
	cfbFATSect   = 0xfffffffd
	cfbDIFATSect = 0xfffffffc
	cfbNoStream  = 0xffffffff
	cfbHeaderFAT = 109 // FAT sector numbers held by the header's DIFAT
	cfbPerSector = cfbSector / 4
)

// CFB writes a version 3 compound file (512-byte sectors): header, FAT
// sectors, DIFAT sectors (when there are more than 109 FAT sectors, above
// about 6.8 MiB), then the directory, the mini FAT, the mini stream and
// the large streams, each a chain of consecutive sectors. Streams under
// 4096 bytes live in the mini stream, as the format requires. Each
// storage's children hang off its child pointer as a chain of right
// siblings (all black; readers follow the pointers, not the colours).
//
// It fails on an empty path element or a name longer than 31 UTF-16 code
// units.
func CFB(streams ...CFBStream) ([]byte, error) {
	type entry struct {
		name         string
		typ          byte
		child, right uint32
		start        uint32
		size         uint64
		data         []byte
		lastChild    int
	}
	entries := []*entry{{name: "Root Entry", typ: 5, child: cfbNoStream, right: cfbNoStream, lastChild: -1}}
	lookup := map[string]int{"": 0}
	addChild := func(parent, child int) {
		p := entries[parent]
		if p.lastChild < 0 {
			p.child = uint32(child)
		} else {
			entries[p.lastChild].right = uint32(child)
		}
		p.lastChild = child
	}
	for _, s := range streams {
		parts := strings.Split(s.Path, "/")
		for _, p := range parts {
			if p == "" || len(utf16.Encode([]rune(p))) > 31 {
				return nil, fmt.Errorf("fmtwrite: compound file name %q: empty or longer than 31 UTF-16 units", p)
			}
		}
		parent := 0
		for i := range parts[:len(parts)-1] {
			key := strings.Join(parts[:i+1], "/")
			id, ok := lookup[key]
			if !ok {
				entries = append(entries, &entry{name: parts[i], typ: 1, child: cfbNoStream, right: cfbNoStream, lastChild: -1})
				id = len(entries) - 1
				lookup[key] = id
				addChild(parent, id)
			}
			parent = id
		}
		entries = append(entries, &entry{name: parts[len(parts)-1], typ: 2, child: cfbNoStream, right: cfbNoStream, lastChild: -1, data: s.Data, size: uint64(len(s.Data))})
		addChild(parent, len(entries)-1)
	}

	// Mini stream and mini FAT.
	var mini, miniFATBytes []byte
	nMini := 0
	for _, e := range entries[1:] {
		if e.typ != 2 || len(e.data) >= cfbCutoff {
			continue
		}
		if len(e.data) == 0 {
			e.start = cfbEndOfCh
			continue
		}
		e.start = uint32(len(mini) / cfbMiniSect)
		n := (len(e.data) + cfbMiniSect - 1) / cfbMiniSect
		for i := 0; i < n; i++ {
			next := uint32(nMini + 1)
			if i == n-1 {
				next = cfbEndOfCh
			}
			miniFATBytes = binary.LittleEndian.AppendUint32(miniFATBytes, next)
			nMini++
		}
		mini = append(mini, e.data...)
		mini = append(mini, make([]byte, n*cfbMiniSect-len(e.data))...)
	}

	// Directory.
	var dir bytes.Buffer
	writeDir := func() {
		dir.Reset()
		for _, e := range entries {
			var b [128]byte
			u := utf16.Encode([]rune(e.name))
			for i, c := range u {
				binary.LittleEndian.PutUint16(b[i*2:], c)
			}
			binary.LittleEndian.PutUint16(b[0x40:], uint16(len(u)*2+2))
			b[0x42] = e.typ
			b[0x43] = 1 // black
			binary.LittleEndian.PutUint32(b[0x44:], cfbNoStream)
			binary.LittleEndian.PutUint32(b[0x48:], e.right)
			binary.LittleEndian.PutUint32(b[0x4c:], e.child)
			binary.LittleEndian.PutUint32(b[0x74:], e.start)
			binary.LittleEndian.PutUint64(b[0x78:], e.size)
			dir.Write(b[:])
		}
		for dir.Len()%cfbSector != 0 {
			var b [128]byte
			binary.LittleEndian.PutUint32(b[0x44:], cfbNoStream)
			binary.LittleEndian.PutUint32(b[0x48:], cfbNoStream)
			binary.LittleEndian.PutUint32(b[0x4c:], cfbNoStream)
			dir.Write(b[:])
		}
	}
	writeDir()

	// Chains of regular sectors: directory, mini FAT, mini stream, big streams.
	sectors := func(n int) int { return (n + cfbSector - 1) / cfbSector }
	var bigs []*entry
	for _, e := range entries[1:] {
		if e.typ == 2 && len(e.data) >= cfbCutoff {
			bigs = append(bigs, e)
		}
	}
	total := sectors(dir.Len()) + sectors(len(miniFATBytes)) + sectors(len(mini))
	for _, e := range bigs {
		total += sectors(len(e.data))
	}
	// nFAT FAT sectors must map themselves, the DIFAT sectors that list
	// the FAT sectors beyond the header's 109, and the data.
	nFAT, nDIFAT := 1, 0
	for {
		nDIFAT = 0
		if nFAT > cfbHeaderFAT {
			nDIFAT = (nFAT - cfbHeaderFAT + cfbPerSector - 2) / (cfbPerSector - 1)
		}
		if nFAT*cfbPerSector >= nFAT+nDIFAT+total {
			break
		}
		nFAT++
	}
	fat := make([]uint32, nFAT*cfbPerSector)
	for i := range fat {
		fat[i] = cfbFree
	}
	for i := 0; i < nFAT; i++ {
		fat[i] = cfbFATSect
	}
	difatStart := uint32(nFAT)
	for i := 0; i < nDIFAT; i++ {
		fat[nFAT+i] = cfbDIFATSect
	}
	next := uint32(nFAT + nDIFAT)
	var body bytes.Buffer
	chain := func(data []byte) uint32 {
		n := sectors(len(data))
		if n == 0 {
			return cfbEndOfCh
		}
		start := next
		for i := 0; i < n; i++ {
			if i == n-1 {
				fat[next] = cfbEndOfCh
			} else {
				fat[next] = next + 1
			}
			next++
		}
		body.Write(data)
		body.Write(make([]byte, n*cfbSector-len(data)))
		return start
	}
	// The directory is written last but its place is fixed first: its
	// content holds the start sectors of the other chains.
	dirStart := next
	dirSectors := sectors(dir.Len())
	next += uint32(dirSectors)
	for i := 0; i < dirSectors; i++ {
		fat[dirStart+uint32(i)] = dirStart + uint32(i) + 1
	}
	fat[dirStart+uint32(dirSectors)-1] = cfbEndOfCh
	body.Write(make([]byte, dirSectors*cfbSector))
	miniFATStart := chain(miniFATBytes)
	entries[0].start = chain(mini)
	entries[0].size = uint64(len(mini))
	if len(mini) == 0 {
		entries[0].start = cfbEndOfCh
	}
	for _, e := range bigs {
		e.start = chain(e.data)
	}
	writeDir()
	out := body.Bytes()
	copy(out[:dir.Len()], dir.Bytes())

	var h [cfbSector]byte
	copy(h[:], []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1})
	binary.LittleEndian.PutUint16(h[0x18:], 0x3e)   // minor version
	binary.LittleEndian.PutUint16(h[0x1a:], 3)      // major version
	binary.LittleEndian.PutUint16(h[0x1c:], 0xfffe) // byte order
	binary.LittleEndian.PutUint16(h[0x1e:], 9)      // sector shift
	binary.LittleEndian.PutUint16(h[0x20:], 6)      // mini sector shift
	binary.LittleEndian.PutUint32(h[0x2c:], uint32(nFAT))
	binary.LittleEndian.PutUint32(h[0x30:], dirStart)
	binary.LittleEndian.PutUint32(h[0x38:], cfbCutoff)
	binary.LittleEndian.PutUint32(h[0x3c:], miniFATStart)
	binary.LittleEndian.PutUint32(h[0x40:], uint32(sectors(len(miniFATBytes))))
	if nDIFAT > 0 {
		binary.LittleEndian.PutUint32(h[0x44:], difatStart)
	} else {
		binary.LittleEndian.PutUint32(h[0x44:], cfbEndOfCh)
	}
	binary.LittleEndian.PutUint32(h[0x48:], uint32(nDIFAT))
	for i := 0; i < cfbHeaderFAT; i++ {
		v := uint32(cfbFree)
		if i < nFAT {
			v = uint32(i)
		}
		binary.LittleEndian.PutUint32(h[0x4c+4*i:], v)
	}
	file := make([]byte, 0, cfbSector*(1+nFAT+nDIFAT)+len(out))
	file = append(file, h[:]...)
	for _, v := range fat {
		file = binary.LittleEndian.AppendUint32(file, v)
	}
	// DIFAT sectors: 127 FAT sector numbers each, then the next DIFAT
	// sector (end of chain in the last).
	for d := 0; d < nDIFAT; d++ {
		for i := 0; i < cfbPerSector-1; i++ {
			v := uint32(cfbFree)
			if f := cfbHeaderFAT + d*(cfbPerSector-1) + i; f < nFAT {
				v = uint32(f)
			}
			file = binary.LittleEndian.AppendUint32(file, v)
		}
		nextDIFAT := uint32(cfbEndOfCh)
		if d < nDIFAT-1 {
			nextDIFAT = difatStart + uint32(d) + 1
		}
		file = binary.LittleEndian.AppendUint32(file, nextDIFAT)
	}
	return append(file, out...), nil
}

// OVBACompress writes an MS-OVBA compressed container with a greedy
// matcher, so that copy tokens of every bit split occur.
func OVBACompress(src []byte) []byte {
	out := []byte{0x01}
	for len(src) > 0 {
		chunk := src[:min(4096, len(src))]
		src = src[len(chunk):]
		var body []byte
		for pos := 0; pos < len(chunk); {
			flagAt := len(body)
			body = append(body, 0)
			for bit := 0; bit < 8 && pos < len(chunk); bit++ {
				bits := 4
				for 1<<bits < pos {
					bits++
				}
				maxLen := int(uint16(0xffff)>>bits) + 3
				maxOff := 1 << (16 - bits)
				bestLen, bestOff := 0, 0
				for off := 1; off <= min(pos, maxOff); off++ {
					l := 0
					for l < maxLen && pos+l < len(chunk) && chunk[pos+l-off] == chunk[pos+l] {
						l++
					}
					if l > bestLen {
						bestLen, bestOff = l, off
					}
				}
				if bestLen >= 3 {
					tok := uint16(bestOff-1)<<(16-bits) | uint16(bestLen-3)
					body = binary.LittleEndian.AppendUint16(body, tok)
					body[flagAt] |= 1 << bit
					pos += bestLen
				} else {
					body = append(body, chunk[pos])
					pos++
				}
			}
		}
		if len(body) > 4096 {
			// Incompressible: a raw chunk (flag bit clear).
			out = binary.LittleEndian.AppendUint16(out, uint16(0x3000)|uint16(len(chunk)+2-3))
			out = append(out, chunk...)
			continue
		}
		hdr := uint16(0xb000) | uint16(len(body)+2-3)
		out = binary.LittleEndian.AppendUint16(out, hdr)
		out = append(out, body...)
	}
	return out
}

// VBADir builds a compressed VBA "dir" stream naming the modules, whose
// source sits at offset in each module stream.
func VBADir(offset uint32, modules ...string) []byte {
	var d []byte
	rec := func(id uint16, v []byte) {
		d = binary.LittleEndian.AppendUint16(d, id)
		d = binary.LittleEndian.AppendUint32(d, uint32(len(v)))
		d = append(d, v...)
	}
	rec(0x0001, []byte{1, 0, 0, 0}) // PROJECTSYSKIND
	// PROJECTVERSION: size field 4, then 6 bytes of data.
	d = binary.LittleEndian.AppendUint16(d, 0x0009)
	d = binary.LittleEndian.AppendUint32(d, 4)
	d = append(d, 0xc0, 0xb5, 0x39, 0x49, 6, 0)
	rec(0x000f, []byte{byte(len(modules)), 0}) // PROJECTMODULES
	for _, m := range modules {
		rec(0x0019, []byte(m))
		rec(0x001a, []byte(m))
		var u []byte
		for _, c := range utf16.Encode([]rune(m)) {
			u = binary.LittleEndian.AppendUint16(u, c)
		}
		rec(0x0032, u)
		rec(0x0031, binary.LittleEndian.AppendUint32(nil, offset))
		rec(0x002b, nil)
	}
	rec(0x0010, nil)
	return OVBACompress(d)
}

// VBASource is the source of a module named Module1 with body after its
// attributes.
func VBASource(body string) []byte {
	return []byte("Attribute VB_Name = \"Module1\"\r\nAttribute VB_Base = \"0{00020906-0000-0000-C000-000000000046}\"\r\n" + body)
}

// MacroDoc is a Word-like document with a VBA project whose Module1 holds
// body (compressed); the module stream starts with 300 bytes of fake
// p-code. Without withDir the project has no "dir" stream.
func MacroDoc(body string, withDir bool) ([]byte, error) {
	pcode := bytes.Repeat([]byte{0xcc, 0x61, 0xff}, 100)
	streams := []CFBStream{
		{"WordDocument", bytes.Repeat([]byte("clean document text "), 300)},
		{"\x05SummaryInformation", make([]byte, 200)},
		{"Macros/PROJECT", []byte("ID=\"{00000000}\"\r\nDocument=ThisDocument/&H00000000\r\nModule=Module1\r\n")},
		{"Macros/VBA/_VBA_PROJECT", []byte{0xcc, 0x61, 0xff, 0xff, 0, 0, 0}},
		{"Macros/VBA/Module1", append(pcode, OVBACompress(VBASource(body))...)},
	}
	if withDir {
		streams = append(streams, CFBStream{"Macros/VBA/dir", VBADir(uint32(len(pcode)), "Module1")})
	}
	return CFB(streams...)
}
