package unpack

import (
	"bytes"
	"strconv"
)

// A small reader of PDF values, for the few dictionaries whose structure
// matters (stream filters and their parameters, the trailer, /Encrypt).
// Values are:
//
//	pdfDict (map[string]any), []any, pdfName, pdfString ([]byte),
//	int64, float64, bool, pdfRef, nil (null)
//
// It is bounded (nesting, element count) and never panics on bad input;
// a value it cannot read is reported as not ok.
type (
	pdfDict   map[string]any
	pdfName   string
	pdfString []byte
	pdfRef    struct{ num, gen int }
)

// pdfParser reads values from b at pos.
type pdfParser struct {
	b     []byte
	pos   int
	items int // elements read so far, bounded by pdfMaxItems
}

const (
	pdfMaxDepth = 32
	pdfMaxItems = 100000
)

// pdfParseValue reads the first value of b.
func pdfParseValue(b []byte) (any, bool) {
	p := &pdfParser{b: b}
	return p.value(0)
}

// pdfParseDict reads the dictionary that starts b (after blanks).
func pdfParseDict(b []byte) (pdfDict, bool) {
	v, ok := pdfParseValue(b)
	d, isDict := v.(pdfDict)
	return d, ok && isDict
}

// skip passes blanks and comments.
func (p *pdfParser) skip() {
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		switch {
		case pdfBlank(c):
			p.pos++
		case c == '%':
			for p.pos < len(p.b) && p.b[p.pos] != '\n' && p.b[p.pos] != '\r' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *pdfParser) value(depth int) (any, bool) {
	p.items++
	if depth > pdfMaxDepth || p.items > pdfMaxItems {
		return nil, false
	}
	p.skip()
	if p.pos >= len(p.b) {
		return nil, false
	}
	b := p.b
	switch c := b[p.pos]; {
	case c == '<' && p.pos+1 < len(b) && b[p.pos+1] == '<':
		p.pos += 2
		return p.dict(depth)
	case c == '<':
		p.pos++
		return p.hexString()
	case c == '(':
		p.pos++
		return p.literalString()
	case c == '[':
		p.pos++
		var a []any
		for {
			p.skip()
			if p.pos >= len(b) {
				return nil, false
			}
			if b[p.pos] == ']' {
				p.pos++
				return a, true
			}
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
		}
	case c == '/':
		p.pos++
		return pdfName(p.token()), true
	case c == '+' || c == '-' || c == '.' || isDigit(c):
		return p.number()
	default:
		switch t := string(p.token()); t {
		case "true":
			return true, true
		case "false":
			return false, true
		case "null":
			return nil, true
		}
		return nil, false
	}
}

// token reads up to the next delimiter; a name's #xx escapes are undone.
func (p *pdfParser) token() []byte {
	s := p.pos
	for p.pos < len(p.b) && p.pos-s < 256 && !pdfDelimiter(p.b[p.pos]) {
		p.pos++
	}
	return []byte(pdfUnescapeName(p.b[s:p.pos]))
}

func (p *pdfParser) dict(depth int) (any, bool) {
	d := pdfDict{}
	for {
		p.skip()
		if p.pos+1 < len(p.b) && p.b[p.pos] == '>' && p.b[p.pos+1] == '>' {
			p.pos += 2
			return d, true
		}
		if p.pos >= len(p.b) || p.b[p.pos] != '/' {
			return nil, false
		}
		p.pos++
		k := string(p.token())
		v, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		d[k] = v
	}
}

// number reads an integer or a real; "N G R" is a reference.
func (p *pdfParser) number() (any, bool) {
	t := string(p.token())
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		f, err := strconv.ParseFloat(t, 64)
		return f, err == nil
	}
	// Look ahead for "G R".
	save := p.pos
	p.skip()
	if s := p.pos; p.pos < len(p.b) && isDigit(p.b[p.pos]) {
		for p.pos < len(p.b) && p.pos-s < 6 && isDigit(p.b[p.pos]) {
			p.pos++
		}
		gen, _ := strconv.Atoi(string(p.b[s:p.pos]))
		if p.pos < len(p.b) && pdfBlank(p.b[p.pos]) {
			p.skip()
			if p.pos < len(p.b) && p.b[p.pos] == 'R' && (p.pos+1 == len(p.b) || pdfDelimiter(p.b[p.pos+1])) && n >= 0 && n < 1<<31 {
				p.pos++
				return pdfRef{int(n), gen}, true
			}
		}
	}
	p.pos = save
	return n, true
}

func (p *pdfParser) hexString() (any, bool) {
	var out []byte
	var hi byte
	half := false
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		p.pos++
		if c == '>' {
			if half {
				out = append(out, hi<<4)
			}
			return pdfString(out), true
		}
		v, ok := hexValue(c)
		if !ok {
			if pdfBlank(c) {
				continue
			}
			return nil, false
		}
		if half {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	return nil, false
}

// literalString reads a (string) after its "(": balanced parentheses,
// backslash escapes, end-of-line normalised to \n.
func (p *pdfParser) literalString() (any, bool) {
	b := p.b
	var out []byte
	level := 1
	for p.pos < len(b) {
		c := b[p.pos]
		p.pos++
		switch c {
		case '(':
			level++
		case ')':
			level--
			if level == 0 {
				return pdfString(out), true
			}
		case '\r':
			if p.pos < len(b) && b[p.pos] == '\n' {
				p.pos++
			}
			c = '\n'
		case '\\':
			if p.pos >= len(b) {
				return nil, false
			}
			c = b[p.pos]
			p.pos++
			switch c {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r', '\n': // a line continuation
				if c == '\r' && p.pos < len(b) && b[p.pos] == '\n' {
					p.pos++
				}
				continue
			default:
				if c >= '0' && c <= '7' {
					v := int(c - '0')
					for k := 0; k < 2 && p.pos < len(b) && b[p.pos] >= '0' && b[p.pos] <= '7'; k++ {
						v = v*8 + int(b[p.pos]-'0')
						p.pos++
					}
					c = byte(v)
				}
			}
		}
		out = append(out, c)
	}
	return nil, false
}

// pdfInt reads an integer value (a whole real counts), with a default.
func pdfInt(v any, def int64) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		if n == float64(int64(n)) {
			return int64(n)
		}
	}
	return def
}

// pdfResolve follows a reference to the value at the start of the
// referenced object's body (bodies maps object numbers to the bytes after
// "N G obj"); other values are returned as they are.
func pdfResolve(v any, bodies map[int][]byte) (any, bool) {
	r, ok := v.(pdfRef)
	if !ok {
		return v, true
	}
	body, ok := bodies[r.num]
	if !ok {
		return nil, false
	}
	if e := bytes.Index(body, []byte("endobj")); e >= 0 {
		body = body[:e]
	}
	return pdfParseValue(body)
}
