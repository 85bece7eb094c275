package unpack

import (
	"fmt"
	"io"
	"slices"
)

// pdfMaxRow bounds a predictor row (Colors x BitsPerComponent x Columns):
// rows are buffered whole, twice (as far as data fills them).
const pdfMaxRow = 1 << 22

// pdfPredictorParams are the /DecodeParms entries of FlateDecode and
// LZWDecode that describe a predictor.
type pdfPredictorParams struct {
	predictor, colors, bpc, columns int
}

// pdfPredictor reads the predictor parameters of a filter's /DecodeParms
// dictionary (nil: none). ok is false when they are out of range, and the
// predictor cannot be undone.
func pdfPredictor(parms pdfDict) (pdfPredictorParams, bool) {
	p := pdfPredictorParams{
		predictor: int(min(max(pdfInt(parms["Predictor"], 1), -1), 1000)),
		colors:    int(min(max(pdfInt(parms["Colors"], 1), -1), 1000)),
		bpc:       int(min(max(pdfInt(parms["BitsPerComponent"], 8), -1), 1000)),
		columns:   int(min(max(pdfInt(parms["Columns"], 1), -1), pdfMaxRow*8)),
	}
	switch {
	case p.predictor == 1:
		return p, true
	case p.predictor != 2 && (p.predictor < 10 || p.predictor > 15):
		return p, false
	case p.colors < 1 || p.colors > 32 || p.columns < 1:
		return p, false
	case p.bpc != 1 && p.bpc != 2 && p.bpc != 4 && p.bpc != 8 && p.bpc != 16:
		return p, false
	}
	return p, p.rowBytes() <= pdfMaxRow
}

func (p pdfPredictorParams) rowBytes() int { return (p.colors*p.bpc*p.columns + 7) / 8 }

// pdfPredictReader undoes a predictor, one row at a time: PNG (10-15;
// each row starts with its filter type: None, Sub, Up, Average, Paeth) or
// TIFF 2 (horizontal differencing of components). A bad PNG filter type
// or a last row cut short ends the data with an ErrCorrupt error, after
// what could be undone.
type pdfPredictReader struct {
	r         io.Reader
	p         pdfPredictorParams
	png       bool
	bpp       int    // bytes per pixel, at least 1 (PNG)
	prev, cur []byte // the previous row and this one
	out       []byte // undone bytes of cur not yet returned
	err       error
}

func newPDFPredictReader(r io.Reader, p pdfPredictorParams) io.Reader {
	if p.predictor == 1 {
		return r
	}
	return &pdfPredictReader{r: r, p: p, png: p.predictor >= 10, bpp: max(1, p.colors*p.bpc/8)}
}

func (pr *pdfPredictReader) Read(b []byte) (int, error) {
	for len(pr.out) == 0 {
		if pr.err != nil {
			return 0, pr.err
		}
		pr.row()
	}
	n := copy(b, pr.out)
	pr.out = pr.out[n:]
	return n, nil
}

// row reads and undoes the next row into out, or sets err.
func (pr *pdfPredictReader) row() {
	var kind [1]byte
	if pr.png {
		if _, err := io.ReadFull(pr.r, kind[:]); err != nil {
			pr.err = io.EOF
			return
		}
		if kind[0] > 4 {
			pr.err = fmt.Errorf("%w: pdf: PNG predictor row with filter type %d", ErrCorrupt, kind[0])
			return
		}
	}
	pr.prev, pr.cur = pr.cur, pr.prev
	// The row buffer grows with the data read, not to the declared row
	// length at once: /Columns costs nothing until data fills the rows.
	want := pr.p.rowBytes()
	cur := pr.cur[:0]
	var err error
	for len(cur) < want && err == nil {
		chunk := min(want-len(cur), max(len(cur), 4096))
		cur = slices.Grow(cur, chunk)
		var k int
		k, err = io.ReadFull(pr.r, cur[len(cur):len(cur)+chunk])
		cur = cur[:len(cur)+k]
	}
	pr.cur = cur
	n := len(cur)
	if n == 0 && !pr.png {
		pr.err = io.EOF
		return
	}
	if pr.png {
		for len(pr.prev) < n { // the first row: the one above is zeros
			pr.prev = append(pr.prev, 0)
		}
		pngUnfilter(kind[0], cur, pr.prev, pr.bpp)
	} else {
		pr.tiffUndo(cur)
	}
	pr.out = cur
	if n < want {
		pr.err = fmt.Errorf("%w: pdf: predictor: last row has %d of %d bytes", ErrCorrupt, n, want)
	}
}

// pngUnfilter undoes one PNG-filtered row in place; prev is the row
// above, already undone.
func pngUnfilter(kind byte, cur, prev []byte, bpp int) {
	switch kind {
	case 1: // Sub
		for i := bpp; i < len(cur); i++ {
			cur[i] += cur[i-bpp]
		}
	case 2: // Up
		for i := range cur {
			cur[i] += prev[i]
		}
	case 3: // Average
		for i := range cur {
			var left int
			if i >= bpp {
				left = int(cur[i-bpp])
			}
			cur[i] += byte((left + int(prev[i])) / 2)
		}
	case 4: // Paeth
		for i := range cur {
			var a, c int
			if i >= bpp {
				a, c = int(cur[i-bpp]), int(prev[i-bpp])
			}
			cur[i] += paeth(a, int(prev[i]), c)
		}
	}
}

// paeth picks whichever of left, above and upper-left is nearest to
// left + above - upper-left (ties in that order).
func paeth(a, b, c int) byte {
	p := a + b - c
	pa, pb, pc := abs(p-a), abs(p-b), abs(p-c)
	switch {
	case pa <= pb && pa <= pc:
		return byte(a)
	case pb <= pc:
		return byte(b)
	}
	return byte(c)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// tiffUndo undoes TIFF predictor 2 in place: each component is the
// difference from the same component of the pixel to its left, modulo
// 2^BitsPerComponent.
func (pr *pdfPredictReader) tiffUndo(row []byte) {
	c, bpc := pr.p.colors, pr.p.bpc
	switch bpc {
	case 8:
		for i := c; i < len(row); i++ {
			row[i] += row[i-c]
		}
	case 16:
		for i := 2 * c; i+1 < len(row); i += 2 {
			v := uint16(row[i])<<8 | uint16(row[i+1])
			v += uint16(row[i-2*c])<<8 | uint16(row[i-2*c+1])
			row[i], row[i+1] = byte(v>>8), byte(v)
		}
	default: // 1, 2 or 4 bits, most significant first
		mask := byte(1<<bpc - 1)
		get := func(k int) byte {
			bit := k * bpc
			return row[bit/8] >> (8 - bpc - bit%8) & mask
		}
		samples := len(row) * 8 / bpc
		if full := pr.p.colors * pr.p.columns; samples > full {
			samples = full
		}
		for k := c; k < samples; k++ {
			v := (get(k) + get(k-c)) & mask
			bit := k * bpc
			sh := 8 - bpc - bit%8
			row[bit/8] = row[bit/8]&^(mask<<sh) | v<<sh
		}
	}
}
