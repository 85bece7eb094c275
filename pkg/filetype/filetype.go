// Package filetype identifies an object's type from its first bytes, never
// from its name. It is a leaf package; detection is pure and safe for
// concurrent use. The type names are stable: YARA rules see them in the
// `filetype` external variable and clients see them in detections.
package filetype

import (
	"bytes"
	"unicode/utf8"
)

// Type is a content type name such as "zip" or "mail".
type Type string

// Known types. Binary and Text are the fallbacks.
const (
	Binary Type = "binary"
	Text   Type = "text"
	Empty  Type = "empty"
	Mail   Type = "mail"
	HTML   Type = "html"
	Zip    Type = "zip"
	Gzip   Type = "gzip"
	Bzip2  Type = "bzip2"
	Tar    Type = "tar"
	Xz     Type = "xz"
	SevenZ Type = "7z"
	Rar    Type = "rar"
	Cab    Type = "cab"
	Arj    Type = "arj"
	Cpio   Type = "cpio"
	PE     Type = "pe"
	ELF    Type = "elf"
	MachO  Type = "macho"
	PDF    Type = "pdf"
	OLE2   Type = "ole2"
	RTF    Type = "rtf"
	PNG    Type = "png"
	JPEG   Type = "jpeg"
	GIF    Type = "gif"
	Lzma   Type = "lzma"   // .lzma "alone" format
	SZDD   Type = "szdd"   // MS-DOS COMPRESS.EXE
	CHM    Type = "chm"    // compiled HTML help (ITSF)
	TNEF   Type = "tnef"   // winmail.dat
	BinHex Type = "binhex" // BinHex 4.0 text
	UUE    Type = "uue"    // uuencoded text
	YEnc   Type = "yenc"   // yEnc-encoded text
)

type magic struct {
	off int
	sig []byte
	t   Type
}

var magics = []magic{
	{0, []byte("PK\x03\x04"), Zip},
	{0, []byte("PK\x05\x06"), Zip}, // empty archive
	{0, []byte("PK\x07\x08"), Zip}, // spanned marker
	// gzip: magic plus method 8 (deflate, the only one defined), so that a
	// binary that merely starts with 1f 8b is not reported as a broken gzip.
	{0, []byte{0x1f, 0x8b, 0x08}, Gzip},
	{0, []byte{0xfd, '7', 'z', 'X', 'Z', 0}, Xz},
	{0, []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}, SevenZ},
	{0, []byte("Rar!\x1a\x07"), Rar},
	{0, []byte("MSCF\x00\x00\x00\x00"), Cab},
	{0, []byte{0x60, 0xea}, Arj},
	{0, []byte("070701"), Cpio},
	{0, []byte("070702"), Cpio},
	{0, []byte("070707"), Cpio},
	{0, []byte{0xc7, 0x71}, Cpio},
	{0, []byte{0x71, 0xc7}, Cpio},
	{0, []byte("\x7fELF"), ELF},
	{0, []byte{0xfe, 0xed, 0xfa, 0xce}, MachO},
	{0, []byte{0xfe, 0xed, 0xfa, 0xcf}, MachO},
	{0, []byte{0xce, 0xfa, 0xed, 0xfe}, MachO},
	{0, []byte{0xcf, 0xfa, 0xed, 0xfe}, MachO},
	{0, []byte("%PDF-"), PDF},
	{0, []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}, OLE2},
	{0, []byte(`{\rtf`), RTF},
	{0, []byte("\x89PNG\r\n\x1a\n"), PNG},
	{0, []byte{0xff, 0xd8, 0xff}, JPEG},
	{0, []byte("GIF87a"), GIF},
	{0, []byte("GIF89a"), GIF},
	{257, []byte("ustar"), Tar},
	{0, []byte("SZDD\x88\xf0\x27\x33"), SZDD},
	{0, []byte("ITSF\x03\x00\x00\x00"), CHM},
	{0, []byte{0x78, 0x9f, 0x3e, 0x22}, TNEF},
}

// sniffLen is how many leading bytes the text heuristics look at.
const sniffLen = 4096

// Detect returns the type of data. hint is a declared or previously
// detected type (for example from a MIME header); it is used only when the
// content says nothing more specific than Text or Binary.
func Detect(data []byte, hint Type) Type {
	if len(data) == 0 {
		return Empty
	}
	for _, m := range magics {
		if len(data) >= m.off+len(m.sig) && bytes.Equal(data[m.off:m.off+len(m.sig)], m.sig) {
			return m.t
		}
	}
	if isBzip2(data) {
		return Bzip2
	}
	if isPE(data) {
		return PE
	}
	if isLzma(data) {
		return Lzma
	}
	head := data
	if len(head) > sniffLen {
		head = head[:sniffLen]
	}
	if isMail(head) {
		return Mail
	}
	if isHTML(head) {
		return HTML
	}
	t := Binary
	if isText(head) {
		t = Text
		if e := textEncoding(data); e != "" {
			return e
		}
	} else if isYEncBinary(head) {
		return YEnc
	}
	if hint != "" && hint != Binary && hint != Text {
		return hint
	}
	return t
}

// isBzip2 checks "BZh", a block size digit and the magic of the first
// block (or of the end of an empty stream): "BZh" alone starts ordinary
// text too often ("BZhello").
func isBzip2(b []byte) bool {
	if len(b) < 10 || b[0] != 'B' || b[1] != 'Z' || b[2] != 'h' || b[3] < '1' || b[3] > '9' {
		return false
	}
	m := b[4:10]
	return bytes.Equal(m, []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}) ||
		bytes.Equal(m, []byte{0x17, 0x72, 0x45, 0x38, 0x50, 0x90})
}

// isLzma recognises the 13-byte header of the LZMA "alone" format (.lzma),
// which has no magic: the properties byte 0x5d (lc=3 lp=0 pb=2, what every
// common encoder writes), a dictionary size of 2^n or 2^n+2^(n-1) between
// 4 KiB and 1.5 GiB, an uncompressed size that is unknown (all ones) or
// under 2^40, and the range coder's first byte, which is always zero.
func isLzma(b []byte) bool {
	if len(b) < 14 || b[0] != 0x5d || b[13] != 0 {
		return false
	}
	dict := uint32(b[1]) | uint32(b[2])<<8 | uint32(b[3])<<16 | uint32(b[4])<<24
	if dict < 1<<12 || dict > 3<<29 {
		return false
	}
	if d := dict &^ (dict & -dict); d != 0 && d != dict&-dict<<1 {
		return false // more than two bits set, or two bits not adjacent
	}
	unknown := true
	for _, c := range b[5:13] {
		unknown = unknown && c == 0xff
	}
	return unknown || (b[10] == 0 && b[11] == 0 && b[12] == 0)
}

func isPE(b []byte) bool {
	if len(b) < 0x40 || b[0] != 'M' || b[1] != 'Z' {
		return false
	}
	off := int(uint32(b[0x3c]) | uint32(b[0x3d])<<8 | uint32(b[0x3e])<<16 | uint32(b[0x3f])<<24)
	if off < 0x40 || off > len(b)-4 {
		// A DOS executable or a truncated PE: still an executable.
		return true
	}
	return bytes.Equal(b[off:off+4], []byte("PE\x00\x00"))
}

// mailHeaders are header names that, seen at the very start of an object,
// mark it as an RFC 5322 message (or an mbox when it starts with "From ").
var mailHeaders = [][]byte{
	[]byte("received:"), []byte("return-path:"), []byte("from:"), []byte("to:"),
	[]byte("subject:"), []byte("date:"), []byte("message-id:"), []byte("mime-version:"),
	[]byte("content-type:"), []byte("delivered-to:"), []byte("x-"), []byte("dkim-signature:"),
	[]byte("reply-to:"), []byte("sender:"), []byte("cc:"), []byte("content-transfer-encoding:"),
	[]byte("authentication-results:"), []byte("arc-"), []byte("list-"), []byte("envelope-to:"),
}

// isMail reports whether head starts with a block of header fields that
// includes at least two well-known mail headers (or an mbox "From " line
// followed by one). A broken line or two inside the header (a line without
// a colon) does not stop it: such mail is what the scanner must still open.
func isMail(head []byte) bool {
	lines := bytes.SplitN(head, []byte("\n"), 32)
	known, fields, bad := 0, 0, 0
	for i, l := range lines {
		l = bytes.TrimRight(l, "\r")
		if i == len(lines)-1 && len(lines) == 32 {
			break
		}
		if len(l) == 0 {
			break
		}
		if i == 0 && bytes.HasPrefix(l, []byte("From ")) {
			known++
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if fields == 0 {
				return false
			}
			continue
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 || bytes.ContainsAny(l[:colon], " \t") {
			if bad++; i == 0 || bad > 2 || bad > fields {
				return false
			}
			continue
		}
		fields++
		lower := bytes.ToLower(l[:colon+1])
		for _, h := range mailHeaders {
			if bytes.HasPrefix(lower, h) {
				known++
				break
			}
		}
	}
	return known >= 2
}

var htmlStarts = []string{"<!doctype html", "<html", "<head", "<body", "<script", "<iframe"}

// isHTML reports whether head starts (after blanks and a byte order mark)
// with one of htmlStarts, in any case. Only the first 64 bytes are
// lowered: the longest start is 14 characters, which 56 bytes hold
// whatever they are ("İ" lowers to "i", the Kelvin sign to "k").
func isHTML(head []byte) bool {
	h := bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf")
	h = bytes.ToLower(h[:min(len(h), 64)])
	for _, p := range htmlStarts {
		if bytes.HasPrefix(h, []byte(p)) {
			return true
		}
	}
	return false
}

// isText reports whether head is mostly printable: valid UTF-8 without NULs
// and with few control characters.
func isText(head []byte) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return false
	}
	ctl := 0
	for _, c := range head {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != 0x1b {
			ctl++
		}
	}
	if ctl*100 > len(head) {
		return false
	}
	// Allow a multi-byte rune cut at the end of the sniffed window.
	for i := 0; i < 3 && len(head) > 0 && !utf8.Valid(head); i++ {
		head = head[:len(head)-1]
	}
	return utf8.Valid(head) || isLatin(head)
}

func isLatin(b []byte) bool {
	high := 0
	for _, c := range b {
		if c >= 0x80 {
			high++
		}
	}
	return high*10 < len(b)
}

// encodingWindow is how far into a text object the encoded-file checks
// look: a mail body may carry some prose before an inline uuencoded file.
const encodingWindow = 64 << 10

var (
	binhexBanner = []byte("(This file must be converted")
	ybeginLine   = []byte("=ybegin ")
	uuBegin      = []byte("begin ")
	uuBegin64    = []byte("begin-base64 ")
)

// textEncoding reports whether a text object carries a file encoded as
// text: a BinHex 4.0 banner, a yEnc "=ybegin " line or a uuencode
// "begin NNN name" line (NNN octal; "begin-base64 NNN name" for the
// base64 form of sharutils' uuencode -m), at the start of a line in the
// first 64 KiB. BinHex wins over yEnc, which wins over uuencode.
func textEncoding(data []byte) Type {
	if len(data) > encodingWindow {
		data = data[:encodingWindow]
	}
	if lineStartIndex(data, binhexBanner) >= 0 {
		return BinHex
	}
	if lineStartIndex(data, ybeginLine) >= 0 {
		return YEnc
	}
	for _, begin := range [][]byte{uuBegin, uuBegin64} {
		for from := 0; from < len(data); {
			i := lineStartIndex(data[from:], begin)
			if i < 0 {
				break
			}
			at := from + i + len(begin)
			if isUUMode(data[at:]) {
				return UUE
			}
			from = at
		}
	}
	return ""
}

// isYEncBinary reports whether head, which is not text, starts a yEnc
// file: yEnc writes bytes as they are (plus 42), so its output is 8-bit
// and only its "=ybegin" line and what precedes it are text. That line
// must be well formed (name= and size= or line=, printable) and sit at the
// very start or after nothing but text lines, so that a binary holding
// "=ybegin" somewhere is not taken for yEnc.
func isYEncBinary(head []byte) bool {
	for from := 0; from < len(head); {
		i := lineStartIndex(head[from:], ybeginLine)
		if i < 0 {
			return false
		}
		at := from + i
		if at > 0 && !isText(head[:at]) {
			return false // later lines have the same binary prefix
		}
		if isYBeginLine(head[at:]) {
			return true
		}
		from = at + len(ybeginLine)
	}
	return false
}

// isYBeginLine checks the "=ybegin" line at the start of b: complete,
// printable, with a numeric size= or line= and a name= that ends it.
func isYBeginLine(b []byte) bool {
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		return false
	}
	line := bytes.TrimSuffix(b[:end], []byte("\r"))
	for _, c := range line {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	name := bytes.Index(line, []byte(" name="))
	if name < 0 || name+len(" name=") == len(line) {
		return false
	}
	attrs := line[:name+1]
	for _, k := range []string{" size=", " line="} {
		if i := bytes.Index(attrs, []byte(k)); i >= 0 {
			if v := attrs[i+len(k):]; len(v) > 0 && v[0] >= '0' && v[0] <= '9' {
				return true
			}
		}
	}
	return false
}

// lineStartIndex finds sig at the start of a line of b.
func lineStartIndex(b, sig []byte) int {
	for from := 0; from < len(b); {
		i := bytes.Index(b[from:], sig)
		if i < 0 {
			return -1
		}
		at := from + i
		if at == 0 || b[at-1] == '\n' || b[at-1] == '\r' {
			return at
		}
		from = at + 1
	}
	return -1
}

// isUUMode checks what follows "begin ": three or four octal digits, a
// space and a name.
func isUUMode(b []byte) bool {
	n := 0
	for n < len(b) && n < 4 && b[n] >= '0' && b[n] <= '7' {
		n++
	}
	return n >= 3 && len(b) > n+1 && b[n] == ' ' && b[n+1] > ' '
}
