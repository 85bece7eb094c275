package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
)

// Kinds that go into archives, with the extension they get there.
var memberKinds = []struct {
	k   kind
	ext string
}{
	{kText, ".txt"}, {kText, ".md"}, {kCSV, ".csv"}, {kLog, ".log"}, {kHTML, ".html"},
	{kPDF, ".pdf"}, {kDOCX, ".docx"}, {kJPEG, ".jpg"}, {kPE, ".exe"}, {kPE, ".dll"}, {kELF, ""},
}

// members generates archive members until their packed size is about
// `size` (packed reports the archive's current length). Planted bytes go
// into one member whose kind keeps them as plain bytes.
func (c *genCtx) members(size int, plants [][]byte, packed func() int, add func(name string, data []byte, planted bool)) {
	dirs := []string{"", "docs/", "src/", "data/", "bin/", "reports/2026/"}
	plantAt := -1
	if len(plants) > 0 {
		plantAt = c.r.IntN(3)
	}
	for i := 0; packed() < size || i <= plantAt; i++ {
		mk := pick(c.r, memberKinds)
		var pl [][]byte
		if i == plantAt {
			// A kind that keeps the plants as plain bytes before packing,
			// and compresses well enough that they do not stay plain after.
			for mk.k == kPDF || mk.k == kDOCX || mk.k == kJPEG {
				mk = pick(c.r, memberKinds)
			}
			pl = plants
		}
		left := size - packed()
		n := c.r.logUniform(1_000, max(2_000, min(left, 3_000_000)))
		if mk.k == kText || mk.k == kCSV || mk.k == kLog || mk.k == kHTML {
			n *= 3 // text packs about 3-4:1
		}
		name := fmt.Sprintf("%s%s_%s%s", pick(c.r, dirs), c.tg.word(), c.tg.word(), mk.ext)
		add(name, kinds[mk.k].gen(c, n, pl), pl != nil)
	}
}

// genZip writes a zip archive of generated files; about one member in ten
// is stored uncompressed. The first member is reported for hash signatures.
func genZip(c *genCtx, size int, plants [][]byte) []byte {
	z := newZipper(c, size)
	first := true
	c.members(size, plants, z.buf.Len, func(name string, data []byte, planted bool) {
		if first {
			c.member = &memberHash{name: name, size: len(data), md5: md5sum(data)}
			first = false
		}
		z.add(name, data, !planted && c.r.IntN(10) == 0)
	})
	return z.bytes()
}

// genTgz writes a gzip-compressed tar archive of generated files.
func genTgz(c *genCtx, size int, plants [][]byte) []byte {
	var buf bytes.Buffer
	buf.Grow(size + 4096)
	level := gzip.DefaultCompression
	if size > 2_000_000 {
		level = gzip.BestSpeed
	}
	gz, _ := gzip.NewWriterLevel(&buf, level)
	tw := tar.NewWriter(gz)
	owner := pick(c.r, firstNames)
	c.members(size, plants, buf.Len, func(name string, data []byte, _ bool) {
		mode := int64(0o644)
		if len(data) > 4 && string(data[:4]) == "\x7fELF" {
			mode = 0o755
		}
		hdr := &tar.Header{Name: "backup/" + name, Mode: mode, Size: int64(len(data)),
			ModTime: c.date(), Uname: owner, Gname: "users", Uid: 1000, Gid: 100, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err)
		}
		_, _ = tw.Write(data)
	})
	if err := tw.Close(); err != nil {
		panic(err)
	}
	if err := gz.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
