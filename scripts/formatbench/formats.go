package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"ave/pkg/filetype"
)

// format is one row of the throughput table.
type format struct {
	name  string
	maker string // how the input is written
	build func(files []genFileT, dir string) ([]byte, error)
}

var formats = []format{
	{"zip (deflate)", "Go archive/zip", func(fs []genFileT, _ string) ([]byte, error) { return goZip(fs, zip.Deflate) }},
	{"zip (stored)", "Go archive/zip", func(fs []genFileT, _ string) ([]byte, error) { return goZip(fs, zip.Store) }},
	{"tar (ustar/pax)", "Go archive/tar", func(fs []genFileT, _ string) ([]byte, error) { return goTar(fs) }},
	{"tar.gz (2 levels)", "Go archive/tar + compress/gzip", func(fs []genFileT, _ string) ([]byte, error) {
		t, err := goTar(fs)
		if err != nil {
			return nil, err
		}
		return goGzip(t)
	}},
	{"gzip (one stream)", "Go compress/gzip", func(fs []genFileT, _ string) ([]byte, error) { return goGzip(concat(fs)) }},
	{"bzip2 (one stream)", "`bzip2 -9`", func(fs []genFileT, _ string) ([]byte, error) { return tool(concat(fs), "", "bzip2", "-9", "-c") }},
	// Fast presets: -6 takes 35-50 s to write 32 MiB here; decoding LZMA
	// costs about the same whatever the preset.
	{"xz (3 MiB blocks)", "`xz -1 -T2`", func(fs []genFileT, _ string) ([]byte, error) {
		return tool(concat(fs), "", "xz", "-1", "-T2", "-c")
	}},
	{"lzma (alone)", "`xz --format=lzma -1`", func(fs []genFileT, _ string) ([]byte, error) {
		return tool(concat(fs), "", "xz", "--format=lzma", "-1", "-c")
	}},
	{"cpio (newc)", "`cpio -o -H newc`", func(fs []genFileT, dir string) ([]byte, error) {
		return tool([]byte(names(fs)), dir, "cpio", "--quiet", "-o", "-H", "newc")
	}},
	{"cpio (odc)", "`cpio -o -H odc`", func(fs []genFileT, dir string) ([]byte, error) {
		return tool([]byte(names(fs)), dir, "cpio", "--quiet", "-o", "-H", "odc")
	}},
	{"cab (MSZIP)", "`gcab -c -z`", func(fs []genFileT, dir string) ([]byte, error) {
		out := filepath.Join(dir, "..", "bench.cab")
		args := append([]string{"-c", "-z", out}, strings.Fields(names(fs))...)
		if _, err := tool(nil, dir, "gcab", args...); err != nil {
			return nil, err
		}
		return os.ReadFile(out)
	}},
	{"7z (LZMA2, solid)", "`7z a -mx=1 -mmt=2`", func(fs []genFileT, dir string) ([]byte, error) {
		out := filepath.Join(dir, "..", "bench.7z")
		if _, err := tool(nil, dir, "7z", "a", "-bd", "-mx=1", "-mmt=2", out, "."); err != nil {
			return nil, err
		}
		return os.ReadFile(out)
	}},
	{"zip (bzip2)", "`7z a -tzip -mm=BZip2 -mx=1`", func(fs []genFileT, dir string) ([]byte, error) {
		return sevenZipZip(dir, "bzip2", "-mm=BZip2")
	}},
	{"zip (deflate64)", "`7z a -tzip -mm=Deflate64 -mx=1`", func(fs []genFileT, dir string) ([]byte, error) {
		return sevenZipZip(dir, "deflate64", "-mm=Deflate64")
	}},
	{"zip (LZMA)", "`7z a -tzip -mm=LZMA -mx=1`", func(fs []genFileT, dir string) ([]byte, error) {
		return sevenZipZip(dir, "lzma", "-mm=LZMA")
	}},
	{"arj (method 1)", "`arj a -m1`", func(fs []genFileT, dir string) ([]byte, error) {
		out := filepath.Join(dir, "..", "bench.arj")
		args := append([]string{"a", "-m1", "-y", "-i", out}, strings.Fields(names(fs))...)
		if _, err := tool(nil, dir, "arj", args...); err != nil {
			return nil, err
		}
		return os.ReadFile(out)
	}},
	{"SZDD (one file)", "`mscompress`", func(fs []genFileT, dir string) ([]byte, error) {
		return toolOnFile(dir, "all.bin", concat(fs), "all.bin_", "mscompress", "all.bin")
	}},
	{"BinHex 4.0 (one file)", "`binhex -d` (macutils)", func(fs []genFileT, dir string) ([]byte, error) {
		return toolOnFile(dir, "all.bin", concat(fs), "", "binhex", "-d", "all.bin")
	}},
	{"mbox (one message per file)", "Go, own writer", func(fs []genFileT, _ string) ([]byte, error) { return mbox(fs), nil }},
	{"HTML (data: URIs)", "Go, own writer", func(fs []genFileT, _ string) ([]byte, error) { return htmlDataURIs(fs), nil }},
	{"RTF (\\objdata Package objects, hex and \\bin)", "Go, own writer", func(fs []genFileT, _ string) ([]byte, error) { return rtf(fs), nil }},
	{"TNEF (winmail.dat attachments)", "Go, own writer", func(fs []genFileT, _ string) ([]byte, error) { return tnef(fs), nil }},
	{"MIME (base64 parts)", "Go, own writer", func(fs []genFileT, _ string) ([]byte, error) { return mail(fs, "base64"), nil }},
	{"MIME (quoted-printable parts)", "Go mime/quotedprintable", func(fs []genFileT, _ string) ([]byte, error) {
		return mail(fs, "quoted-printable"), nil
	}},
	{"uuencode (in a text)", "Go, own writer", func(fs []genFileT, _ string) ([]byte, error) { return uue(fs), nil }},
	{"yEnc (in a text)", "Go, own writer", func(fs []genFileT, _ string) ([]byte, error) { return yenc(fs), nil }},
	{"PDF (FlateDecode streams)", "Go, own writer", func(fs []genFileT, _ string) ([]byte, error) { return pdf(fs) }},
}

// sevenZipZip zips the files of dir with 7-Zip and a zip method.
func sevenZipZip(dir, tag, method string) ([]byte, error) {
	out := filepath.Join(dir, "..", "bench-"+tag+".zip")
	if _, err := tool(nil, dir, "7z", "a", "-bd", "-tzip", method, "-mx=1", "-mmt=2", out, "."); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// toolOnFile writes data to name in a directory of its own beside dir,
// runs the tool there and returns the file result (its standard output
// when result is "").
func toolOnFile(dir, name string, data []byte, result, cmd string, args ...string) ([]byte, error) {
	work, err := os.MkdirTemp(filepath.Join(dir, ".."), cmd)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
		return nil, err
	}
	out, err := tool(nil, work, cmd, args...)
	if err != nil || result == "" {
		return out, err
	}
	return os.ReadFile(filepath.Join(work, result))
}

// mbox is an mbox file of one message per file, each with the file as a
// base64 attachment.
func mbox(fs []genFileT) []byte {
	var b bytes.Buffer
	for _, f := range fs {
		b.WriteString("From bench@example.org Sun Nov 22 00:00:00 2026\n")
		msg := mail([]genFileT{f}, "base64")
		b.Write(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")))
		b.WriteString("\n")
	}
	return b.Bytes()
}

// htmlDataURIs is an HTML page with one base64 data: URI link per file.
func htmlDataURIs(fs []genFileT) []byte {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html><head><title>formatbench</title></head><body>\n")
	for _, f := range fs {
		fmt.Fprintf(&b, "<p><a download=\"%s\" href=\"data:application/octet-stream;base64,%s\">%s</a></p>\n",
			filepath.Base(f.name), base64.StdEncoding.EncodeToString(f.data), filepath.Base(f.name))
	}
	b.WriteString("</body></html>\n")
	return b.Bytes()
}

// rtf is an RTF document with one embedded OLE1 Package object per file
// (the packager's native data: a file name, two paths and the file), the
// \objdata of every other object in hex lines of 128 digits, of the
// others as raw bytes after \binN.
func rtf(fs []genFileT) []byte {
	var b bytes.Buffer
	b.WriteString(`{\rtf1\ansi\deff0{\fonttbl{\f0 Arial;}}\pard formatbench\par` + "\n")
	le32 := func(w *bytes.Buffer, v int) { binary.Write(w, binary.LittleEndian, uint32(v)) }
	for i, f := range fs {
		name := filepath.Base(f.name)
		var pkg bytes.Buffer
		pkg.Write([]byte{2, 0})
		pkg.WriteString(name + "\x00C:\\Users\\bench\\" + name + "\x00")
		pkg.Write([]byte{0, 0, 3, 0})
		tmp := "C:\\Temp\\" + name + "\x00"
		le32(&pkg, len(tmp))
		pkg.WriteString(tmp)
		le32(&pkg, len(f.data))
		pkg.Write(f.data)
		var obj bytes.Buffer
		le32(&obj, 0x0501)
		le32(&obj, 2)
		for _, s := range []string{"Package", "", ""} {
			le32(&obj, len(s)+1)
			obj.WriteString(s + "\x00")
		}
		le32(&obj, pkg.Len())
		obj.Write(pkg.Bytes())
		b.WriteString(`{\object\objemb{\*\objclass Package}{\*\objdata` + "\n")
		if i%2 == 1 { // raw bytes after \binN (the hex form would not fit MaxObjectSize for all)
			fmt.Fprintf(&b, "\\bin%d ", obj.Len())
			b.Write(obj.Bytes())
			b.WriteString("}}\\par\n")
			continue
		}
		h := hex.EncodeToString(obj.Bytes())
		for len(h) > 128 {
			b.WriteString(h[:128] + "\n")
			h = h[128:]
		}
		b.WriteString(h + "}}\\par\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// tnef is a winmail.dat with one attachment per file, in the legacy
// attributes (attAttachRendData, attAttachTitle, attAttachData), each
// with its byte-sum checksum.
func tnef(fs []genFileT) []byte {
	var b bytes.Buffer
	attr := func(level byte, id uint32, data []byte) {
		b.WriteByte(level)
		binary.Write(&b, binary.LittleEndian, id)
		binary.Write(&b, binary.LittleEndian, uint32(len(data)))
		b.Write(data)
		var sum uint16
		for _, c := range data {
			sum += uint16(c)
		}
		binary.Write(&b, binary.LittleEndian, sum)
	}
	binary.Write(&b, binary.LittleEndian, uint32(0x223E9F78)) // TNEF signature
	binary.Write(&b, binary.LittleEndian, uint16(0x0102))     // key
	attr(1, 0x00089006, []byte{1, 0, 0, 0})                   // attTnefVersion
	attr(1, 0x0002800c, []byte("formatbench: see the attachments."))
	for _, f := range fs {
		attr(2, 0x00069002, make([]byte, 14)) // attAttachRendData starts an attachment
		attr(2, 0x00018010, []byte(filepath.Base(f.name)+"\x00"))
		attr(2, 0x0006800f, f.data)
	}
	return b.Bytes()
}

func names(fs []genFileT) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.name + "\n")
	}
	return b.String()
}

func goZip(fs []genFileT, method uint16) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range fs {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: method, Modified: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	err := zw.Close()
	return buf.Bytes(), err
}

func goTar(fs []genFileT) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range fs {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return buf.Bytes(), err
}

func goGzip(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	err := zw.Close()
	return buf.Bytes(), err
}

// mail is a multipart/mixed message with one attachment per file.
func mail(fs []genFileT, cte string) []byte {
	var b bytes.Buffer
	b.WriteString("From: bench@example.org\r\nTo: you@example.org\r\nSubject: formatbench\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"=_bench\"\r\n\r\nThis is a multi-part message in MIME format.\r\n")
	for _, f := range fs {
		fmt.Fprintf(&b, "--=_bench\r\nContent-Type: application/octet-stream; name=\"%s\"\r\n"+
			"Content-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: %s\r\n\r\n",
			filepath.Base(f.name), filepath.Base(f.name), cte)
		if cte == "base64" {
			enc := base64.StdEncoding.EncodeToString(f.data)
			for len(enc) > 76 {
				b.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			b.WriteString(enc + "\r\n")
		} else {
			w := quotedprintable.NewWriter(&b)
			w.Binary = true
			w.Write(f.data)
			w.Close()
			b.WriteString("\r\n")
		}
	}
	b.WriteString("--=_bench--\r\n")
	return b.Bytes()
}

// uue is a text with one "begin 644 NAME ... end" block per file.
func uue(fs []genFileT) []byte {
	var b bytes.Buffer
	b.WriteString("Here are the files you asked for.\n\n")
	enc := func(v byte) byte {
		if v == 0 {
			return '`'
		}
		return v + 0x20
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "begin 644 %s\n", filepath.Base(f.name))
		for data := f.data; len(data) > 0; {
			n := min(45, len(data))
			line := data[:n]
			data = data[n:]
			b.WriteByte(enc(byte(n)))
			for i := 0; i < n; i += 3 {
				var g [3]byte
				copy(g[:], line[i:min(i+3, n)])
				b.WriteByte(enc(g[0] >> 2))
				b.WriteByte(enc((g[0]<<4 | g[1]>>4) & 0x3f))
				b.WriteByte(enc((g[1]<<2 | g[2]>>6) & 0x3f))
				b.WriteByte(enc(g[2] & 0x3f))
			}
			b.WriteByte('\n')
		}
		b.WriteString("`\nend\n\n")
	}
	return b.Bytes()
}

// yenc is a text with one single-part yEnc block per file.
func yenc(fs []genFileT) []byte {
	var b bytes.Buffer
	b.WriteString("Posted with formatbench.\n\n")
	for _, f := range fs {
		fmt.Fprintf(&b, "=ybegin line=128 size=%d name=%s\n", len(f.data), filepath.Base(f.name))
		col := 0
		for _, c := range f.data {
			e := c + 42
			switch e {
			case 0, '\n', '\r', '=':
				b.WriteByte('=')
				e += 64
			}
			b.WriteByte(e)
			if col++; col >= 128 {
				b.WriteByte('\n')
				col = 0
			}
		}
		fmt.Fprintf(&b, "\n=yend size=%d crc32=%08x\n\n", len(f.data), crc32.ChecksumIEEE(f.data))
	}
	return b.Bytes()
}

// pdf is a PDF with one FlateDecode embedded-file stream per file and a
// correct cross-reference table.
func pdf(fs []genFileT) ([]byte, error) {
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"}
	for _, f := range fs {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		if _, err := zw.Write(f.data); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		objs = append(objs, fmt.Sprintf("<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream", z.Len(), z.Bytes()))
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes(), nil
}

// runFormats prints the throughput table.
func runFormats() {
	rows, err := regexp.Compile(*flagRows)
	if err != nil {
		logf("-rows: %v", err)
		return
	}
	total := *flagMB << 20
	t0 := time.Now()
	files := genFiles(total)
	dir, err := os.MkdirTemp("", "formatbench")
	if err != nil {
		logf("temp dir: %v", err)
		return
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	for _, f := range files {
		p := filepath.Join(src, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, f.data, 0o644)
		}
		if err != nil {
			logf("writing %s: %v", p, err)
			return
		}
	}
	content := int64(0)
	for _, f := range files {
		content += int64(len(f.data))
	}
	logf("== formats: %d files, %s MB of content generated in %.1f s", len(files), mb(content), time.Since(t0).Seconds())

	fmt.Printf("### Decode throughput by format\n\n")
	fmt.Printf("Content: %d files of 256 KiB-1 MiB, %s MB in all (10^6 bytes; prose, log lines, random and low-entropy binary in runs of 2-16 KiB),\n", len(files), mb(content))
	fmt.Printf("one marker per file. Each row walks the container %d times with unpack.Walker and an Inspect function that only counts\n", *flagRuns)
	fmt.Printf("bytes and markers; best wall time. \"out\" = bytes of the decoded leaf objects (members that are not containers themselves),\n")
	fmt.Printf("\"in\" = the container's bytes, \"objects\" = objects below the top one, \"detected as\" = filetype.Detect of the container without a hint,\n")
	fmt.Printf("\"CPU s\" = user + system CPU of the process during the best walk (decoding is one goroutine; GC adds a little on the other CPU:\n")
	fmt.Printf("CPU s well under wall s means other work on the machine took the CPU).\n\n")
	fmt.Println("| format | written by | detected as | in (MB) | out (MB) | objects | markers found | best (s) | CPU s | MB/s out | MB/s in | status |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, f := range formats {
		if !rows.MatchString(f.name) {
			continue
		}
		tb := time.Now()
		data, err := f.build(files, src)
		if err != nil {
			logf("%s: skipped: %v", f.name, err)
			fmt.Printf("| %s | %s | skipped: %s | | | | | | | | | |\n", f.name, f.maker, strings.ReplaceAll(err.Error(), "|", "/"))
			continue
		}
		build := time.Since(tb)
		var best walkStats
		for i := 0; i < *flagRuns; i++ {
			st := walk("bench."+strings.Fields(f.name)[0], data, "")
			if i == 0 || st.wall < best.wall {
				best = st
			}
			if st.wall > 10*time.Second { // slow: one run is enough
				break
			}
		}
		secs := best.wall.Seconds()
		status := best.res.Status.String()
		if len(best.res.Detections) > 0 {
			status += ": " + best.res.Detections[0].Path + " " + best.res.Detections[0].Reason
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %d | %d/%d | %.3f | %.3f | %.1f | %.1f | %s |\n", f.name, f.maker, filetype.Detect(data, ""), mb(int64(len(data))), mb(best.cnt.bytes),
			best.cnt.objects, best.cnt.markers, len(files), secs, best.cpu.Seconds(), float64(best.cnt.bytes)/1e6/secs, float64(len(data))/1e6/secs, status)
		logf("%s: built in %.1f s, %s MB in, best %.3f s, %.1f MB/s out, %s", f.name, build.Seconds(), mb(int64(len(data))), secs, float64(best.cnt.bytes)/1e6/secs, status)
	}
	fmt.Println()
	if t := filetype.Detect(yenc(files[:1]), ""); t != filetype.YEnc {
		fmt.Printf("yEnc: an encoded binary file is detected as %q, not yenc, so the Walker does not decode it.\n\n", t)
	}
}
