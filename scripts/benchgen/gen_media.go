package main

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"math"
)

// Noise amplitudes and the bytes per pixel each gives after encoding,
// measured on this generator's images (PNG at BestSpeed, JPEG at quality
// 84; the quality varies from 75 to 92, so JPEG sizes vary around it).
type imageStyle struct {
	amp int
	bpp float64
}

var (
	pngStyles  = []imageStyle{{4, 1.38}, {16, 1.75}, {48, 2.32}, {255, 2.59}}
	jpegStyles = []imageStyle{{48, 0.30}, {96, 0.45}, {255, 0.70}}
)

// picture draws a gradient with a few bands and per-pixel noise of the
// given amplitude: smooth images compress well, noisy ones barely.
func picture(c *genCtx, pixels, amp int) *image.RGBA {
	aspect := pick(c.r, []float64{4.0 / 3, 3.0 / 2, 16.0 / 9, 1})
	w := max(8, int(math.Sqrt(float64(pixels)*aspect)))
	h := max(8, pixels/w)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	noise := c.r.bytes(w * h * 3)
	r0, g0, b0 := c.r.IntN(256), c.r.IntN(256), c.r.IntN(256)
	band := max(4, h/c.r.between(2, 12))
	ni := 0
	for y := range h {
		row := img.Pix[y*img.Stride:]
		shade := (y / band) * 37
		for x := range w {
			base := [3]int{
				r0 + x*255/w,
				g0 + y*255/h,
				b0 + shade + (x+y)*64/(w+h),
			}
			for ch := range 3 {
				v := base[ch]&255 + int(noise[ni])%(amp+1) - amp/2
				ni++
				row[x*4+ch] = uint8(min(max(v, 0), 255))
			}
			row[x*4+3] = 255
		}
	}
	return img
}

func genPNG(c *genCtx, size int, plants [][]byte) []byte {
	st := pick(c.r, pngStyles)
	img := picture(c, max(64, int(float64(size)/st.bpp)), st.amp)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		panic(err)
	}
	// Data after IEND is ignored by viewers: the classic place to hide a
	// payload in an image.
	return plantInto(c.r, buf.Bytes(), buf.Len(), plants, false)
}

func genJPEG(c *genCtx, size int, plants [][]byte) []byte {
	st := pick(c.r, jpegStyles)
	img := picture(c, max(64, int(float64(size)/st.bpp)), st.amp)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: c.r.between(75, 92)}); err != nil {
		panic(err)
	}
	return plantInto(c.r, buf.Bytes(), buf.Len(), plants, false)
}

// jpegDims reads width and height from a JPEG's SOF marker.
func jpegDims(b []byte) (w, h int) {
	for i := 2; i+9 < len(b); {
		if b[i] != 0xff {
			return 0, 0
		}
		m := b[i+1]
		l := int(b[i+2])<<8 | int(b[i+3])
		if m >= 0xc0 && m <= 0xc3 {
			return int(b[i+7])<<8 | int(b[i+8]), int(b[i+5])<<8 | int(b[i+6])
		}
		i += 2 + l
	}
	return 0, 0
}
