package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"fmt"
	"io"
	"strings"
)

// zipper wraps archive/zip with deterministic dates and a compression level
// picked for the archive's size (real tools use 6; big ones use 1 to keep
// generation fast).
type zipper struct {
	buf bytes.Buffer
	zw  *zip.Writer
	c   *genCtx
}

func newZipper(c *genCtx, size int) *zipper {
	z := &zipper{c: c}
	z.buf.Grow(size + 4096)
	z.zw = zip.NewWriter(&z.buf)
	level := 6
	if size > 2_000_000 {
		level = 1
	}
	z.zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, level)
	})
	return z
}

func (z *zipper) add(name string, data []byte, store bool) {
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: z.c.date()}
	if store {
		h.Method = zip.Store
	}
	w, err := z.zw.CreateHeader(h)
	if err != nil {
		panic(err) // writes to a bytes.Buffer do not fail
	}
	_, _ = w.Write(data)
}

func (z *zipper) bytes() []byte {
	if err := z.zw.Close(); err != nil {
		panic(err)
	}
	return z.buf.Bytes()
}

// xmlEscape replaces the five XML special characters.
func xmlEscape(s string) string {
	if !strings.ContainsAny(s, "<>&'\"") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\'':
			b.WriteString("&apos;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (c *genCtx) coreXML() []byte {
	name, _ := c.tg.person()
	d := c.date().Format("2006-01-02T15:04:05Z")
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:title>%s</dc:title><dc:creator>%s</dc:creator><cp:lastModifiedBy>%s</cp:lastModifiedBy><cp:revision>%d</cp:revision><dcterms:created xsi:type="dcterms:W3CDTF">%s</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">%s</dcterms:modified></cp:coreProperties>`,
		xmlEscape(c.tg.title()), name, name, c.r.between(1, 40), d, d)
}

const appXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>Microsoft Office Word</Application><DocSecurity>0</DocSecurity><AppVersion>16.0000</AppVersion></Properties>`

const rootRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="%s"/></Relationships>`

// genDOCX writes a Word document: document.xml with paragraphs, styles,
// properties, and images for the bulk of larger documents. Planted bytes go
// into an embedded OLE object part.
func genDOCX(c *genCtx, size int, plants [][]byte) []byte {
	z := newZipper(c, size)
	var images [][]byte
	var exts []string
	textBudget := size
	if size > 40_000 {
		textBudget = size / 5
		for left := size - textBudget; left > 4000; {
			n := min(left, c.r.logUniform(20_000, 1_500_000))
			if c.r.IntN(3) == 0 {
				images = append(images, genPNG(c, n, nil))
				exts = append(exts, "png")
			} else {
				images = append(images, genJPEG(c, n, nil))
				exts = append(exts, "jpeg")
			}
			left -= len(images[len(images)-1])
		}
	}
	ct := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="jpeg" ContentType="image/jpeg"/><Default Extension="png" ContentType="image/png"/><Default Extension="bin" ContentType="application/vnd.openxmlformats-officedocument.oleObject"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>`
	z.add("[Content_Types].xml", []byte(ct), false)
	z.add("_rels/.rels", fmt.Appendf(nil, rootRels, "word/document.xml"), false)

	// Text compresses about 4:1 in deflate.
	doc := make([]byte, 0, textBudget*4+4096)
	doc = append(doc, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><w:body>`...)
	img := 0
	for len(doc) < textBudget*4 || img < len(images) {
		if c.r.IntN(8) == 0 {
			doc = fmt.Appendf(doc, `<w:p><w:pPr><w:pStyle w:val="Heading%d"/></w:pPr><w:r><w:t>%s</w:t></w:r></w:p>`, c.r.between(1, 3), xmlEscape(c.tg.title()))
		}
		doc = append(doc, `<w:p><w:r><w:t xml:space="preserve">`...)
		doc = c.tg.paragraph(doc, 0)
		doc = append(doc, `</w:t></w:r></w:p>`...)
		if img < len(images) && (len(doc) >= textBudget*4 || c.r.IntN(6) == 0) {
			img++
			doc = fmt.Appendf(doc, `<w:p><w:r><w:drawing><wp:inline><wp:extent cx="5486400" cy="3657600"/><wp:docPr id="%d" name="Picture %d"/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic><pic:blipFill><a:blip r:embed="rId%d"/></pic:blipFill></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>`, img, img, 100+img)
		}
	}
	doc = append(doc, `<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1417" w:right="1417" w:bottom="1134" w:left="1417"/></w:sectPr></w:body></w:document>`...)
	z.add("word/document.xml", doc, false)
	z.add("word/styles.xml", []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/></w:style></w:styles>`), false)

	var rels strings.Builder
	rels.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>`)
	for i := range images {
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image%d.%s"/>`, 101+i, i+1, exts[i])
	}
	if len(plants) > 0 {
		rels.WriteString(`<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/oleObject" Target="embeddings/oleObject1.bin"/>`)
	}
	rels.WriteString(`</Relationships>`)
	z.add("word/_rels/document.xml.rels", []byte(rels.String()), false)
	for i, im := range images {
		// Images are already compressed; Word stores them deflated anyway.
		z.add(fmt.Sprintf("word/media/image%d.%s", i+1, exts[i]), im, false)
	}
	if len(plants) > 0 {
		ole := c.oleBlob()
		z.add("word/embeddings/oleObject1.bin", plantInto(c.r, ole, 512, plants, false), false)
	}
	z.add("docProps/core.xml", c.coreXML(), false)
	z.add("docProps/app.xml", []byte(appXML), false)
	return z.bytes()
}

// colName returns the spreadsheet column letters for 0-based i.
func colName(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}

// genXLSX writes a workbook with one sheet of mixed text and number cells.
// Planted bytes go into an embedded binary part.
func genXLSX(c *genCtx, size int, plants [][]byte) []byte {
	z := newZipper(c, size)
	ct := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="bin" ContentType="application/vnd.openxmlformats-officedocument.oleObject"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>`
	z.add("[Content_Types].xml", []byte(ct), false)
	z.add("_rels/.rels", fmt.Appendf(nil, rootRels, "xl/workbook.xml"), false)
	z.add("xl/workbook.xml", fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="%s" sheetId="1" r:id="rId1"/></sheets></workbook>`, xmlEscape(c.tg.title())), false)
	z.add("xl/_rels/workbook.xml.rels", []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`), false)
	z.add("xl/styles.xml", []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellXfs></styleSheet>`), false)

	// Cell XML compresses about 4:1.
	sheet := make([]byte, 0, size*4+4096)
	sheet = append(sheet, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`...)
	cols := c.r.between(4, 14)
	for row := 1; len(sheet) < size*4; row++ {
		sheet = fmt.Appendf(sheet, `<row r="%d">`, row)
		for col := range cols {
			ref := colName(col) + fmt.Sprint(row)
			switch {
			case row == 1 || col == 0:
				sheet = fmt.Appendf(sheet, `<c r="%s" t="inlineStr"><is><t>%s</t></is></c>`, ref, c.tg.word())
			case col%3 == 1:
				sheet = fmt.Appendf(sheet, `<c r="%s"><v>%d</v></c>`, ref, c.r.IntN(1000000))
			default:
				sheet = fmt.Appendf(sheet, `<c r="%s"><v>%d.%04d</v></c>`, ref, c.r.IntN(100000), c.r.IntN(10000))
			}
		}
		sheet = append(sheet, `</row>`...)
	}
	sheet = append(sheet, `</sheetData></worksheet>`...)
	z.add("xl/worksheets/sheet1.xml", sheet, false)
	if len(plants) > 0 {
		ole := c.oleBlob()
		z.add("xl/embeddings/oleObject1.bin", plantInto(c.r, ole, 512, plants, false), false)
	}
	z.add("docProps/core.xml", c.coreXML(), false)
	z.add("docProps/app.xml", []byte(strings.Replace(appXML, "Word", "Excel", 1)), false)
	return z.bytes()
}

// oleBlob returns a compressible stand-in for an embedded OLE object: the
// compound-file magic, then strings and zero-padded tables, so that deflate
// really encodes whatever is planted in it.
func (c *genCtx) oleBlob() []byte {
	b := []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}
	b = append(b, make([]byte, 504)...)
	return c.strtab(b, c.r.between(2000, 20000), winAPIs)
}

// pdfWriter tracks object offsets for the xref table.
type pdfWriter struct {
	b    []byte
	offs map[int]int
}

func (p *pdfWriter) obj(n int, body string) {
	p.offs[n] = len(p.b)
	p.b = fmt.Appendf(p.b, "%d 0 obj\n%s\nendobj\n", n, body)
}

func (p *pdfWriter) stream(n int, dict string, data []byte) {
	p.offs[n] = len(p.b)
	p.b = fmt.Appendf(p.b, "%d 0 obj\n<< %s /Length %d >>\nstream\n", n, dict, len(data))
	p.b = append(p.b, data...)
	p.b = append(p.b, "\nendstream\nendobj\n"...)
}

func deflate(data []byte, level int) []byte {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, level)
	_, _ = w.Write(data)
	_ = w.Close()
	return buf.Bytes()
}

// pdfText escapes a string for a PDF literal.
func pdfText(s []byte) []byte {
	out := make([]byte, 0, len(s)+8)
	for _, ch := range s {
		if ch == '(' || ch == ')' || ch == '\\' {
			out = append(out, '\\')
		}
		out = append(out, ch)
	}
	return out
}

// genPDF writes a PDF 1.5 file with a correct xref table: text pages with
// FlateDecode content streams, JPEG images (DCTDecode) in larger files, and
// planted bytes in a FlateDecode embedded-file stream.
func genPDF(c *genCtx, size int, plants [][]byte) []byte {
	p := &pdfWriter{b: make([]byte, 0, size+8192), offs: map[int]int{}}
	p.b = append(p.b, "%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"...)
	p.obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
	p.obj(3, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	next := 4
	var kids []string
	level := 6
	if size > 2_000_000 {
		level = 1
	}
	imageShare := 0
	if size > 150_000 {
		imageShare = c.r.between(40, 85)
	}
	for len(p.b) < size-600 {
		page, content := next, next+1
		next += 2
		var cs []byte
		cs = append(cs, "BT\n/F1 11 Tf\n13 TL\n72 770 Td\n"...)
		lines := c.r.between(20, 55)
		for range lines {
			line := c.tg.sentence(nil)
			if len(line) > 95 {
				line = line[:95]
			}
			cs = append(cs, '(')
			cs = append(cs, pdfText(line)...)
			cs = append(cs, ") Tj T*\n"...)
		}
		cs = append(cs, "ET\n"...)
		res := "/Font << /F1 3 0 R >>"
		if imageShare > 0 && c.r.IntN(100) < imageShare {
			im := next
			next++
			jpg := genJPEG(c, min(size-len(p.b), c.r.logUniform(30_000, 900_000)), nil)
			w, h := jpegDims(jpg)
			p.stream(im, fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode", w, h), jpg)
			res += fmt.Sprintf(" /XObject << /Im1 %d 0 R >>", im)
			cs = append(cs, "q 451 0 0 300 72 80 cm /Im1 Do Q\n"...)
		}
		p.stream(content, "/Filter /FlateDecode", deflate(cs, level))
		p.obj(page, fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << %s >> /Contents %d 0 R >>", res, content))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	if len(plants) > 0 {
		data := plantInto(c.r, c.strtab(nil, c.r.between(2000, 16000), winAPIs), 0, plants, false)
		p.stream(next, fmt.Sprintf("/Type /EmbeddedFile /Filter /FlateDecode /Params << /Size %d >>", len(data)), deflate(data, 6))
		next++
	}
	p.obj(2, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids)))
	name, _ := c.tg.person()
	info := next
	next++
	p.obj(info, fmt.Sprintf("<< /Title (%s) /Author (%s) /Producer (benchgen) /CreationDate (D:%s) >>",
		pdfText([]byte(c.tg.title())), name, c.date().Format("20060102150405Z")))
	xref := len(p.b)
	p.b = fmt.Appendf(p.b, "xref\n0 %d\n0000000000 65535 f \n", next)
	for i := 1; i < next; i++ {
		p.b = fmt.Appendf(p.b, "%010d 00000 n \n", p.offs[i])
	}
	p.b = fmt.Appendf(p.b, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", next, info, xref)
	return p.b
}
