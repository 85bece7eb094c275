package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"ave/pkg/verdict"
)

// cfbStream is one stream of a test compound file, named by its path
// ("Macros/VBA/dir"); storages are made for every directory of the path.
type cfbStream struct {
	path string
	data []byte
}

// makeCFB writes a version 3 compound file (512-byte sectors): header,
// FAT sectors, then the directory, the mini FAT, the mini stream and the
// large streams, each a chain of consecutive sectors. Streams under 4096
// bytes live in the mini stream, as the format requires. Each storage's
// children hang off its child pointer as a chain of right siblings.
func makeCFB(t testing.TB, streams ...cfbStream) []byte {
	t.Helper()
	const (
		sector  = 512
		endOfCh = 0xfffffffe
		free    = 0xffffffff
		fatSect = 0xfffffffd
		noID    = 0xffffffff
	)
	type entry struct {
		name                 string
		typ                  byte
		child, right         uint32
		start                uint32
		size                 uint64
		data                 []byte
		lastChild            int
		isStorage, hasParent bool
	}
	entries := []*entry{{name: "Root Entry", typ: 5, child: noID, right: noID, lastChild: -1}}
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
		parts := strings.Split(s.path, "/")
		parent := 0
		for i := range parts[:len(parts)-1] {
			key := strings.Join(parts[:i+1], "/")
			id, ok := lookup[key]
			if !ok {
				entries = append(entries, &entry{name: parts[i], typ: 1, child: noID, right: noID, lastChild: -1})
				id = len(entries) - 1
				lookup[key] = id
				addChild(parent, id)
			}
			parent = id
		}
		entries = append(entries, &entry{name: parts[len(parts)-1], typ: 2, child: noID, right: noID, lastChild: -1, data: s.data, size: uint64(len(s.data))})
		addChild(parent, len(entries)-1)
	}

	// Mini stream and mini FAT.
	var mini []byte
	var miniFAT []uint32
	for _, e := range entries[1:] {
		if e.typ != 2 || len(e.data) >= 4096 {
			continue
		}
		if len(e.data) == 0 {
			e.start = endOfCh
			continue
		}
		e.start = uint32(len(mini) / 64)
		n := (len(e.data) + 63) / 64
		for i := 0; i < n; i++ {
			next := uint32(len(miniFAT) + 1)
			if i == n-1 {
				next = endOfCh
			}
			miniFAT = append(miniFAT, next)
		}
		mini = append(mini, e.data...)
		mini = append(mini, make([]byte, n*64-len(e.data))...)
	}
	var miniFATBytes bytes.Buffer
	for _, v := range miniFAT {
		binary.Write(&miniFATBytes, binary.LittleEndian, v)
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
			binary.LittleEndian.PutUint32(b[0x44:], noID)
			binary.LittleEndian.PutUint32(b[0x48:], e.right)
			binary.LittleEndian.PutUint32(b[0x4c:], e.child)
			binary.LittleEndian.PutUint32(b[0x74:], e.start)
			binary.LittleEndian.PutUint64(b[0x78:], e.size)
			dir.Write(b[:])
		}
		for dir.Len()%sector != 0 {
			var b [128]byte
			binary.LittleEndian.PutUint32(b[0x44:], noID)
			binary.LittleEndian.PutUint32(b[0x48:], noID)
			binary.LittleEndian.PutUint32(b[0x4c:], noID)
			dir.Write(b[:])
		}
	}
	writeDir()

	// Chains of regular sectors: directory, mini FAT, mini stream, big streams.
	sectors := func(n int) int { return (n + sector - 1) / sector }
	var bigs []*entry
	for _, e := range entries[1:] {
		if e.typ == 2 && len(e.data) >= 4096 {
			bigs = append(bigs, e)
		}
	}
	total := sectors(dir.Len()) + sectors(miniFATBytes.Len()) + sectors(len(mini))
	for _, e := range bigs {
		total += sectors(len(e.data))
	}
	nFAT := 1
	for (nFAT+total+127)/128 > nFAT {
		nFAT++
	}
	if nFAT > 109 {
		t.Fatal("makeCFB: file too large for a header-only DIFAT")
	}
	fat := make([]uint32, nFAT*128)
	for i := range fat {
		fat[i] = free
	}
	for i := 0; i < nFAT; i++ {
		fat[i] = fatSect
	}
	next := uint32(nFAT)
	var body bytes.Buffer
	chain := func(data []byte) uint32 {
		n := sectors(len(data))
		if n == 0 {
			return endOfCh
		}
		start := next
		for i := 0; i < n; i++ {
			if i == n-1 {
				fat[next] = endOfCh
			} else {
				fat[next] = next + 1
			}
			next++
		}
		body.Write(data)
		body.Write(make([]byte, n*sector-len(data)))
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
	fat[dirStart+uint32(dirSectors)-1] = endOfCh
	body.Write(make([]byte, dirSectors*sector))
	miniFATStart := chain(miniFATBytes.Bytes())
	entries[0].start = chain(mini)
	entries[0].size = uint64(len(mini))
	if len(mini) == 0 {
		entries[0].start = endOfCh
	}
	for _, e := range bigs {
		e.start = chain(e.data)
	}
	writeDir()
	out := body.Bytes()
	copy(out[:dir.Len()], dir.Bytes())

	var h [sector]byte
	copy(h[:], []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1})
	binary.LittleEndian.PutUint16(h[0x18:], 0x3e)
	binary.LittleEndian.PutUint16(h[0x1a:], 3)
	binary.LittleEndian.PutUint16(h[0x1c:], 0xfffe)
	binary.LittleEndian.PutUint16(h[0x1e:], 9)
	binary.LittleEndian.PutUint16(h[0x20:], 6)
	binary.LittleEndian.PutUint32(h[0x2c:], uint32(nFAT))
	binary.LittleEndian.PutUint32(h[0x30:], dirStart)
	binary.LittleEndian.PutUint32(h[0x38:], 4096)
	binary.LittleEndian.PutUint32(h[0x3c:], miniFATStart)
	binary.LittleEndian.PutUint32(h[0x40:], uint32(sectors(miniFATBytes.Len())))
	binary.LittleEndian.PutUint32(h[0x44:], endOfCh)
	for i := 0; i < 109; i++ {
		v := uint32(free)
		if i < nFAT {
			v = uint32(i)
		}
		binary.LittleEndian.PutUint32(h[0x4c+4*i:], v)
	}
	var file bytes.Buffer
	file.Write(h[:])
	for _, v := range fat {
		binary.Write(&file, binary.LittleEndian, v)
	}
	file.Write(out)
	return file.Bytes()
}

// ovbaCompress writes an MS-OVBA compressed container with a greedy
// matcher, so the tests exercise copy tokens of every bit split.
func ovbaCompress(src []byte) []byte {
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

// vbaDir builds a compressed "dir" stream naming the modules, whose
// source sits at offset in each module stream.
func vbaDir(offset uint32, modules ...string) []byte {
	var d bytes.Buffer
	rec := func(id uint16, v []byte) {
		binary.Write(&d, binary.LittleEndian, id)
		binary.Write(&d, binary.LittleEndian, uint32(len(v)))
		d.Write(v)
	}
	rec(0x0001, []byte{1, 0, 0, 0}) // PROJECTSYSKIND
	// PROJECTVERSION: size field 4, then 6 bytes of data.
	binary.Write(&d, binary.LittleEndian, uint16(0x0009))
	binary.Write(&d, binary.LittleEndian, uint32(4))
	d.Write([]byte{0xc0, 0xb5, 0x39, 0x49, 6, 0})
	rec(0x000f, []byte{byte(len(modules)), 0}) // PROJECTMODULES
	for _, m := range modules {
		rec(0x0019, []byte(m))
		rec(0x001a, []byte(m))
		rec(0x0032, utf16z(m)[:len(m)*2])
		off := binary.LittleEndian.AppendUint32(nil, offset)
		rec(0x0031, off)
		rec(0x002b, nil)
	}
	rec(0x0010, nil)
	return ovbaCompress(d.Bytes())
}

func vbaSource(body string) []byte {
	return []byte("Attribute VB_Name = \"Module1\"\r\nAttribute VB_Base = \"0{00020906-0000-0000-C000-000000000046}\"\r\n" + body)
}

// macroDoc is a Word-like document with a VBA project whose Module1 holds
// body; the module stream starts with 300 bytes of fake p-code.
func macroDoc(t testing.TB, body string, withDir bool) []byte {
	pcode := bytes.Repeat([]byte{0xcc, 0x61, 0xff}, 100)
	streams := []cfbStream{
		{"WordDocument", bytes.Repeat([]byte("clean document text "), 300)},
		{"\x05SummaryInformation", make([]byte, 200)},
		{"Macros/PROJECT", []byte("ID=\"{00000000}\"\r\nDocument=ThisDocument/&H00000000\r\nModule=Module1\r\n")},
		{"Macros/VBA/_VBA_PROJECT", []byte{0xcc, 0x61, 0xff, 0xff, 0, 0, 0}},
		{"Macros/VBA/Module1", append(pcode, ovbaCompress(vbaSource(body))...)},
	}
	if withDir {
		streams = append(streams, cfbStream{"Macros/VBA/dir", vbaDir(uint32(len(pcode)), "Module1")})
	}
	return makeCFB(t, streams...)
}

func TestOVBARoundTrip(t *testing.T) {
	for _, src := range [][]byte{
		vbaSource("Sub AutoOpen()\r\nEnd Sub\r\n"),
		bytes.Repeat([]byte("abcabcabcabd"), 2000),
		randomBytes(t, 9000),
		[]byte("#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"),
	} {
		got, _ := io.ReadAll(&vbaReader{src: ovbaCompress(src), pos: 1})
		if !bytes.Equal(got, src) {
			t.Fatalf("round trip of %d bytes gave %d bytes", len(src), len(got))
		}
	}
}

func TestOLE2YieldsEveryStream(t *testing.T) {
	doc := makeCFB(t,
		cfbStream{"WordDocument", bytes.Repeat([]byte("x"), 5000)},
		cfbStream{"1Table", []byte("table")},
		cfbStream{"ObjectPool/_1234/\x01Ole10Native", eicar},
		cfbStream{"Big/payload.bin", append(bytes.Repeat([]byte{0}, 6000), eicar...)})
	res := walk("a.doc", doc, Limits{})
	wantDetection(t, res, "a.doc/ObjectPool/_1234/Ole10Native", verdict.Infected, "")
	wantDetection(t, res, "a.doc/Big/payload.bin", verdict.Infected, "")
	if res.Objects != 5 {
		t.Errorf("want 5 objects:\n%s", dump(res))
	}
}

func TestOLE2PackagedFileIsYieldedByName(t *testing.T) {
	pkg := olePackageData("invoice.exe", eicar)
	native := append(binary.LittleEndian.AppendUint32(nil, uint32(len(pkg))), pkg...)
	doc := makeCFB(t, cfbStream{"WordDocument", []byte("text")}, cfbStream{"ObjectPool/_1/\x01Ole10Native", native})
	var exact bool
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Name == "ObjectPool/_1/Ole10Native/invoice.exe" {
			exact = bytes.Equal(o.Data, eicar)
		}
		return inspectEICAR(ctx, o)
	}}
	res := w.Walk(context.Background(), "p.doc", doc, "", false)
	wantDetection(t, res, "p.doc/ObjectPool/_1/Ole10Native/invoice.exe", verdict.Infected, "")
	if !exact {
		t.Errorf("packaged file not yielded byte for byte:\n%s", dump(res))
	}
}

func TestOLE2VBASourceIsExposed(t *testing.T) {
	body := "Sub AutoOpen()\r\n  s = \"" + string(eicar) + "\"\r\nEnd Sub\r\n"
	for _, withDir := range []bool{true, false} {
		doc := macroDoc(t, body, withDir)
		if bytes.Contains(doc, eicar) {
			t.Fatal("the compressed source shows EICAR in the clear")
		}
		var src []byte
		w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
			if o.Name == "Macros/VBA/Module1.vba" {
				src = append([]byte(nil), o.Data...)
			}
			return inspectEICAR(ctx, o)
		}}
		res := w.Walk(context.Background(), "m.doc", doc, "", false)
		d := wantDetection(t, res, "m.doc/Macros/VBA/Module1.vba", verdict.Infected, "")
		if d.Depth != 1 || !bytes.Equal(src, vbaSource(body)) {
			t.Fatalf("dir %v: depth %d source %q", withDir, d.Depth, src)
		}
		if len(res.Detections) != 1 {
			t.Errorf("dir %v: want one detection:\n%s", withDir, dump(res))
		}
	}
}

func TestOLE2TruncatedIsCorrupted(t *testing.T) {
	doc := makeCFB(t, cfbStream{"a", eicar}, cfbStream{"b", bytes.Repeat([]byte("y"), 8000)})
	res := walk("t.doc", doc[:600], Limits{})
	wantDetection(t, res, "t.doc", verdict.Corrupted, "ole2")
}

func TestOLE2CleanIsClean(t *testing.T) {
	res := walk("c.doc", macroDoc(t, "Sub Hello()\r\nEnd Sub\r\n", true), Limits{})
	if res.Status != verdict.Clean || res.Objects != 8 {
		t.Fatalf("want 8 clean objects:\n%s", dump(res))
	}
}

func FuzzWalkOLE2(f *testing.F) {
	f.Add(macroDoc(f, "Sub Hello()\r\nEnd Sub\r\n", true))
	f.Add(macroDoc(f, "Sub Hello()\r\nEnd Sub\r\n", false))
	f.Add(makeCFB(f, cfbStream{"a/b/c", []byte("harmless")}, cfbStream{"big", make([]byte, 5000)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.doc", data)
	})
}

// fuzzWalkWatched is fuzzWalk with a watchdog: an input that keeps a
// decoder busy for 15 s (past fuzzWalk's own 10 s deadline, so a loop that
// ignores the context) panics with every goroutine's stack, which makes
// the fuzzer keep the input as a failure instead of stalling.
func fuzzWalkWatched(t *testing.T, name string, data []byte) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			buf := make([]byte, 1<<20)
			panic("decoder stuck:\n" + string(buf[:runtime.Stack(buf, true)]))
		}
	}()
	fuzzWalk(t, name, data)
}
