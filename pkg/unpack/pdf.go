package unpack

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"ave/pkg/filetype"
)

func init() {
	Register(Format{Name: "pdf", Types: []filetype.Type{filetype.PDF}, Walk: walkPDF})
}

// PDFStringsName is the name of the synthetic member that holds strings
// of a PDF's objects decoded, one per line: a /JS script, a /URI, a title.
// In an encrypted PDF (opened with the empty user password) every string,
// decrypted; otherwise the strings whose bytes in the file differ from
// their value: hexadecimal <...> strings and literal strings with
// backslash escapes (a script written as hex or octal escapes is read in
// clear here; plain strings are in the file as they are).
const PDFStringsName = "pdf-strings"

// pdfStringsBudget bounds the bytes of pdf-strings.
const pdfStringsBudget = 16 << 20

// PDFFeaturesName is the name of the synthetic member that lists the
// active-content keywords found in a PDF, one per line, in the order of
// pdfFeatureNames ("JavaScript\nOpenAction\n"). Rules match it with
// `filename == "pdf-features"` and a string such as "JavaScript\n".
const PDFFeaturesName = "pdf-features"

// pdfFeatureNames are the PDF names reported in pdf-features: scripts,
// automatic actions, launching programs, embedded files and forms.
var pdfFeatureNames = []string{
	"JavaScript", "JS", "OpenAction", "AA", "Launch", "EmbeddedFile",
	"RichMedia", "XFA", "AcroForm", "SubmitForm", "ImportData", "GoToE", "GoToR", "URI", "Encrypt", "ObjStm",
}

// walkPDF is a lenient scanner, not a PDF parser: it finds every "N G obj"
// and the stream that follows its dictionary, whatever the cross-reference
// table says (broken and hostile files are the point). Each stream is
// yielded decoded, as "objN" (N the object number); an embedded file
// (/Type /EmbeddedFile) is yielded under the name its file specification
// gives (/UF or /F) when that can be found nearby, else "objN".
//
// Filters: FlateDecode (with or without the zlib header; a missing
// checksum or a truncated stream yields what was decoded), ASCIIHexDecode,
// ASCII85Decode, LZWDecode (PDF's early-change variant), RunLengthDecode,
// and chains of them. After FlateDecode and LZWDecode, the PNG (10-15)
// and TIFF (2) predictors of /DecodeParms are undone (a dictionary or an
// array aligned with /Filter, directly or by reference, also to an object
// inside an object stream; parameters that cannot be read leave the
// predictor undone). A stream with another
// filter is yielded as decoded as far as the supported filters go, except
// an image XObject whose filters are all image codecs (DCT, JPX, CCITT,
// JBIG2): its bytes are the document's own, scanned already.
//
// The stream length is /Length when it is a number (or a reference to an
// object holding one) and "endstream" follows it; otherwise the stream ends
// at the next "endstream". An encrypted document (/Encrypt) is opened
// with the empty user password when the Standard security handler takes
// it (revisions 2-6: RC4, AES-128, AES-256; see pdfcrypt.go): its streams
// are decrypted before their filters, and the file names of embedded
// files decrypted. Otherwise its streams are reported PROTECTED with the
// reason, cross-reference streams excepted.
//
// The strings of the objects are yielded together as "pdf-strings"
// (PDFStringsName): all of them decrypted in an encrypted document opened
// so, those written as hex or with escapes otherwise.
//
// Finally, when any of pdfFeatureNames occurs as a name (in the file or
// in its object streams; #xx escapes decoded), a member named
// "pdf-features" lists them, one per line.
func walkPDF(ctx context.Context, c *Container, yield func(Member) error) error {
	d := c.Data
	objs := pdfObjects(d)
	features := map[string]bool{}
	pdfNames(d, features)
	doc := &pdfDoc{d: d, bodies: objs.bodies}
	var cryptErr error
	if features["Encrypt"] {
		doc.crypt, cryptErr = pdfEncryption(d, objs)
	}
	var decryptString func(s []byte, at int) []byte
	if doc.crypt != nil {
		decryptString = func(s []byte, at int) []byte {
			num, gen := objs.objectAt(d, at)
			return doc.crypt.decryptString(s, num, gen)
		}
	}
	names := pdfEmbeddedNames(d, decryptString)

	// Object streams hide dictionaries (JavaScript actions among them):
	// their decoded text is searched for features and file names too,
	// within a budget (it is metadata, not content).
	budget := int64(16 << 20)
	for i := range objs.streams {
		o := &objs.streams[i]
		if cryptErr != nil || budget <= 0 || !o.typeIs("ObjStm") {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(doc.reader(o), budget))
		budget -= int64(len(b))
		pdfObjStmBodies(o.dict, b, doc.bodies)
		pdfNames(b, features)
		for k, v := range pdfEmbeddedNames(b, nil) {
			names[k] = v
		}
	}

	for i := range objs.streams {
		o := &objs.streams[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		name := "obj" + strconv.Itoa(o.num)
		if o.typeIs("EmbeddedFile") {
			if n := names[o.num]; n != "" {
				name = n
			}
		}
		m := Member{Name: name, Size: -1, Packed: int64(o.end - o.start)}
		switch {
		case cryptErr != nil && !o.typeIs("XRef"):
			m.Open = func() (io.Reader, error) { return nil, cryptErr }
		case doc.crypt == nil && doc.rawImage(o):
			// Its bytes are those of the document, scanned already.
			continue
		default:
			m.Open = func() (io.Reader, error) { return doc.reader(o), nil }
		}
		if err := yield(m); err != nil {
			return err
		}
	}
	if cryptErr == nil {
		if b := pdfStrings(d, objs, doc.crypt, pdfStringsBudget); len(b) > 0 {
			if err := yield(Member{Name: PDFStringsName, Size: int64(len(b)), Packed: -1, Data: b}); err != nil {
				return err
			}
		}
	}
	var list strings.Builder
	for _, f := range pdfFeatureNames {
		if features[f] {
			list.WriteString(f + "\n")
		}
	}
	if list.Len() > 0 {
		b := []byte(list.String())
		if err := yield(Member{Name: PDFFeaturesName, Size: int64(len(b)), Packed: -1, Data: b}); err != nil {
			return err
		}
	}
	// A file that merely starts with "%PDF-" and holds no object is left
	// as it is: it has been scanned whole.
	if len(objs.locs) > 0 && !bytes.Contains(d, []byte("%%EOF")) {
		return fmt.Errorf("%w: no %%%%EOF marker (truncated)", ErrCorrupt)
	}
	return nil
}

// pdfStrings returns strings of the objects of a document, outside stream
// data, one per line, up to budget bytes (see PDFStringsName): with c (an
// encrypted document) all of them, each decrypted with its object's key;
// without, those written as hex or with escapes. (Strings in object
// streams are in the decoded object stream, yielded as it is.)
func pdfStrings(d []byte, objs pdfObjList, c *pdfCrypt, budget int) []byte {
	var out []byte
	for i, l := range objs.locs {
		end := len(d)
		if i+1 < len(objs.locs) {
			end = objs.locs[i+1].start
		}
		body := d[l.end:end]
		if e := bytes.Index(body, []byte("endobj")); e >= 0 {
			body = body[:e]
		}
		if s := bytes.Index(body, []byte("stream")); s >= 0 {
			body = body[:s]
		}
		if c != nil && (pdfStandardRe.Match(body) || pdfXRefRe.Match(body)) {
			continue // the /Encrypt dictionary and /ID are not encrypted
		}
		num, gen := l.ids(d)
		for k := 0; k < len(body); k++ {
			i := bytes.IndexAny(body[k:], "(<")
			if i < 0 {
				break
			}
			k += i
			start := k
			p := pdfParser{b: body, pos: k + 1}
			var v any
			var ok bool
			if body[k] == '(' {
				v, ok = p.literalString()
			} else if k+1 < len(body) && body[k+1] == '<' {
				k++ // a dictionary
				continue
			} else {
				v, ok = p.hexString()
			}
			if !ok {
				continue
			}
			k = p.pos - 1
			str := []byte(v.(pdfString))
			if c != nil {
				str = c.decryptString(str, num, gen)
			} else if body[start] == '(' && bytes.Equal(str, body[start+1:k]) {
				continue // written as it is: scanned with the file
			}
			if len(str) == 0 {
				continue
			}
			if len(out)+len(str)+1 > budget {
				return out
			}
			out = append(append(out, str...), '\n')
		}
	}
	return out
}

var (
	pdfStandardRe = regexp.MustCompile(`/Filter[ \t\r\n\f\x00]*/Standard\b`)
	pdfXRefRe     = regexp.MustCompile(`/Type[ \t\r\n\f\x00]*/XRef\b`)
)

// pdfObjStmBodies adds the objects of a decoded object stream (dict its
// dictionary, b its data: /N pairs "number offset", then the objects from
// /First on, offsets counted from there) to bodies, so that references
// to them resolve (a stream's /DecodeParms may be one). An object found
// outside object streams, or in an earlier one, keeps its first body.
// Pairs that cannot be read end the list; bad offsets are skipped.
func pdfObjStmBodies(dict, b []byte, bodies map[int][]byte) {
	dd, ok := pdfParseDict(dict)
	if !ok {
		return
	}
	n, first := pdfInt(dd["N"], -1), pdfInt(dd["First"], -1)
	if n <= 0 || first < 0 || first > int64(len(b)) {
		return
	}
	type entry struct{ num, off int }
	var list []entry
	p := &pdfParser{b: b[:first]}
	for int64(len(list)) < n {
		p.skip()
		num, ok1 := p.number()
		p.skip()
		off, ok2 := p.number()
		nv, isInt1 := num.(int64)
		ov, isInt2 := off.(int64)
		if !ok1 || !ok2 || !isInt1 || !isInt2 || nv < 0 || ov < 0 || ov > int64(len(b))-first || nv > 1<<31 {
			break
		}
		list = append(list, entry{int(nv), int(ov)})
	}
	for i, e := range list {
		end := len(b) - int(first)
		if i+1 < len(list) && list[i+1].off >= e.off {
			end = list[i+1].off
		}
		if _, seen := bodies[e.num]; seen || end < e.off {
			continue
		}
		bodies[e.num] = b[int(first)+e.off : int(first)+end]
	}
}

// pdfDoc is what decoding a stream needs besides its own bytes: the
// object bodies (for indirect /DecodeParms) and the decryption, if any.
type pdfDoc struct {
	d      []byte
	bodies map[int][]byte
	crypt  *pdfCrypt
}

// pdfObject is one stream object: its number, dictionary and data range.
type pdfObject struct {
	num, gen   int
	dict       []byte
	start, end int
	truncated  bool
}

var (
	pdfLengthRe   = regexp.MustCompile(`/Length[ \t\r\n\f\x00]+(\d{1,12})(?:[ \t\r\n\f\x00]+(\d{1,5})[ \t\r\n\f\x00]+R)?`)
	pdfFilterRe   = regexp.MustCompile(`/Filter[ \t\r\n\f\x00]*(\[[^\]]{0,1000}\]|/[^ \t\r\n\f\x00/\[\]<>()%]+)`)
	pdfNameRe     = regexp.MustCompile(`/([^ \t\r\n\f\x00/\[\]<>()%]+)`)
	pdfTypeRe     = regexp.MustCompile(`/Type[ \t\r\n\f\x00]*/([A-Za-z]+)`)
	pdfEarlyRe    = regexp.MustCompile(`/EarlyChange[ \t\r\n\f\x00]+0`)
	pdfIntRe      = regexp.MustCompile(`^[ \t\r\n\f\x00]*(\d{1,12})`)
	pdfEFRe       = regexp.MustCompile(`/EF[ \t\r\n\f\x00]*<<[^>]{0,256}?/(?:UF|F)[ \t\r\n\f\x00]+(\d{1,10})[ \t\r\n\f\x00]+\d{1,5}[ \t\r\n\f\x00]+R`)
	pdfFileNameRe = regexp.MustCompile(`/(UF|F)[ \t\r\n\f\x00]*(\((?:[^()\\]|\\.){1,512}\)|<[0-9A-Fa-f \t\r\n]{1,1000}>)`)
	endstream     = []byte("endstream")
)

func (o *pdfObject) typeIs(t string) bool {
	m := pdfTypeRe.FindSubmatch(o.dict)
	return m != nil && string(m[1]) == t
}

// pdfObjLoc is where one "N G obj" header is: from start to end (just past
// "obj"), its object number from num to numEnd.
type pdfObjLoc struct{ start, end, num, numEnd int }

// pdfObjHeaders finds every object header, as the regular expression
//
//	(\d{1,10})[ \t\r\n\f\x00]+(\d{1,5})[ \t\r\n\f\x00]+obj
//
// matches them (leftmost, not overlapping), in one pass: each "obj" found
// by a byte search is checked backwards. The bytes before an "obj" that
// such a match covers are digits and blanks only, so they never reach back
// into the previous match, which ends with "obj".
func pdfObjHeaders(d []byte) []pdfObjLoc {
	var out []pdfObjLoc
	for pos := 0; ; {
		i := bytes.Index(d[pos:], []byte("obj"))
		if i < 0 {
			return out
		}
		k := pos + i
		pos = k + 3
		j := k
		for j > 0 && pdfBlank(d[j-1]) {
			j--
		}
		genEnd := j
		if genEnd == k {
			continue
		}
		for j > 0 && j > genEnd-6 && isDigit(d[j-1]) {
			j--
		}
		if g := genEnd - j; g == 0 || g > 5 || j == 0 || !pdfBlank(d[j-1]) {
			continue
		}
		for j > 0 && pdfBlank(d[j-1]) {
			j--
		}
		numEnd := j
		for j > 0 && j > numEnd-10 && isDigit(d[j-1]) {
			j--
		}
		if j == numEnd {
			continue
		}
		out = append(out, pdfObjLoc{start: j, end: k + 3, num: j, numEnd: numEnd})
	}
}

func pdfBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// pdfObjList is what pdfObjects finds: the stream objects, and every
// object header (with or without a stream).
type pdfObjList struct {
	streams []pdfObject
	locs    []pdfObjLoc
	bodies  map[int][]byte // object number -> bytes after "N G obj"
}

// ids reads an object header's object and generation numbers.
func (l pdfObjLoc) ids(d []byte) (num, gen int) {
	num, _ = strconv.Atoi(string(d[l.num:l.numEnd]))
	gen, _ = strconv.Atoi(string(bytes.Trim(d[l.numEnd:l.end-3], " \t\r\n\f\x00")))
	return num, gen
}

// objectAt is the object and generation numbers of the object whose body
// holds offset at (0, 0 before the first).
func (l pdfObjList) objectAt(d []byte, at int) (num, gen int) {
	i := sort.Search(len(l.locs), func(i int) bool { return l.locs[i].start > at })
	if i == 0 {
		return 0, 0
	}
	return l.locs[i-1].ids(d)
}

// pdfObjects finds the stream objects of a document.
func pdfObjects(d []byte) pdfObjList {
	locs := pdfObjHeaders(d)
	bodies := map[int][]byte{} // object number -> body, to resolve /Length refs
	for i, l := range locs {
		end := len(d)
		if i+1 < len(locs) {
			end = locs[i+1].start
		}
		if num, err := strconv.Atoi(string(d[l.num:l.numEnd])); err == nil {
			bodies[num] = d[l.end:end]
		}
	}
	// The next "endstream" at or after some offset, remembered: streams
	// without a usable /Length are searched forward from their start, and
	// starts only grow, so one search serves every stream before the
	// "endstream" it found (and a failed search, every later stream).
	endAt, endFrom := -1, -1
	nextEndstream := func(start int) int {
		if endFrom < 0 || endFrom > start || (endAt >= 0 && endAt < start) {
			endFrom, endAt = start, -1
			if e := bytes.Index(d[start:], endstream); e >= 0 {
				endAt = start + e
			}
		}
		return endAt
	}
	var out []pdfObject
	for i, l := range locs {
		num, gen := l.ids(d)
		bodyEnd := len(d)
		if i+1 < len(locs) {
			bodyEnd = locs[i+1].start
		}
		body := d[l.end:bodyEnd]
		s := bytes.Index(body, []byte("stream"))
		if s < 0 {
			continue
		}
		if e := bytes.Index(body, []byte("endobj")); e >= 0 && e < s {
			continue // an object without a stream
		}
		dict := body[:s]
		start := l.end + s + len("stream")
		switch {
		case bytes.HasPrefix(d[start:], []byte("\r\n")):
			start += 2
		case start < len(d) && (d[start] == '\n' || d[start] == '\r'):
			start++
		}
		o := pdfObject{num: num, gen: gen, dict: dict, start: start, end: -1}
		if n, ok := pdfLength(dict, bodies); ok && n <= int64(len(d)-start) {
			after := bytes.TrimLeft(d[start+int(n):min(len(d), start+int(n)+32)], " \t\r\n\f\x00")
			if bytes.HasPrefix(after, endstream) {
				o.end = start + int(n)
			}
		}
		if o.end < 0 {
			// Search from where the stream starts, even past the next
			// "obj": a stream's data may hold anything.
			if e := nextEndstream(start); e >= 0 {
				o.end = e
				if o.end > start && d[o.end-1] == '\n' {
					o.end--
				}
				if o.end > start && d[o.end-1] == '\r' {
					o.end--
				}
			} else {
				o.end, o.truncated = len(d), true
			}
		}
		out = append(out, o)
	}
	return pdfObjList{streams: out, locs: locs, bodies: bodies}
}

// pdfLength reads /Length: a number, or a reference to an object whose
// body starts with one.
func pdfLength(dict []byte, bodies map[int][]byte) (int64, bool) {
	m := pdfLengthRe.FindSubmatch(dict)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	if m[2] == nil {
		return n, true
	}
	ref := pdfIntRe.FindSubmatch(bodies[int(n)])
	if ref == nil {
		return 0, false
	}
	n, err = strconv.ParseInt(string(ref[1]), 10, 64)
	return n, err == nil
}

// pdfFilters lists a dictionary's filters, full names ("FlateDecode").
func pdfFilters(dict []byte) []string {
	m := pdfFilterRe.FindSubmatch(dict)
	if m == nil {
		return nil
	}
	var out []string
	for _, n := range pdfNameRe.FindAllSubmatch(m[1], 16) {
		name := pdfUnescapeName(n[1])
		switch name {
		case "Fl":
			name = "FlateDecode"
		case "AHx":
			name = "ASCIIHexDecode"
		case "A85":
			name = "ASCII85Decode"
		case "RL":
			name = "RunLengthDecode"
		case "LZW":
			name = "LZWDecode"
		case "DCT":
			name = "DCTDecode"
		case "CCF":
			name = "CCITTFaxDecode"
		}
		out = append(out, name)
	}
	return out
}

// reader decrypts the stream if the document is encrypted, then decodes
// it through its filters, as far as they are supported.
func (doc *pdfDoc) reader(o *pdfObject) io.Reader {
	var r io.Reader = bytes.NewReader(doc.d[o.start:o.end])
	filters := pdfFilters(o.dict)
	parms, parmsOK := doc.decodeParms(o.dict, len(filters))
	if doc.crypt != nil {
		r = doc.crypt.decrypter(r, o.num, o.gen, doc.crypt.streamMethod(o, filters, parms))
	}
	for i, f := range filters {
		br := bufio.NewReader(r)
		switch f {
		case "FlateDecode":
			r = pdfFlate(br)
		case "ASCIIHexDecode":
			r = &pdfHexReader{r: br}
		case "ASCII85Decode":
			r = &pdfA85Reader{r: br}
		case "RunLengthDecode":
			r = &pdfRLReader{r: br}
		case "LZWDecode":
			r = newPDFLZW(br, !pdfEarlyRe.Match(o.dict))
		case "Crypt": // done above
			r = br
		default:
			return o.cut(r)
		}
		if f == "FlateDecode" || f == "LZWDecode" {
			// The predictor: left undone when its parameters cannot be
			// read (the stream is yielded as decoded so far).
			var p pdfPredictorParams
			ok := i < len(parmsOK) && parmsOK[i]
			if ok {
				p, ok = pdfPredictor(parms[i])
			}
			if !ok {
				return o.cut(r)
			}
			r = newPDFPredictReader(r, p)
		}
	}
	return o.cut(r)
}

// pdfParmsRe finds /DecodeParms (or /DP) and the start of its value.
var pdfParmsRe = regexp.MustCompile(`/(?:DecodeParms|DP)[ \t\r\n\f\x00]*[<\[n0-9]`)

// decodeParms reads /DecodeParms: one dictionary, or an array of them
// (null for none) aligned with n filters; references are followed to
// objects in the file or in its object streams. ok[i] is false for
// parameters that could not be read.
func (doc *pdfDoc) decodeParms(dict []byte, n int) ([]pdfDict, []bool) {
	parms, ok := make([]pdfDict, n), make([]bool, n)
	loc := pdfParmsRe.FindIndex(dict)
	if loc == nil {
		for i := range ok {
			ok[i] = true
		}
		return parms, ok
	}
	v, good := pdfParseValue(dict[loc[1]-1:])
	if good {
		v, good = pdfResolve(v, doc.bodies)
	}
	if !good {
		return parms, ok
	}
	one := func(i int, v any) {
		v, good := pdfResolve(v, doc.bodies)
		switch p := v.(type) {
		case pdfDict:
			parms[i], ok[i] = p, true
		case nil:
			ok[i] = good
		}
	}
	switch a := v.(type) {
	case []any:
		for i := range min(n, len(a)) {
			one(i, a[i])
		}
		for i := len(a); i < n; i++ {
			ok[i] = true
		}
	default: // the first filter's, the others have none
		for i := 1; i < n; i++ {
			ok[i] = true
		}
		if n > 0 {
			one(0, a)
		}
	}
	return parms, ok
}

// pdfImageCodecs are the image filters not decoded here.
var pdfImageCodecs = map[string]bool{"DCTDecode": true, "JPXDecode": true, "CCITTFaxDecode": true, "JBIG2Decode": true}

var pdfImageRe = regexp.MustCompile(`/Subtype[ \t\r\n\f\x00]*/Image\b`)

// rawImage tells an image XObject whose filters are all image codecs:
// undecoded, it would be yielded as bytes of the document itself.
func (doc *pdfDoc) rawImage(o *pdfObject) bool {
	filters := pdfFilters(o.dict)
	for _, f := range filters {
		if !pdfImageCodecs[f] {
			return false
		}
	}
	return len(filters) > 0 && pdfImageRe.Match(o.dict)
}

// cut ends the stream of a truncated object with an error, so the member
// is reported CORRUPTED after what was decoded has been scanned.
func (o *pdfObject) cut(r io.Reader) io.Reader {
	if !o.truncated {
		return r
	}
	return io.MultiReader(r, errorReader{fmt.Errorf("%w: pdf: stream without endstream", ErrCorrupt)})
}

// pdfFlate inflates a zlib stream, or a raw deflate stream when the zlib
// header is missing. The Adler-32 checksum is not checked, and a stream
// that is cut or damaged ends where decoding stopped: PDF writers get
// these wrong often enough that it is no sign of an attack.
func pdfFlate(br *bufio.Reader) io.Reader {
	if h, err := br.Peek(2); err == nil && h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
		br.Discard(2)
	}
	return lenient{flate.NewReader(br)}
}

// lenient turns every read error into the end of the stream.
type lenient struct{ r io.Reader }

func (l lenient) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err != nil {
		err = io.EOF
	}
	return n, err
}

// pdfHexReader decodes ASCIIHexDecode: hex digits, blanks skipped, ">"
// ends; an odd final digit is followed by an implied 0.
type pdfHexReader struct {
	r    *bufio.Reader
	done bool
}

func (h *pdfHexReader) Read(p []byte) (int, error) {
	n := 0
	var hi byte
	half := false
	for n < len(p) && !h.done {
		c, err := h.r.ReadByte()
		if err != nil || c == '>' {
			h.done = true
			break
		}
		v, ok := hexValue(c)
		if !ok {
			continue
		}
		if half {
			p[n] = hi<<4 | v
			n++
			half = false
		} else {
			hi, half = v, true
		}
	}
	if half {
		if !h.done {
			h.r.UnreadByte() // keep the pair together for the next Read
		} else {
			p[n] = hi << 4
			n++
		}
	}
	if n == 0 && h.done {
		return 0, io.EOF
	}
	return n, nil
}

// pdfA85Reader decodes ASCII85Decode: groups of five characters '!'-'u'
// for four bytes, "z" for four zeros, blanks skipped, "~>" ends; a final
// partial group of n characters gives n-1 bytes.
type pdfA85Reader struct {
	r    *bufio.Reader
	out  [4]byte
	nout int
	pos  int
	done bool
}

func (a *pdfA85Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if a.pos < a.nout {
			k := copy(p[n:], a.out[a.pos:a.nout])
			a.pos += k
			n += k
			continue
		}
		if a.done {
			break
		}
		a.fill()
	}
	if n == 0 && a.done && a.pos >= a.nout {
		return 0, io.EOF
	}
	return n, nil
}

// fill decodes the next group into out.
func (a *pdfA85Reader) fill() {
	a.pos, a.nout = 0, 0
	var v uint64
	k := 0
	for k < 5 {
		c, err := a.r.ReadByte()
		if err != nil || c == '~' {
			a.done = true
			break
		}
		switch {
		case c == 'z' && k == 0:
			a.out = [4]byte{}
			a.nout = 4
			return
		case c >= '!' && c <= 'u':
			v = v*85 + uint64(c-'!')
			k++
		}
	}
	if k < 2 {
		return
	}
	for i := k; i < 5; i++ {
		v = v*85 + 84
	}
	b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	a.out = b
	a.nout = k - 1
}

// pdfRLReader decodes RunLengthDecode: a length byte L, then L+1 literal
// bytes (L < 128) or one byte repeated 257-L times (L > 128); 128 ends.
type pdfRLReader struct {
	r      *bufio.Reader
	lit    int  // literal bytes left
	rep    int  // repeats left
	repB   byte // the repeated byte
	done   bool
	failed bool
}

func (rl *pdfRLReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case rl.rep > 0:
			p[n] = rl.repB
			rl.rep--
			n++
		case rl.lit > 0:
			c, err := rl.r.ReadByte()
			if err != nil {
				rl.done, rl.lit = true, 0
				continue
			}
			p[n] = c
			rl.lit--
			n++
		case rl.done:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		default:
			l, err := rl.r.ReadByte()
			if err != nil || l == 128 {
				rl.done = true
				continue
			}
			if l < 128 {
				rl.lit = int(l) + 1
				continue
			}
			b, err := rl.r.ReadByte()
			if err != nil {
				rl.done = true
				continue
			}
			rl.repB, rl.rep = b, 257-int(l)
		}
	}
	return n, nil
}

// pdfLZW decodes LZWDecode: codes of 9 to 12 bits, most significant bit
// first, 256 clears the table, 257 ends. With early change (the default)
// the code width grows one code earlier than in compress/lzw.
type pdfLZW struct {
	r           *bufio.Reader
	early       int
	acc         uint32
	nbits       uint
	width       uint
	prefix      [4096]uint16
	suffix      [4096]byte
	first       [4096]byte
	next        int
	prev        int
	out         []byte // decoded, not yet returned
	stack       []byte
	done        bool
	initialised bool
}

func newPDFLZW(r *bufio.Reader, early bool) *pdfLZW {
	z := &pdfLZW{r: r, width: 9, next: 258, prev: -1}
	if early {
		z.early = 1
	}
	for i := 0; i < 256; i++ {
		z.suffix[i] = byte(i)
		z.first[i] = byte(i)
	}
	return z
}

func (z *pdfLZW) code() (int, bool) {
	for z.nbits < z.width {
		c, err := z.r.ReadByte()
		if err != nil {
			return 0, false
		}
		z.acc = z.acc<<8 | uint32(c)
		z.nbits += 8
	}
	z.nbits -= z.width
	return int(z.acc>>z.nbits) & (1<<z.width - 1), true
}

func (z *pdfLZW) Read(p []byte) (int, error) {
	for len(z.out) == 0 {
		if z.done {
			return 0, io.EOF
		}
		z.step()
	}
	n := copy(p, z.out)
	z.out = z.out[n:]
	return n, nil
}

// step decodes one code into out.
func (z *pdfLZW) step() {
	c, ok := z.code()
	if !ok || c == 257 {
		z.done = true
		return
	}
	if c == 256 {
		z.width, z.next, z.prev = 9, 258, -1
		return
	}
	var entry int
	switch {
	case c < z.next && (c < 256 || c >= 258):
		entry = c
	case c == z.next && z.prev >= 0:
		entry = -1 // the KwKwK case: prev's string plus its own first byte
	default:
		z.done = true // a code not yet defined: corrupt
		return
	}
	z.stack = z.stack[:0]
	if entry >= 0 {
		for e := entry; ; {
			z.stack = append(z.stack, z.suffix[e])
			if e < 256 {
				break
			}
			e = int(z.prefix[e])
		}
	} else {
		z.stack = append(z.stack, z.first[z.prev])
		for e := z.prev; ; {
			z.stack = append(z.stack, z.suffix[e])
			if e < 256 {
				break
			}
			e = int(z.prefix[e])
		}
	}
	for i, j := 0, len(z.stack)-1; i < j; i, j = i+1, j-1 {
		z.stack[i], z.stack[j] = z.stack[j], z.stack[i]
	}
	if z.prev >= 0 && z.next < 4096 {
		z.prefix[z.next] = uint16(z.prev)
		z.suffix[z.next] = z.stack[0]
		z.first[z.next] = z.first[z.prev]
		z.next++
	}
	if z.next+z.early >= 1<<z.width && z.width < 12 {
		z.width++
	}
	z.prev = c
	z.out = append(z.out[:0], z.stack...)
}

// pdfNames records which of pdfFeatureNames occur as names in b.
func pdfNames(b []byte, found map[string]bool) {
	for i := 0; i < len(b); {
		k := bytes.IndexByte(b[i:], '/')
		if k < 0 {
			return
		}
		i += k
		j := i + 1
		for j < len(b) && j-i < 128 && !pdfDelimiter(b[j]) {
			j++
		}
		if j-i > 1 && j-i < 128 {
			name := b[i+1 : j]
			if bytes.IndexByte(name, '#') < 0 {
				if pdfFeatureSet[string(name)] { // no allocation
					found[string(name)] = true
				}
			} else if n := pdfUnescapeName(name); pdfFeatureSet[n] {
				found[n] = true
			}
		}
		i = j
	}
}

var pdfFeatureSet = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range pdfFeatureNames {
		m[n] = true
	}
	return m
}()

func pdfDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\f', 0, '/', '[', ']', '<', '>', '(', ')', '{', '}', '%':
		return true
	}
	return false
}

// pdfUnescapeName decodes #xx escapes in a name ("J#61vaScript").
func pdfUnescapeName(b []byte) string {
	if bytes.IndexByte(b, '#') < 0 {
		return string(b)
	}
	var s strings.Builder
	for i := 0; i < len(b); i++ {
		if b[i] == '#' && i+2 < len(b) {
			hi, ok1 := hexValue(b[i+1])
			lo, ok2 := hexValue(b[i+2])
			if ok1 && ok2 {
				s.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		s.WriteByte(b[i])
	}
	return s.String()
}

// pdfEmbeddedNames maps embedded file stream numbers to the file names of
// the file specifications that point at them (/EF << /F 12 0 R >> beside
// /UF (name) or /F (name) within 512 bytes). In an encrypted document,
// decrypt (when not nil) decrypts a string found at an offset of d.
func pdfEmbeddedNames(d []byte, decrypt func(s []byte, at int) []byte) map[int]string {
	out := map[int]string{}
	for _, m := range pdfEFRe.FindAllSubmatchIndex(d, 1000) {
		num, err := strconv.Atoi(string(d[m[2]:m[3]]))
		if err != nil {
			continue
		}
		from := max(0, m[0]-512)
		win := d[from:min(len(d), m[1]+512)]
		// /UF (the Unicode name) wins over /F.
		var best string
		for _, f := range pdfFileNameRe.FindAllSubmatchIndex(win, 8) {
			v, _ := pdfParseValue(win[f[4]:f[5]])
			s, _ := v.(pdfString)
			if decrypt != nil {
				s = decrypt(s, from+f[4])
			}
			n := pdfFileName(s)
			uf := string(win[f[2]:f[3]]) == "UF"
			if n != "" && (best == "" || uf) {
				best = n
				if uf {
					break
				}
			}
		}
		if best != "" {
			out[num] = best
		}
	}
	return out
}

// pdfFileName turns a string into a file name: UTF-16 reduced to its
// ASCII, control characters dropped, the last path element kept.
func pdfFileName(s []byte) string {
	if bytes.HasPrefix(s, []byte{0xfe, 0xff}) {
		var a []byte
		for i := 3; i < len(s); i += 2 {
			a = append(a, s[i])
		}
		s = a
	}
	name := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, string(s))
	name = path.Base(strings.ReplaceAll(strings.TrimSpace(name), "\\", "/"))
	if name == "." || name == "/" {
		return ""
	}
	return name
}
