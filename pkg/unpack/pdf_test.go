package unpack

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"context"
	"encoding/ascii85"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"ave/pkg/verdict"
)

// makePDF writes a PDF with the given objects (numbered from 1; object 1
// must be the catalog) and a correct cross-reference table, so that real
// tools (qpdf) accept it.
func makePDF(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
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
	return b.Bytes()
}

func pdfStreamObj(dict string, data []byte) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

func zlibBytes(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// pdfLZWEncode encodes like a PDF writer with early change. The encoder
// runs one table entry ahead of the decoder, so growing the width once its
// next code reaches 2^width is one code early for the decoder.
func pdfLZWEncode(data []byte) []byte {
	var out []byte
	var acc uint32
	var nbits uint
	width := uint(9)
	put := func(c int) {
		acc = acc<<width | uint32(c)
		nbits += width
		for nbits >= 8 {
			nbits -= 8
			out = append(out, byte(acc>>nbits))
		}
	}
	dict := map[string]int{}
	next := 258
	put(256)
	w := ""
	for _, c := range data {
		wc := w + string([]byte{c})
		if _, ok := dict[wc]; ok || len(wc) == 1 {
			w = wc
			continue
		}
		if len(w) == 1 {
			put(int(w[0]))
		} else {
			put(dict[w])
		}
		if next < 4096 {
			dict[wc] = next
			next++
			if next >= 1<<width && width < 12 {
				width++
			}
		}
		w = string([]byte{c})
	}
	if w != "" {
		if len(w) == 1 {
			put(int(w[0]))
		} else {
			put(dict[w])
		}
	}
	put(257)
	if nbits > 0 {
		out = append(out, byte(acc<<(8-nbits)))
	}
	return out
}

func pdfPage(content string) []string {
	return []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
		content,
	}
}

func TestPDFFiltersDecode(t *testing.T) {
	payload := append(append([]byte("BT /F1 12 Tf (hello) Tj ET\n"), eicar...), bytes.Repeat([]byte("abcabcab"), 500)...)
	var lzwGo bytes.Buffer
	lw := lzw.NewWriter(&lzwGo, lzw.MSB, 8)
	lw.Write(payload)
	lw.Close()
	hexed := hex.EncodeToString(zlibBytes(t, payload))
	a85 := make([]byte, ascii85.MaxEncodedLen(len(payload)))
	a85 = a85[:ascii85.Encode(a85, payload)]
	var rl []byte
	for i := 0; i < len(payload); i += 100 {
		chunk := payload[i:min(i+100, len(payload))]
		rl = append(append(rl, byte(len(chunk)-1)), chunk...)
	}
	rl = append(rl, 0xff-20, 'Z', 128) // 22 repeats of Z, then end
	for _, tc := range []struct {
		name, dict string
		data       []byte
	}{
		{"flate", "/Filter /FlateDecode", zlibBytes(t, payload)},
		{"flate raw deflate, abbreviated", "/Filter /Fl", zlibBytes(t, payload)[2:]},
		{"flate truncated", "/Filter /FlateDecode", zlibBytes(t, payload)[:len(zlibBytes(t, payload))-20]},
		{"hex then flate", "/Filter [/ASCIIHexDecode /FlateDecode]", []byte(strings.ToUpper(hexed[:100]) + "\n " + hexed[100:] + ">")},
		{"ascii85", "/Filter /ASCII85Decode", append(a85, "~>"...)},
		{"runlength", "/Filter /RunLengthDecode", rl},
		{"lzw early change", "/Filter /LZWDecode", pdfLZWEncode(payload)},
		{"lzw without early change", "/Filter /LZWDecode /DecodeParms << /EarlyChange 0 >>", lzwGo.Bytes()},
		{"escaped filter name", "/Filter /Flat#65Decode", zlibBytes(t, payload)},
	} {
		doc := makePDF(pdfPage(pdfStreamObj(tc.dict, tc.data))...)
		var got []byte
		w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
			if o.Name == "obj4" {
				got = append([]byte(nil), o.Data...)
			}
			return inspectEICAR(ctx, o)
		}}
		res := w.Walk(context.Background(), "a.pdf", doc, "", false)
		wantDetection(t, res, "a.pdf/obj4", verdict.Infected, "")
		if tc.name == "flate truncated" {
			continue
		}
		want := payload
		if tc.name == "runlength" {
			want = append(append([]byte{}, payload...), bytes.Repeat([]byte("Z"), 22)...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: decoded %d bytes, want %d", tc.name, len(got), len(want))
		}
	}
}

func TestPDFEmbeddedFileAndFeatures(t *testing.T) {
	objs := pdfPage(pdfStreamObj("", []byte("BT ET")))
	objs[0] = "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a) 5 0 R] >> >> /OpenAction 7 0 R >>"
	objs = append(objs,
		"<< /Type /Filespec /F (old.txt) /UF (invoice.exe) /EF << /F 6 0 R >> >>",
		pdfStreamObj("/Type /EmbeddedFile /Filter /FlateDecode", zlibBytes(t, eicar)),
		"<< /S /J#61vaScript /JS (app.alert\\(1\\)) >>")
	doc := makePDF(objs...)
	var features string
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Name == PDFFeaturesName {
			features = string(o.Data)
		}
		return inspectEICAR(ctx, o)
	}}
	res := w.Walk(context.Background(), "e.pdf", doc, "", false)
	wantDetection(t, res, "e.pdf/invoice.exe", verdict.Infected, "")
	if features != "JavaScript\nJS\nOpenAction\nEmbeddedFile\n" {
		t.Errorf("pdf-features %q", features)
	}
}

func TestPDFMadeByQPDF(t *testing.T) {
	objs := pdfPage(pdfStreamObj("", append([]byte("BT ET % "), eicar...)))
	objs[0] = "<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (this.print\\(\\)) >> >>"
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.pdf"), makePDF(objs...))
	runTool(t, dir, "qpdf", "--compress-streams=y", "--object-streams=generate", "in.pdf", "packed.pdf")
	runTool(t, dir, "qpdf", "--encrypt", "user", "owner", "256", "--", "in.pdf", "enc.pdf")
	packed := readFile(t, filepath.Join(dir, "packed.pdf"))
	if bytes.Contains(packed, eicar) || bytes.Contains(packed, []byte("/JavaScript")) {
		t.Fatal("qpdf left the payload or the action in the clear")
	}
	var features string
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Name == PDFFeaturesName {
			features = string(o.Data)
		}
		return inspectEICAR(ctx, o)
	}}
	res := w.Walk(context.Background(), "packed.pdf", packed, "", false)
	if res.Status != verdict.Infected {
		t.Fatalf("packed: %s", dump(res))
	}
	if !strings.Contains(features, "JavaScript\nJS\nOpenAction\n") {
		t.Errorf("features in object streams not found: %q", features)
	}

	res = walk("enc.pdf", readFile(t, filepath.Join(dir, "enc.pdf")), Limits{})
	wantNoDetection(t, res, verdict.Infected)
	if res.Status != verdict.Protected {
		t.Fatalf("encrypted: %s", dump(res))
	}
}

func TestPDFTruncatedIsCorruptedAndScanned(t *testing.T) {
	payload := append(append([]byte{}, eicar...), randomBytes(t, 3000)...)
	doc := makePDF(pdfPage(pdfStreamObj("/Filter /ASCIIHexDecode", []byte(hex.EncodeToString(payload))))...)
	cut := doc[:bytes.Index(doc, []byte("stream\n"))+1000]
	res := walk("t.pdf", cut, Limits{})
	wantDetection(t, res, "t.pdf/obj4", verdict.Infected, "")
	wantDetection(t, res, "t.pdf/obj4", verdict.Corrupted, "endstream")
	wantDetection(t, res, "t.pdf", verdict.Corrupted, "truncated")
}

func TestPDFLZWBombIsLimited(t *testing.T) {
	payload := make([]byte, 2<<20)
	doc := makePDF(pdfPage(pdfStreamObj("/Filter /LZWDecode", pdfLZWEncode(payload)))...)
	res := walk("b.pdf", doc, Limits{MaxRatio: 20, RatioFloor: 256 << 10})
	wantDetection(t, res, "b.pdf/obj4", verdict.Unchecked, "compression ratio")
}

func TestPDFCleanIsClean(t *testing.T) {
	res := walk("c.pdf", makePDF(pdfPage(pdfStreamObj("/Filter /FlateDecode", zlibBytes(t, []byte("BT ET"))))...), Limits{})
	if res.Status != verdict.Clean || res.Objects != 2 {
		t.Fatalf("want 2 clean objects:\n%s", dump(res))
	}
}

func TestPDFDecodersEndOnGarbage(t *testing.T) {
	for _, f := range []string{"FlateDecode", "ASCIIHexDecode", "ASCII85Decode", "RunLengthDecode", "LZWDecode"} {
		o := &pdfObject{dict: []byte("/Filter /" + f), start: 0}
		d := randomBytes(t, 5000)
		o.end = len(d)
		if _, err := io.Copy(io.Discard, io.LimitReader((&pdfDoc{d: d}).reader(o), 10<<20)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func FuzzWalkPDF(f *testing.F) {
	objs := pdfPage(pdfStreamObj("/Filter [/ASCIIHexDecode /FlateDecode]", []byte(hex.EncodeToString(zlibBytes(f, []byte("harmless")))+">")))
	objs[0] = "<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (1) >> >>"
	f.Add(makePDF(objs...))
	f.Add(makePDF(pdfPage(pdfStreamObj("/Filter /LZWDecode", pdfLZWEncode([]byte("harmless harmless harmless"))))...))
	f.Add(makePDF(pdfPage(pdfStreamObj("/Filter [/A85 /RL]", []byte("<~!!!~>")))...))
	f.Add([]byte("%PDF-1.7\n1 0 obj << /Length 9 0 R >> stream\nabc"))
	marker := predictorPayload(4)
	f.Add(pdfWithEmbedded("/Filter /FlateDecode /DecodeParms << /Predictor 2 /Colors 2 /Columns 2 >>", zlibBytes(f, tiffPredict(marker, 2, 2))))
	f.Add(pdfWithEmbedded("/Filter [/AHx /Fl] /DP [null 7 0 R]", []byte(hex.EncodeToString(zlibBytes(f, pngPredict(marker, 1, 4, []byte{4, 3, 2, 1})))+">")))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalkWatched(t, "f.pdf", data)
	})
}

// pdfObjRefRe is the regular expression pdfObjHeaders implements.
var pdfObjRefRe = regexp.MustCompile(`(\d{1,10})[ \t\r\n\f\x00]+(\d{1,5})[ \t\r\n\f\x00]+obj`)

func checkPDFObjHeaders(t *testing.T, d []byte) {
	t.Helper()
	want := pdfObjRefRe.FindAllSubmatchIndex(d, -1)
	got := pdfObjHeaders(d)
	if len(got) != len(want) {
		t.Fatalf("%q: %d object headers, the regexp finds %d: %v / %v", d, len(got), len(want), got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.start != w[0] || g.end != w[1] || g.num != w[2] || g.numEnd != w[3] {
			t.Fatalf("%q: header %d at %+v, the regexp says %v", d, i, g, w)
		}
	}
}

func TestPDFObjHeadersMatchReference(t *testing.T) {
	for _, c := range []string{"", "obj", "1 0 obj", "1 0obj", "10 obj", "1  0 \r\nobj", "\x001\x000\x00obj",
		"12345678901 0 obj", "1 123456 obj", "1 12345 obj", "x1 0 objobj 2 0 obj", "1 0 obj2 0 obj", "1 0 0 obj",
		"a 1 0 obj", "1 0 obj 1 0 obj"} {
		checkPDFObjHeaders(t, []byte(c))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"obj", "ob", "j", " ", "\n", "\x00", "\t", "0", "1", "12", "123456", "12345678901", "R", "<<", "stream", "x"}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(30); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		checkPDFObjHeaders(t, []byte(b.String()))
	}
}

func FuzzPDFObjHeaders(f *testing.F) {
	f.Add([]byte("1 0 obj << /Length 3 >> stream\nabc\nendstream endobj 12345678901 2 obj"))
	f.Fuzz(func(t *testing.T, d []byte) {
		checkPDFObjHeaders(t, d)
	})
}

// TestPDFStreamsWithoutLength: streams whose /Length is missing end at the
// next "endstream", which one search finds for all of them.
func TestPDFStreamsWithoutLength(t *testing.T) {
	d := []byte("%PDF-1.4\n1 0 obj\n<< >>\nstream\nAAA\n2 0 obj << >> stream\r\nBBB\r\nendstream\nendobj\n" +
		"3 0 obj << >> stream\nCCC\nendstream endobj\n4 0 obj << >> stream\nDDD")
	objs := pdfObjects(d)
	var got []string
	for _, o := range objs.streams {
		got = append(got, fmt.Sprintf("%d:%q:%v", o.num, d[o.start:o.end], o.truncated))
	}
	want := []string{
		`1:"AAA\n2 0 obj << >> stream\r\nBBB":false`,
		`2:"BBB":false`,
		`3:"CCC":false`,
		`4:"DDD":true`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("streams %q, want %q", got, want)
	}
}

// TestPDFImagesNotRescanned: an image XObject whose filters are all image
// codecs is not yielded (its bytes are the document's, scanned whole);
// one behind a filter undone here, an embedded file, and any image in an
// encrypted document are.
func TestPDFImagesNotRescanned(t *testing.T) {
	jpeg := append([]byte("\xff\xd8\xff\xe0JFIF image "), eicar...)
	objs := pdfPage(pdfStreamObj("", []byte("BT ET")))
	objs = append(objs,
		pdfStreamObj("/Type /XObject /Subtype /Image /Width 1 /Height 1 /Filter /DCTDecode", jpeg),
		pdfStreamObj("/Type /XObject /Subtype /Image /Width 1 /Height 1 /Filter [/JBIG2Decode]", jpeg),
		pdfStreamObj("/Subtype/Image/Filter[/FlateDecode /DCTDecode]", zlibBytes(t, jpeg)),
		pdfStreamObj("/Type /EmbeddedFile /Filter /DCTDecode", jpeg),
		pdfStreamObj("/Type /XObject /Subtype /Form /Filter /JPXDecode", jpeg))
	res := walk("i.pdf", makePDF(objs...), Limits{})
	var got []string
	for _, d := range res.Detections {
		got = append(got, d.Path)
	}
	// The document itself holds EICAR; obj5 and obj6 are not yielded.
	if want := []string{"i.pdf", "i.pdf/obj7", "i.pdf/obj8", "i.pdf/obj9"}; !slices.Equal(got, want) {
		t.Fatalf("detections %q, want %q\n%s", got, want, dump(res))
	}
	if res.Objects != 6 { // the document, obj4, obj7, obj8, obj9, pdf-features
		t.Fatalf("%d objects:\n%s", res.Objects, dump(res))
	}
}
