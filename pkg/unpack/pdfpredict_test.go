package unpack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"ave/pkg/verdict"
)

// pngPredict applies PNG predictors to data (whole rows of columns x
// colors bytes, 8 bits per component), row k with filter type
// types[k % len(types)].
func pngPredict(data []byte, colors, columns int, types []byte) []byte {
	n := colors * columns
	var out []byte
	prev := make([]byte, n)
	for k := 0; k*n < len(data); k++ {
		row := data[k*n : k*n+n]
		t := types[k%len(types)]
		out = append(out, t)
		for i, x := range row {
			var a, c int
			if i >= colors {
				a, c = int(row[i-colors]), int(prev[i-colors])
			}
			b := int(prev[i])
			switch t {
			case 1:
				x -= byte(a)
			case 2:
				x -= byte(b)
			case 3:
				x -= byte((a + b) / 2)
			case 4:
				x -= paeth(a, b, c)
			}
			out = append(out, x)
		}
		prev = row
	}
	return out
}

// tiffPredict applies TIFF predictor 2 (8 bits per component).
func tiffPredict(data []byte, colors, columns int) []byte {
	n := colors * columns
	out := append([]byte(nil), data...)
	for k := 0; k*n < len(data); k++ {
		row := out[k*n : k*n+n]
		for i := len(row) - 1; i >= colors; i-- {
			row[i] -= data[k*n+i-colors]
		}
	}
	return out
}

// predictorPayload is EICAR and a text marker, padded with blanks to
// whole rows of n bytes.
func predictorPayload(n int) []byte {
	p := append(append([]byte{}, eicar...), "\nPREDICTOR-TEST-MARKER predictor test marker 0123456789\n"...)
	for len(p)%n != 0 {
		p = append(p, ' ')
	}
	return p
}

// pdfWithEmbedded is a PDF whose embedded file "eicar.com" (object 6) is
// the given stream.
func pdfWithEmbedded(dict string, data []byte) []byte {
	objs := pdfPage(pdfStreamObj("", []byte("BT ET")))
	objs[0] = "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a) 5 0 R] >> >> >>"
	objs = append(objs,
		"<< /Type /Filespec /F (eicar.com) /UF (eicar.com) /EF << /F 6 0 R >> >>",
		pdfStreamObj("/Type /EmbeddedFile "+dict, data))
	return makePDF(objs...)
}

// walkCapture walks a document, keeping the data of the object at path.
func walkCapture(name string, doc []byte, path string) (verdict.Result, []byte) {
	var got []byte
	w := &Walker{Inspect: func(ctx context.Context, o *Object) ([]verdict.Detection, bool, error) {
		if o.Path == path {
			got = append([]byte(nil), o.Data...)
		}
		return inspectEICAR(ctx, o)
	}}
	return w.Walk(context.Background(), name, doc, "", false), got
}

func TestPDFPredictors(t *testing.T) {
	type tc struct {
		name, parms, filter string
		enc                 func(n int) ([]byte, []byte) // payload, predicted
		colors, columns     int
	}
	png := func(colors, columns int, types ...byte) func(int) ([]byte, []byte) {
		return func(n int) ([]byte, []byte) {
			p := predictorPayload(n)
			return p, pngPredict(p, colors, columns, types)
		}
	}
	var cases []tc
	for _, cols := range []int{4, 8, 13} {
		cases = append(cases,
			tc{"up", "/Predictor 12", "flate", png(1, cols, 2), 1, cols},
			tc{"paeth", "/Predictor 14", "flate", png(1, cols, 4), 1, cols},
			tc{"mixed rows", "/Predictor 15", "flate", png(1, cols, 0, 1, 2, 3, 4, 4, 3, 2, 1), 1, cols},
			tc{"mixed rows, 3 colours", "/Predictor 15 /Colors 3", "flate", png(3, cols, 4, 1, 3, 2, 0), 3, cols},
			tc{"mixed rows, lzw", "/Predictor 11", "lzw", png(1, cols, 1, 4, 3, 2), 1, cols},
			tc{"tiff", "/Predictor 2", "flate", func(n int) ([]byte, []byte) {
				p := predictorPayload(n)
				return p, tiffPredict(p, 1, cols)
			}, 1, cols},
			tc{"tiff, 3 colours", "/Predictor 2 /Colors 3 /BitsPerComponent 8", "flate", func(n int) ([]byte, []byte) {
				p := predictorPayload(n)
				return p, tiffPredict(p, 3, cols)
			}, 3, cols},
		)
	}
	dir := t.TempDir()
	for _, c := range cases {
		payload, predicted := c.enc(c.colors * c.columns)
		if bytes.Contains(predicted, eicar) {
			t.Fatalf("%s: predicting left EICAR as it was", c.name)
		}
		parms := fmt.Sprintf("<< %s /Columns %d >>", c.parms, c.columns)
		dict, data := "/Filter /FlateDecode /DecodeParms "+parms, zlibBytes(t, predicted)
		if c.filter == "lzw" {
			dict, data = "/Filter [/ASCIIHexDecode /LZWDecode] /DecodeParms [null "+parms+"]", []byte(fmt.Sprintf("%x>", pdfLZWEncode(predicted)))
		}
		doc := pdfWithEmbedded(dict, data)
		res, got := walkCapture("p.pdf", doc, "p.pdf/eicar.com")
		if !bytes.Equal(got, payload) {
			t.Errorf("%s, %d columns: decoded %q\nwant %q", c.name, c.columns, got, payload)
		}
		if res.Status != verdict.Infected || len(res.Detections) != 1 {
			t.Errorf("%s: %s", c.name, dump(res))
		}
		// qpdf undoes the predictor to the same bytes.
		name := fmt.Sprintf("%s-%d.pdf", strings.ReplaceAll(c.name, " ", "_"), c.columns)
		writeFile(t, filepath.Join(dir, name), doc)
		if out := runTool(t, dir, "qpdf", "--show-object=6", "--filtered-stream-data", name); !bytes.Equal(out, payload) {
			t.Errorf("%s: qpdf decodes %q", name, out)
		}
	}
}

// TestPDFPredictorMatchesQPDF: the cross-reference stream qpdf writes
// (Flate with PNG predictor Up, /Predictor 12) decodes to the bytes qpdf
// itself reads from it.
func TestPDFPredictorMatchesQPDF(t *testing.T) {
	dir := t.TempDir()
	objs := pdfPage(pdfStreamObj("", bytes.Repeat([]byte("BT /F1 12 Tf (x) Tj ET\n"), 300)))
	for i := 0; i < 300; i++ {
		objs = append(objs, fmt.Sprintf("<< /N %d /Padding (%s) >>", i, strings.Repeat("p", i)))
	}
	writeFile(t, filepath.Join(dir, "in.pdf"), makePDF(objs...))
	runTool(t, dir, "qpdf", "--object-streams=generate", "in.pdf", "xs.pdf")
	d := readFile(t, filepath.Join(dir, "xs.pdf"))
	doc := &pdfDoc{d: d, bodies: pdfObjects(d).bodies}
	found := 0
	for _, o := range pdfObjects(d).streams {
		if !o.typeIs("XRef") && !o.typeIs("ObjStm") {
			continue
		}
		if o.typeIs("XRef") && !bytes.Contains(o.dict, []byte("/Predictor 12")) {
			t.Fatalf("xref stream without predictor: %s", o.dict)
		}
		got, err := io.ReadAll(doc.reader(&o))
		if err != nil {
			t.Fatal(err)
		}
		want := runTool(t, dir, "qpdf", fmt.Sprintf("--show-object=%d", o.num), "--filtered-stream-data", "xs.pdf")
		if !bytes.Equal(got, want) {
			t.Errorf("object %d (%s): %d bytes decoded, qpdf %d", o.num, o.dict, len(got), len(want))
		}
		found++
	}
	if found < 2 {
		t.Fatalf("%d streams compared", found)
	}
}

func TestPDFPredictorErrors(t *testing.T) {
	payload := predictorPayload(8)
	good := pngPredict(payload, 1, 8, []byte{2})
	bad := append([]byte{}, good...)
	bad[9*5] = 7 // the sixth row's filter type
	for _, c := range []struct {
		name, dict string
		data       []byte
		want       []byte
		reason     string
	}{
		{"bad filter type", "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 8 >>", bad, payload[:40], "filter type 7"},
		{"short last row", "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 8 >>", good[:len(good)-3], payload[:len(payload)-3], "last row has 5 of 8 bytes"},
		{"huge row, little data", "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4000000 >>", append([]byte{0}, payload...), payload, fmt.Sprintf("last row has %d of 4000000 bytes", len(payload))},
		{"tiff short last row", "/Filter /FlateDecode /DecodeParms << /Predictor 2 /Columns 8 >>", tiffPredict(payload, 1, 8)[:len(payload)-3], payload[:len(payload)-3], "last row has 5 of 8 bytes"},
	} {
		res, got := walkCapture("e.pdf", pdfWithEmbedded(c.dict, zlibBytes(t, c.data)), "e.pdf/eicar.com")
		wantDetection(t, res, "e.pdf/eicar.com", verdict.Corrupted, c.reason)
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s: decoded %q, want %q", c.name, got, c.want)
		}
		if c.name != "bad filter type" {
			wantDetection(t, res, "e.pdf/eicar.com", verdict.Infected, "")
		}
	}
}

// TestPDFDecodeParms: parameters as an array aligned with the filters, by
// reference, and a predictor left undone when they cannot be read.
func TestPDFDecodeParms(t *testing.T) {
	payload := predictorPayload(5)
	predicted := zlibBytes(t, pngPredict(payload, 1, 5, []byte{4, 2}))
	hexed := []byte(fmt.Sprintf("%x>", predicted))
	for _, c := range []struct {
		name, dict string
		data       []byte
		undone     bool
	}{
		{"array", "/Filter [/AHx /Fl] /DecodeParms [null << /Predictor 12 /Columns 5 >>]", hexed, true},
		{"reference", "/Filter /FlateDecode /DecodeParms 8 0 R", predicted, true},
		{"references in the array", "/Filter [/AHx /Fl] /DP [null 8 0 R]", hexed, true},
		{"missing reference", "/Filter /FlateDecode /DecodeParms 99 0 R", predicted, false},
		{"bad bits", "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 5 /BitsPerComponent 3 >>", predicted, false},
		{"huge row", "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 99999999999 >>", predicted, false},
	} {
		objs := pdfPage(pdfStreamObj("", []byte("BT ET")))
		objs[0] = "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a) 5 0 R] >> >> >>"
		objs = append(objs,
			"<< /Type /Filespec /F (eicar.com) /EF << /F 6 0 R >> >>",
			pdfStreamObj("/Type /EmbeddedFile "+c.dict, c.data),
			"<< >>", "<< /Columns 5 /Predictor 12 >>")
		res, got := walkCapture("d.pdf", makePDF(objs...), "d.pdf/eicar.com")
		if !c.undone {
			if bytes.Equal(got, payload) || len(got) == 0 {
				t.Errorf("%s: predictor undone (%d bytes)", c.name, len(got))
			}
			continue
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("%s: decoded %q", c.name, got)
		}
		wantDetection(t, res, "d.pdf/eicar.com", verdict.Infected, "")
	}
}

// TestPDFPredictorBits: TIFF predictor 2 and PNG with components of 1, 2,
// 4 and 16 bits, against qpdf.
func TestPDFPredictorBits(t *testing.T) {
	if _, err := exec.LookPath("qpdf"); err != nil {
		t.Skip("qpdf not installed")
	}
	dir := t.TempDir()
	raw := []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?")
	for _, bpc := range []int{1, 2, 4, 16} {
		for _, pred := range []int{2, 11, 13, 14} {
			// The encoded bytes are arbitrary: both decoders must agree on them.
			parms := fmt.Sprintf("<< /Predictor %d /BitsPerComponent %d /Colors 2 /Columns 8 >>", pred, bpc)
			enc := raw
			if pred >= 10 {
				n := (2*bpc*8 + 7) / 8
				enc = nil
				for i := 0; i+n <= len(raw); i += n {
					enc = append(append(enc, byte(i/n%5)), raw[i:i+n]...)
				}
			} else {
				enc = raw[:len(raw)/(2*bpc)*(2*bpc)]
			}
			doc := pdfWithEmbedded("/Filter /FlateDecode /DecodeParms "+parms, zlibBytes(t, enc))
			_, got := walkCapture("b.pdf", doc, "b.pdf/eicar.com")
			name := fmt.Sprintf("b%d-%d.pdf", bpc, pred)
			writeFile(t, filepath.Join(dir, name), doc)
			cmd := exec.Command("qpdf", "--show-object=6", "--filtered-stream-data", name)
			cmd.Dir = dir
			want, err := cmd.Output()
			if err != nil {
				t.Logf("%s: qpdf does not decode it (%v)", name, err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: decoded %x\nqpdf    %x", name, got, want)
			}
		}
	}
}

// TestPDFDecodeParmsInObjectStream: qpdf --object-streams=generate moves
// the /DecodeParms dictionary (a separate object) into an object stream;
// the reference to it resolves there, the predictor is undone and the
// embedded file is found. A generated object stream does the same, with
// an entry list that is cut short or points past the data (ignored).
func TestPDFDecodeParmsInObjectStream(t *testing.T) {
	payload := predictorPayload(5)
	predicted := zlibBytes(t, pngPredict(payload, 1, 5, []byte{4, 2}))
	objs := pdfPage(pdfStreamObj("", []byte("BT ET")))
	objs[0] = "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a) 5 0 R] >> >> >>"
	objs = append(objs,
		"<< /Type /Filespec /F (eicar.com) /EF << /F 6 0 R >> >>",
		pdfStreamObj("/Type /EmbeddedFile /Filter /FlateDecode /DecodeParms 7 0 R", predicted),
		"<< /Columns 5 /Predictor 12 >>")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.pdf"), makePDF(objs...))
	runTool(t, dir, "qpdf", "--object-streams=generate", "in.pdf", "os.pdf")
	doc, err := os.ReadFile(filepath.Join(dir, "os.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	// The case is there: the parameters are referenced, and no top-level
	// object of that number exists.
	m := regexp.MustCompile(`/DecodeParms (\d+) 0 R`).FindSubmatch(doc)
	if m == nil || !bytes.Contains(doc, []byte("/ObjStm")) {
		t.Fatalf("qpdf output lacks a referenced /DecodeParms or an object stream:\n%q", doc)
	}
	if regexp.MustCompile(`(?m)^` + string(m[1]) + ` 0 obj`).Match(doc) {
		t.Fatalf("object %s is not inside an object stream", m[1])
	}
	res, got := walkCapture("os.pdf", doc, "os.pdf/eicar.com")
	if !bytes.Equal(got, payload) {
		t.Fatalf("decoded %q\nwant %q", got, payload)
	}
	wantDetection(t, res, "os.pdf/eicar.com", verdict.Infected, "")

	// Generated: the parameters are object 20 in object stream 7, after
	// an entry for object 19; then entry lists that are cut or wrong.
	objstm := func(header, objects string) string {
		data := header + objects
		return pdfStreamObj(fmt.Sprintf("/Type /ObjStm /N 3 /First %d /Filter /FlateDecode", len(header)), zlibBytes(t, []byte(data)))
	}
	objects := "<< /A 1 >> << /Columns 5 /Predictor 12 >> [1 2 3]"
	for _, c := range []struct {
		name, header string
		undone       bool
	}{
		{"three entries", "19 0 20 11 21 42 ", true},
		{"list cut after the entry", "19 0 20 11 ", true},
		{"offset past the data", "19 0 20 9999 21 42 ", false},
		{"not numbers", "19 0 20 x ", false},
	} {
		g := append(append([]string{}, objs[:5]...),
			pdfStreamObj("/Type /EmbeddedFile /Filter /FlateDecode /DecodeParms 20 0 R", predicted),
			objstm(c.header, objects))
		_, got := walkCapture("g.pdf", makePDF(g...), "g.pdf/eicar.com")
		if c.undone != bytes.Equal(got, payload) {
			t.Errorf("%s: predictor undone %v, want %v (%d bytes)", c.name, bytes.Equal(got, payload), c.undone, len(got))
		}
	}
}
