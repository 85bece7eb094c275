package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"time"

	"ave/pkg/verdict"
)

type bomb struct {
	name    string
	expands string // what it would unpack to
	build   func() ([]byte, error)
}

// heavyBombs run with -heavy: they take up to the deadline each.
var heavyBombs = []bomb{
	{"zip of zips, 42.zip style: 3 levels x 16 copies, 10 MiB leaves", "4,096 x 10 MiB = 40 GiB", func() ([]byte, error) { return nestedZip(10, 16, 3) }},
	{"zip of zips, 42.zip style: 4 levels x 16 copies, 10 MiB leaves", "65,536 x 10 MiB = 640 GiB", func() ([]byte, error) { return nestedZip(10, 16, 4) }},
}

var bombs = []bomb{
	{"zip: 1 GiB of zeros, one deflate member, size declared", "1 GiB", func() ([]byte, error) { return zeroZip(1024, 1024<<20) }},
	{"zip: 1 GiB of zeros, declared size 1 MiB (lies)", "1 GiB", func() ([]byte, error) { return zeroZip(1024, 1<<20) }},
	{"zip: 1 GiB of zeros, declared size 60 MiB (lies, under MaxObjectSize)", "1 GiB", func() ([]byte, error) { return zeroZip(1024, 60<<20) }},
	{"zip of zips, 42.zip style: 4 levels x 10 copies, 1 MiB leaves", "10,000 x 1 MiB = 9.8 GiB", func() ([]byte, error) { return nestedZip(1, 10, 4) }},
	{"zip of zips, 42.zip style: 3 levels x 10 copies, 10 MiB leaves", "1,000 x 10 MiB = 9.8 GiB", func() ([]byte, error) { return nestedZip(10, 10, 3) }},
	{"zip of zips, 42.zip style: 4 levels x 16 copies, 1 MiB leaves", "65,536 x 1 MiB = 64 GiB", func() ([]byte, error) { return nestedZip(1, 16, 4) }},
	{"gzip: 1 GiB of zeros", "1 GiB", func() ([]byte, error) { return zeroGzip(1024) }},
	{"xz: 1 GiB of zeros (`xz -1`)", "1 GiB", func() ([]byte, error) { return tool(nil, "", "sh", "-c", "head -c 1073741824 /dev/zero | xz -1 -c") }},
	{"zip nested 50 deep (a 16-byte file at the bottom)", "16 B", func() ([]byte, error) { return deepZip(50) }},
	{"zip: 100,000 stored 1-byte entries", "100,000 files", func() ([]byte, error) { return manyZip(100000) }},
	{"zip: 1,000,000 stored 1-byte entries", "1,000,000 files", func() ([]byte, error) { return manyZip(1000000) }},
	{"zip: 600,000 empty entries, each with its own local header (under MaxObjectSize)", "600,000 files", func() ([]byte, error) { return emptyEntriesZip(600000) }},
	{"zip: 1,000,000 central-directory entries sharing one local entry", "1,000,000 files", func() ([]byte, error) {
		return overlapZip(nil, 1000000)
	}},
	{"zip: central directory filling MaxObjectSize (1,400,000 entries named \"a\", one shared local entry)", "1,400,000 files", func() ([]byte, error) {
		return overlapZipNamed(nil, 1400000, func(int) string { return "a" })
	}},
	{"zip: overlapping entries, 10,000 x one 1 MiB zero kernel", "10,000 x 1 MiB = 9.8 GiB", func() ([]byte, error) {
		return overlapZip(zeroKernel(1), 10000)
	}},
	{"zip: overlapping entries, 10,000 x one 21 MiB zero kernel (Fifield)", "10,000 x 21 MiB = 205 GiB", func() ([]byte, error) {
		return overlapZip(zeroKernel(21), 10000)
	}},
	{"MIME: 10,000 parts", "10,000 parts", func() ([]byte, error) { return manyParts(10000), nil }},
	{"MIME: 100,000 parts", "100,000 parts", func() ([]byte, error) { return manyParts(100000), nil }},
	{"MIME: multipart nested 100 deep", "1 part", func() ([]byte, error) { return deepMIME(100), nil }},
}

// ---- builders ----

// zeroDeflate writes a raw deflate stream of mib MiB of zeros without
// holding them: one MiB compressed once, ending on a sync flush, repeated,
// then a final empty block. It returns the CRC-32 and the stream's size.
func zeroDeflate(w io.Writer, mib int) (crc uint32, packed int64) {
	zeros := make([]byte, 1<<20)
	var chunk bytes.Buffer
	fw, _ := flate.NewWriter(&chunk, flate.BestCompression)
	fw.Write(zeros)
	fw.Flush()
	for i := 0; i < mib; i++ {
		w.Write(chunk.Bytes())
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
		packed += int64(chunk.Len())
	}
	w.Write([]byte{0x03, 0x00})
	return crc, packed + 2
}

type kernel struct {
	data       []byte // raw deflate (or stored) bytes
	method     uint16
	crc        uint32
	size       uint64
	compressed uint64
}

func zeroKernel(mib int) *kernel {
	var b bytes.Buffer
	crc, packed := zeroDeflate(&b, mib)
	return &kernel{data: b.Bytes(), method: zip.Deflate, crc: crc, size: uint64(mib) << 20, compressed: uint64(packed)}
}

// zeroZip is a zip with one member of mib MiB of zeros whose headers
// declare a size of declared bytes.
func zeroZip(mib int, declared uint64) ([]byte, error) {
	k := zeroKernel(mib)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "zeros.bin", Method: zip.Deflate, CRC32: k.crc,
		CompressedSize64: k.compressed, UncompressedSize64: declared})
	if err != nil {
		return nil, err
	}
	w.Write(k.data)
	err = zw.Close()
	return buf.Bytes(), err
}

func goZipRaw(entries ...zipMember) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(e.data); err != nil {
			return nil, err
		}
	}
	err := zw.Close()
	return buf.Bytes(), err
}

type zipMember struct {
	name   string
	data   []byte
	method uint16
}

// nestedZip: the bottom zip holds copies members of leafMiB MiB of zeros;
// every level above holds copies of the level below (42.zip).
func nestedZip(leafMiB, copies, levels int) ([]byte, error) {
	k := zeroKernel(leafMiB)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < copies; i++ {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("%x.bin", i), Method: zip.Deflate, CRC32: k.crc,
			CompressedSize64: k.compressed, UncompressedSize64: k.size})
		if err != nil {
			return nil, err
		}
		w.Write(k.data)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	for l := 2; l <= levels; l++ {
		var ms []zipMember
		for i := 0; i < copies; i++ {
			ms = append(ms, zipMember{fmt.Sprintf("l%d-%x.zip", l-1, i), data, zip.Deflate})
		}
		var err error
		if data, err = goZipRaw(ms...); err != nil {
			return nil, err
		}
	}
	return data, nil
}

func deepZip(depth int) ([]byte, error) {
	data, err := goZipRaw(zipMember{"bottom.txt", []byte("bottom of 50 zip"), zip.Deflate})
	for i := depth - 1; i > 0 && err == nil; i-- {
		data, err = goZipRaw(zipMember{fmt.Sprintf("d%02d.zip", i), data, zip.Deflate})
	}
	return data, err
}

func manyZip(n int) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < n; i++ {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("%x", i), Method: zip.Store})
		if err != nil {
			return nil, err
		}
		w.Write([]byte{'x'})
	}
	err := zw.Close()
	return buf.Bytes(), err
}

// emptyEntriesZip is a zip of n empty stored entries with short names and
// no data descriptors (about 86 bytes each): the most entries that fit in
// MaxObjectSize without sharing anything, so only the member count limits it.
func emptyEntriesZip(n int) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < n; i++ {
		if _, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("%x", i), Method: zip.Store, CRC32: 0}); err != nil {
			return nil, err
		}
	}
	err := zw.Close()
	return buf.Bytes(), err
}

// overlapZip writes one local entry (k, or a stored "x" when k is nil) and
// n central-directory entries that all point at it: the overlapping-files
// construction of David Fifield's "better zip bomb" in its simplest form.
// The end record holds the count modulo 65536, which is all archive/zip checks.
func overlapZip(k *kernel, n int) ([]byte, error) {
	return overlapZipNamed(k, n, func(i int) string { return fmt.Sprintf("%x", i) })
}

func overlapZipNamed(k *kernel, n int, nameOf func(int) string) ([]byte, error) {
	if k == nil {
		k = &kernel{data: []byte{'x'}, method: zip.Store, crc: crc32.ChecksumIEEE([]byte{'x'}), size: 1, compressed: 1}
	}
	le := binary.LittleEndian
	var b []byte
	b = append(b, "PK\x03\x04"...)
	b = le.AppendUint16(b, 20)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, k.method)
	b = le.AppendUint32(b, 0x5b760000) // 2025-11-22 00:00
	b = le.AppendUint32(b, k.crc)
	b = le.AppendUint32(b, uint32(k.compressed))
	b = le.AppendUint32(b, uint32(k.size))
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 0)
	b = append(b, 'k')
	b = append(b, k.data...)
	cdStart := len(b)
	for i := 0; i < n; i++ {
		name := nameOf(i)
		b = append(b, "PK\x01\x02"...)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, k.method)
		b = le.AppendUint32(b, 0x5b760000)
		b = le.AppendUint32(b, k.crc)
		b = le.AppendUint32(b, uint32(k.compressed))
		b = le.AppendUint32(b, uint32(k.size))
		b = le.AppendUint16(b, uint16(len(name)))
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, 0) // every entry's local header is at offset 0
		b = append(b, name...)
	}
	cdSize := len(b) - cdStart
	b = append(b, "PK\x05\x06"...)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, uint16(n))
	b = le.AppendUint16(b, uint16(n))
	b = le.AppendUint32(b, uint32(cdSize))
	b = le.AppendUint32(b, uint32(cdStart))
	b = le.AppendUint16(b, 0)
	return b, nil
}

func zeroGzip(mib int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	crc, _ := zeroDeflate(&buf, mib)
	buf.Write(binary.LittleEndian.AppendUint32(nil, crc))
	buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(mib<<20)))
	return buf.Bytes(), nil
}

func manyParts(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i)
	}
	b.WriteString("--b--\r\n")
	return b.Bytes()
}

func deepMIME(depth int) []byte {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return []byte(b.String())
}

// ---- report ----

// reasons summarises the UNCHECKED/CORRUPTED/PROTECTED detections: the
// distinct reasons (numbers kept) with their counts, most frequent first.
func reasons(res verdict.Result) string {
	count := map[string]int{}
	for _, d := range res.Detections {
		if d.Status == verdict.Clean || d.Status == verdict.Infected {
			continue
		}
		count[d.Status.String()+" "+d.Reason]++
	}
	type kv struct {
		k string
		n int
	}
	var kvs []kv
	for k, n := range count {
		kvs = append(kvs, kv{k, n})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].n > kvs[j].n || kvs[i].n == kvs[j].n && kvs[i].k < kvs[j].k })
	var parts []string
	for i, e := range kvs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more", len(kvs)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%d x %s", e.n, e.k))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.ReplaceAll(strings.Join(parts, "; "), "|", "/")
}

// heapBound is what a walk may add to the heap: the largest object plus
// its container's decoder state, with room to spare.
const heapBound = 256 << 20

func runBombs() {
	logf("== bombs")
	fmt.Printf("### Bombs (default limits, deadline %s)\n\n", *flagScanTime)
	fmt.Println("Each bomb is generated in memory and walked once. A top object larger than MaxObjectSize is cut to it and")
	fmt.Println("marked truncated, as the engine does (inspected, not opened). \"peak heap\" = largest HeapInuse sampled every 5 ms")
	fmt.Println("during the walk minus HeapInuse before it (the input is allocated before); \"alloc\" = TotalAlloc delta; \"Sys\" = runtime.MemStats.Sys")
	fmt.Printf("after the walk (whole process, cumulative). \"held\": a limit (or a clean walk within the limits) ended it, under the deadline, with peak heap under %d MiB.\n\n", heapBound>>20)
	fmt.Println("| bomb | input | expands to | status | why (count x status reason) | objects | scanned (MB) | wall (s) | peak heap (MiB) | alloc (MiB) | Sys (MiB) | held |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	var failed []string
	list := bombs
	if *flagHeavy {
		list = append(list, heavyBombs...)
	}
	for _, bm := range list {
		tb := time.Now()
		data, err := bm.build()
		if err != nil {
			logf("%s: skipped: %v", bm.name, err)
			fmt.Printf("| %s | skipped: %s | | | | | | | | | | |\n", bm.name, strings.ReplaceAll(err.Error(), "|", "/"))
			continue
		}
		build := time.Since(tb)
		in := len(data)
		st := walk("bomb", data, "")
		data = nil
		held := "yes"
		limitHit := false
		for _, d := range st.res.Detections {
			if d.Status == verdict.Unchecked && strings.HasPrefix(d.Reason, "limit:") {
				limitHit = true
			}
		}
		timeHit := strings.Contains(reasons(st.res), "MaxScanTime") || st.wall >= *flagScanTime*9/10
		switch {
		case timeHit:
			held = "**NO: only the deadline (MaxScanTime) stopped it**"
		case st.peakHeap > heapBound:
			held = fmt.Sprintf("**NO: heap grew %s MiB**", mib(st.peakHeap))
		case st.res.Status == verdict.Unchecked && limitHit:
			held = "yes (limit)"
		case st.res.Status == verdict.Clean:
			held = "yes (clean, within limits)"
		case st.res.Status == verdict.Corrupted:
			held = "yes (refused as CORRUPTED)"
		default:
			held = "**NO: ended " + st.res.Status.String() + " without a limit**"
		}
		if strings.HasPrefix(held, "**NO") {
			failed = append(failed, bm.name)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %d | %s | %.2f | %s | %s | %s | %s |\n", bm.name, sizeStr(in), bm.expands,
			st.res.Status, reasons(st.res), st.res.Objects, mb(st.res.Bytes), st.wall.Seconds(), mib(st.peakHeap), mib(st.alloc), mib(st.sys), held)
		logf("%s: built in %.1f s (%s), walk %.2f s, %s, peak heap %s MiB: %s", bm.name, build.Seconds(), sizeStr(in), st.wall.Seconds(),
			st.res.Status, mib(st.peakHeap), reasons(st.res))
	}
	fmt.Println()
	if len(failed) > 0 {
		fmt.Printf("Limits that did not hold: %s.\n\n", strings.Join(failed, "; "))
	} else {
		fmt.Printf("Every bomb ended bounded.\n\n")
	}
}

func sizeStr(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
