package unpack

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rc4"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"regexp"
)

// The Standard security handler of PDF (ISO 32000-2, 7.6.4), far enough
// to open a document with the empty user password: one that any reader
// opens without asking, which hides its streams from a scanner that does
// not decrypt. Revisions 2-4 (RC4 of 40-128 bits, AES-128 through crypt
// filters) and 5-6 (AES-256).

// pdfCryptMethod is how strings or streams are encrypted.
type pdfCryptMethod int

const (
	pdfCryptNone  pdfCryptMethod = iota // Identity
	pdfCryptRC4                         // V2 (and /V 1, 2 without crypt filters)
	pdfCryptAESV2                       // AES-128-CBC, object key
	pdfCryptAESV3                       // AES-256-CBC, file key
)

// pdfCrypt decrypts the strings and streams of a document.
type pdfCrypt struct {
	key             []byte // the file key
	stm, str        pdfCryptMethod
	filters         map[string]pdfCryptMethod // /CF, for /Crypt stream filters
	encryptMetadata bool
	revision        int
}

// pdfPadding pads passwords to 32 bytes (revisions 2-4).
var pdfPadding = []byte{
	0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01, 0x08,
	0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53, 0x69, 0x7A,
}

// pdfTrailerRe finds a classic trailer's dictionary.
var pdfTrailerRe = regexp.MustCompile(`trailer[ \t\r\n\f\x00]*<<`)

// pdfEncryption finds the /Encrypt dictionary (in the last trailer or
// cross-reference stream that has one) and tries the empty user password.
// The error, wrapping ErrEncrypted, says why the streams stay unreadable.
func pdfEncryption(d []byte, objs pdfObjList) (*pdfCrypt, error) {
	var trailers []pdfDict
	for _, m := range pdfTrailerRe.FindAllIndex(d, 64) {
		if t, ok := pdfParseDict(d[m[1]-2:]); ok {
			trailers = append(trailers, t)
		}
	}
	for _, o := range objs.streams {
		if o.typeIs("XRef") {
			if t, ok := pdfParseDict(o.dict); ok {
				trailers = append(trailers, t)
			}
		}
	}
	var enc pdfDict
	var id []byte
	for _, t := range trailers {
		if e, ok := pdfResolve(t["Encrypt"], objs.bodies); ok {
			if e, ok := e.(pdfDict); ok {
				enc = e
				id = nil
			}
		}
		if a, ok := t["ID"].([]any); ok && len(a) > 0 && (id == nil || t["Encrypt"] != nil) {
			if s, ok := a[0].(pdfString); ok {
				id = s
			}
		}
	}
	if enc == nil {
		return nil, fmt.Errorf("%w: pdf: /Encrypt dictionary not found", ErrEncrypted)
	}
	if f, _ := enc["Filter"].(pdfName); f != "Standard" {
		return nil, fmt.Errorf("%w: pdf: security handler %q not supported", ErrEncrypted, string(f))
	}
	c := &pdfCrypt{revision: int(pdfInt(enc["R"], 0)), encryptMetadata: true}
	if b, ok := enc["EncryptMetadata"].(bool); ok {
		c.encryptMetadata = b
	}
	v := pdfInt(enc["V"], 0)
	o, _ := enc["O"].(pdfString)
	u, _ := enc["U"].(pdfString)
	switch {
	case c.revision >= 2 && c.revision <= 4 && (v == 1 || v == 2 || v == 4):
		length := pdfInt(enc["Length"], 40)
		if v == 1 {
			length = 40
		}
		c.stm, c.str = pdfCryptRC4, pdfCryptRC4
		if v == 4 {
			if !c.cryptFilters(enc) {
				return nil, fmt.Errorf("%w: pdf: crypt filters not supported (R %d)", ErrEncrypted, c.revision)
			}
			length = 128
		}
		if length < 40 || length > 128 || length%8 != 0 || len(o) < 32 || len(u) < 32 {
			return nil, fmt.Errorf("%w: pdf: bad /Encrypt dictionary (R %d)", ErrEncrypted, c.revision)
		}
		p := uint32(pdfInt(enc["P"], 0))
		if !c.emptyPasswordR4(o[:32], u, p, id, int(length/8)) {
			return nil, fmt.Errorf("%w: pdf: opening needs a user password (R %d)", ErrEncrypted, c.revision)
		}
	case (c.revision == 5 || c.revision == 6) && v == 5:
		ue, _ := enc["UE"].(pdfString)
		if !c.cryptFilters(enc) || len(u) < 48 || len(ue) < 32 {
			return nil, fmt.Errorf("%w: pdf: bad /Encrypt dictionary (R %d)", ErrEncrypted, c.revision)
		}
		if !c.emptyPasswordR6(u[:48], ue[:32]) {
			return nil, fmt.Errorf("%w: pdf: opening needs a user password (R %d)", ErrEncrypted, c.revision)
		}
	default:
		return nil, fmt.Errorf("%w: pdf: Standard security handler R %d V %d not supported", ErrEncrypted, c.revision, v)
	}
	return c, nil
}

// cryptFilters reads /CF, /StmF and /StrF (/V 4 and 5).
func (c *pdfCrypt) cryptFilters(enc pdfDict) bool {
	c.filters = map[string]pdfCryptMethod{"Identity": pdfCryptNone}
	cf, _ := enc["CF"].(pdfDict)
	for name, v := range cf {
		f, ok := v.(pdfDict)
		if !ok {
			continue
		}
		switch m, _ := f["CFM"].(pdfName); m {
		case "V2":
			c.filters[name] = pdfCryptRC4
		case "AESV2":
			c.filters[name] = pdfCryptAESV2
		case "AESV3":
			c.filters[name] = pdfCryptAESV3
		case "None":
			c.filters[name] = pdfCryptNone
		}
	}
	method := func(key string) (pdfCryptMethod, bool) {
		n, ok := enc[key].(pdfName)
		if !ok {
			return pdfCryptNone, enc[key] == nil
		}
		m, ok := c.filters[string(n)]
		return m, ok
	}
	var ok1, ok2 bool
	c.stm, ok1 = method("StmF")
	c.str, ok2 = method("StrF")
	return ok1 && ok2
}

// emptyPasswordR4 computes the file key of revisions 2-4 from the empty
// password and checks it against /U.
func (c *pdfCrypt) emptyPasswordR4(o, u []byte, p uint32, id []byte, n int) bool {
	h := md5.New()
	h.Write(pdfPadding)
	h.Write(o)
	binary.Write(h, binary.LittleEndian, p)
	h.Write(id)
	if c.revision >= 4 && !c.encryptMetadata {
		h.Write([]byte{0xff, 0xff, 0xff, 0xff})
	}
	key := h.Sum(nil)
	if c.revision >= 3 {
		for i := 0; i < 50; i++ {
			s := md5.Sum(key[:n])
			key = s[:]
		}
	}
	key = key[:n]
	var want []byte
	if c.revision == 2 {
		want = rc4Bytes(key, pdfPadding)
		u = u[:32]
	} else {
		s := md5.Sum(append(append([]byte{}, pdfPadding...), id...))
		want = s[:]
		xk := make([]byte, len(key))
		for i := 0; i < 20; i++ {
			for j := range key {
				xk[j] = key[j] ^ byte(i)
			}
			want = rc4Bytes(xk, want)
		}
		u = u[:16]
	}
	c.key = key
	return bytes.Equal(want, u)
}

func rc4Bytes(key, b []byte) []byte {
	r, err := rc4.NewCipher(key)
	if err != nil {
		return nil
	}
	out := make([]byte, len(b))
	r.XORKeyStream(out, b)
	return out
}

// emptyPasswordR6 checks the empty password against /U (its hash, then
// 8 bytes of validation salt and 8 of key salt) and decrypts the file key
// from /UE.
func (c *pdfCrypt) emptyPasswordR6(u, ue []byte) bool {
	if !bytes.Equal(c.hashR6(nil, u[32:40]), u[:32]) {
		return false
	}
	b, err := aes.NewCipher(c.hashR6(nil, u[40:48]))
	if err != nil {
		return false
	}
	c.key = make([]byte, 32)
	cipher.NewCBCDecrypter(b, make([]byte, 16)).CryptBlocks(c.key, ue)
	return true
}

// hashR6 is the password hash of revision 6 (SHA-256 alone for 5):
// rounds of AES-128-CBC over 64 repetitions of password and hash, each
// followed by SHA-256, -384 or -512 as the encrypted bytes pick, at least
// 64 rounds and until the last encrypted byte is at most the round
// number minus 32. The user password hash has no extra data.
func (c *pdfCrypt) hashR6(password, salt []byte) []byte {
	h := sha256.New()
	h.Write(password)
	h.Write(salt)
	k := h.Sum(nil)
	if c.revision == 5 {
		return k
	}
	hashes := [3]hash.Hash{sha256.New(), sha512.New384(), sha512.New()}
	var k1, e []byte
	for round := 0; ; round++ {
		k1 = k1[:0]
		for i := 0; i < 64; i++ {
			k1 = append(append(k1, password...), k...)
		}
		b, _ := aes.NewCipher(k[:16])
		e = append(e[:0], k1...)
		cipher.NewCBCEncrypter(b, k[16:32]).CryptBlocks(e, e)
		sum := 0
		for _, x := range e[:16] {
			sum += int(x)
		}
		hh := hashes[sum%3]
		hh.Reset()
		hh.Write(e)
		k = hh.Sum(nil)
		if round >= 63 && int(e[len(e)-1]) <= round-31 {
			break
		}
	}
	return k[:32]
}

// objectKey is the key of one object's strings and streams: the file key
// itself for AES-256, else MD5 of it with the object and generation
// numbers (and "sAlT" for AES-128), at most 16 bytes.
func (c *pdfCrypt) objectKey(num, gen int, m pdfCryptMethod) []byte {
	if m == pdfCryptAESV3 {
		return c.key
	}
	h := md5.New()
	h.Write(c.key)
	h.Write([]byte{byte(num), byte(num >> 8), byte(num >> 16), byte(gen), byte(gen >> 8)})
	if m == pdfCryptAESV2 {
		h.Write([]byte("sAlT"))
	}
	return h.Sum(nil)[:min(len(c.key)+5, 16)]
}

// streamMethod is how one stream is encrypted: none for cross-reference
// streams and (with /EncryptMetadata false) metadata; a /Crypt filter
// names its own crypt filter (Identity when it names none).
func (c *pdfCrypt) streamMethod(o *pdfObject, filters []string, parms []pdfDict) pdfCryptMethod {
	if o.typeIs("XRef") || (!c.encryptMetadata && o.typeIs("Metadata")) {
		return pdfCryptNone
	}
	for i, f := range filters {
		if f == "Crypt" {
			name := "Identity"
			if i < len(parms) {
				if n, ok := parms[i]["Name"].(pdfName); ok {
					name = string(n)
				}
			}
			return c.filters[name]
		}
	}
	return c.stm
}

// decrypter decrypts data with method m for object num, gen.
func (c *pdfCrypt) decrypter(r io.Reader, num, gen int, m pdfCryptMethod) io.Reader {
	if m == pdfCryptNone {
		return r
	}
	key := c.objectKey(num, gen, m)
	if m == pdfCryptRC4 {
		s, _ := rc4.NewCipher(key)
		return &cipher.StreamReader{S: s, R: r}
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return errorReader{fmt.Errorf("%w: pdf: %v", ErrCorrupt, err)}
	}
	return &pdfAESReader{r: r, b: b}
}

// decryptString decrypts a string of object num, gen.
func (c *pdfCrypt) decryptString(s []byte, num, gen int) []byte {
	out, _ := io.ReadAll(c.decrypter(bytes.NewReader(s), num, gen, c.str))
	return out
}

// pdfAESReader decrypts AES-CBC whose first block is the IV and whose
// last block ends with PKCS#5 padding. A last block that is short or
// badly padded is dropped or kept whole: writers get it wrong.
type pdfAESReader struct {
	r    io.Reader
	b    cipher.Block
	cbc  cipher.BlockMode
	buf  [4096 + 16]byte
	n    int    // bytes in buf
	out  []byte // decrypted, not yet returned
	held []byte // the last decrypted block, held back for its padding
	done bool
}

func (a *pdfAESReader) Read(p []byte) (int, error) {
	for len(a.out) == 0 {
		if a.done {
			return 0, io.EOF
		}
		a.fill()
	}
	n := copy(p, a.out)
	a.out = a.out[n:]
	return n, nil
}

func (a *pdfAESReader) fill() {
	k, err := io.ReadFull(a.r, a.buf[a.n:4096])
	a.n += k
	if a.cbc == nil {
		if a.n < 16 {
			a.done = true
			return
		}
		a.cbc = cipher.NewCBCDecrypter(a.b, a.buf[:16])
		a.n = copy(a.buf[:], a.buf[16:a.n])
	}
	whole := a.n &^ 15
	if err != nil {
		a.done = true
	}
	// Decrypt whole blocks, then hold back the last one (its padding is
	// known only at the end).
	a.cbc.CryptBlocks(a.buf[:whole], a.buf[:whole])
	out := append(a.held, a.buf[:whole]...)
	if !a.done && len(out) >= 16 {
		a.held = append(a.held[:0:0], out[len(out)-16:]...)
		out = out[:len(out)-16]
	} else if a.done {
		a.held = nil
		if l := len(out); l >= 16 {
			if pad := int(out[l-1]); pad >= 1 && pad <= 16 && bytes.Count(out[l-pad:], out[l-1:]) == pad {
				out = out[:l-pad]
			}
		}
	}
	a.out = out
	a.n = copy(a.buf[:], a.buf[whole:a.n])
}
