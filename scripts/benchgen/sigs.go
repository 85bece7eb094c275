package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// ---- ClamAV body signatures (.ndb) ----

type tokKind uint8

const (
	tLit  tokKind = iota // literal bytes
	tAny                 // ?? (one arbitrary byte)
	tJump                // {lo-hi}
	tAlt                 // (aa|bb) or (aabb|ccdd)
)

type tok struct {
	kind   tokKind
	lit    []byte
	lo, hi int
	alts   [][]byte
}

type ndbSig struct {
	name   string
	offset string // "*", "0", "n,m" or "EOF-n"
	toks   []tok
}

// hexsig renders the body in ClamAV's notation.
func (s *ndbSig) hexsig() string {
	var b strings.Builder
	for _, t := range s.toks {
		switch t.kind {
		case tLit:
			b.WriteString(hex.EncodeToString(t.lit))
		case tAny:
			b.WriteString("??")
		case tJump:
			fmt.Fprintf(&b, "{%d-%d}", t.lo, t.hi)
		case tAlt:
			b.WriteByte('(')
			for i, a := range t.alts {
				if i > 0 {
					b.WriteByte('|')
				}
				b.WriteString(hex.EncodeToString(a))
			}
			b.WriteByte(')')
		}
	}
	return b.String()
}

// instance returns bytes that the signature matches.
func (s *ndbSig) instance(r *rnd) []byte {
	var b []byte
	for _, t := range s.toks {
		switch t.kind {
		case tLit:
			b = append(b, t.lit...)
		case tAny:
			b = append(b, byte(r.IntN(256)))
		case tJump:
			b = append(b, r.bytes(r.between(t.lo, t.hi))...)
		case tAlt:
			b = append(b, pick(r, t.alts)...)
		}
	}
	return b
}

func lit(r *rnd, n int) tok { return tok{kind: tLit, lit: r.bytes(n)} }

// genNDB makes signature i. The mix follows what real .ndb files hold and
// what AVE translates to YARA: plain hex, ?? wildcards, small {n-m} jumps,
// (aa|bb) alternatives, and a few anchored offsets.
func genNDB(r *rnd, i int) ndbSig {
	s := ndbSig{name: fmt.Sprintf("Bench.Body.%d", i), offset: "*"}
	x := r.IntN(100)
	switch {
	case x < 50: // plain hex, 8-24 bytes
		s.toks = []tok{lit(r, r.between(8, 24))}
	case x < 65: // one or two ?? inside
		s.toks = []tok{lit(r, r.between(4, 10))}
		for range r.between(1, 2) {
			s.toks = append(s.toks, tok{kind: tAny})
		}
		s.toks = append(s.toks, lit(r, r.between(4, 10)))
	case x < 80: // small jump
		lo := r.between(0, 4)
		s.toks = []tok{lit(r, r.between(4, 12)), {kind: tJump, lo: lo, hi: lo + r.between(1, 16)}, lit(r, r.between(4, 12))}
	case x < 90: // alternatives of one or two bytes
		w := r.between(1, 2)
		alts := make([][]byte, r.between(2, 3))
		for j := range alts {
			alts[j] = r.bytes(w)
		}
		s.toks = []tok{lit(r, r.between(4, 10)), {kind: tAlt, alts: alts}, lit(r, r.between(4, 10))}
	case x < 95: // at offset 0
		s.offset = "0"
		s.toks = []tok{lit(r, r.between(8, 16))}
	case x < 98: // offset n with up to m bytes of shift
		s.offset = fmt.Sprintf("%d,%d", r.between(0, 4096), r.between(0, 1024))
		s.toks = []tok{lit(r, r.between(8, 16))}
	default: // starts n bytes before the end of the file
		s.offset = fmt.Sprintf("EOF-%d", r.between(32, 512))
		s.toks = []tok{lit(r, r.between(8, 16))}
	}
	return s
}

// ---- YARA rules ----

type yStr struct {
	hex    []byte // hex string bytes, or nil for a text string
	gap    int    // for hex: position of a "?? ??" gap (0: none)
	text   string
	nocase bool
	wide   bool
}

type condKind uint8

const (
	cAny   condKind = iota // any of them
	cAll                   // all of them
	cTwo                   // 2 of them
	cCount                 // #s0 > 1 or all of them
	cMZ                    // uint16(0) == 0x5A4D and any of them
)

type yRule struct {
	name string
	strs []yStr
	cond condKind
}

func (s *yStr) source() string {
	if s.hex != nil {
		var b strings.Builder
		b.WriteString("{ ")
		for i, c := range s.hex {
			if i == s.gap && s.gap > 0 {
				b.WriteString("?? ?? ")
			}
			fmt.Fprintf(&b, "%02X ", c)
		}
		b.WriteString("}")
		return b.String()
	}
	q := `"` + s.text + `"`
	if s.nocase {
		q += " nocase"
	}
	if s.wide {
		q += " ascii wide"
	}
	return q
}

// instance returns bytes matching the string.
func (s *yStr) instance(r *rnd) []byte {
	if s.hex != nil {
		if s.gap == 0 {
			return append([]byte(nil), s.hex...)
		}
		b := append([]byte(nil), s.hex[:s.gap]...)
		b = append(b, r.bytes(2)...)
		return append(b, s.hex[s.gap:]...)
	}
	t := []byte(s.text)
	if s.nocase {
		for i, c := range t {
			if c >= 'a' && c <= 'z' && r.IntN(2) == 0 {
				t[i] = c - 'a' + 'A'
			}
		}
	}
	if s.wide && r.IntN(2) == 0 {
		var b []byte
		for _, u := range utf16.Encode([]rune(string(t))) {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	return t
}

func (y *yRule) condition() string {
	switch y.cond {
	case cAll:
		return "all of them"
	case cTwo:
		return "2 of them"
	case cCount:
		return "#s0 > 1 or all of them"
	case cMZ:
		return "uint16(0) == 0x5A4D and any of them"
	}
	return "any of them"
}

// instance returns the pieces to plant (each at its own place) so that the
// rule matches. Rules with cMZ only match in a file that starts with "MZ".
func (y *yRule) instance(r *rnd) [][]byte {
	var out [][]byte
	switch y.cond {
	case cAll:
		for i := range y.strs {
			out = append(out, y.strs[i].instance(r))
		}
	case cTwo:
		i := r.IntN(len(y.strs))
		j := (i + 1 + r.IntN(len(y.strs)-1)) % len(y.strs)
		out = append(out, y.strs[i].instance(r), y.strs[j].instance(r))
	case cCount:
		out = append(out, y.strs[0].instance(r), y.strs[0].instance(r))
	default:
		out = append(out, y.strs[r.IntN(len(y.strs))].instance(r))
	}
	return out
}

// genRule makes rule i as described in notes/dependencies.md §1.3, without
// the external-variable condition (the yara CLI would need -d for it).
func genRule(r *rnd, i int) yRule {
	y := yRule{name: fmt.Sprintf("Bench_Yara_%d", i)}
	for range r.between(2, 4) {
		var s yStr
		if r.IntN(2) == 0 {
			s.hex = r.bytes(r.between(6, 16))
			if r.IntN(10) == 0 {
				s.gap = r.between(3, len(s.hex)-3)
			}
		} else {
			s.text = pseudoWord(r) + " " + pseudoWord(r)
			switch x := r.IntN(100); {
			case x < 10:
				s.nocase = true
			case x < 15:
				s.wide = true
			}
		}
		y.strs = append(y.strs, s)
	}
	switch x := r.IntN(100); {
	case x < 30:
		y.cond = cAny
	case x < 55:
		y.cond = cAll
	case x < 75:
		y.cond = cTwo
	case x < 85:
		y.cond = cCount
	default:
		y.cond = cMZ
	}
	return y
}

// ---- the set ----

type sigSet struct {
	ndb   []ndbSig
	rules []yRule
}

func newSigSet(p params) *sigSet {
	s := &sigSet{}
	rn := newRnd(p.seed, streamNDB)
	for i := 1; i <= p.ndb; i++ {
		s.ndb = append(s.ndb, genNDB(rn, i))
	}
	ry := newRnd(p.seed, streamYARA)
	for i := 1; i <= p.yara; i++ {
		s.rules = append(s.rules, genRule(ry, i))
	}
	return s
}

func (s *sigSet) writeNDB(w io.Writer) error {
	for i := range s.ndb {
		g := &s.ndb[i]
		if _, err := fmt.Fprintf(w, "%s:0:%s:%s\n", g.name, g.offset, g.hexsig()); err != nil {
			return err
		}
	}
	return nil
}

func (s *sigSet) writeYARA(w io.Writer) error {
	fmt.Fprintf(w, "// Generated by scripts/benchgen for the AVE benchmark. %d rules.\n\n", len(s.rules))
	for i := range s.rules {
		y := &s.rules[i]
		fmt.Fprintf(w, "rule %s\n{\n    meta:\n        description = \"benchmark rule %d\"\n    strings:\n", y.name, i+1)
		for j := range y.strs {
			fmt.Fprintf(w, "        $s%d = %s\n", j, y.strs[j].source())
		}
		if _, err := fmt.Fprintf(w, "    condition:\n        %s\n}\n\n", y.condition()); err != nil {
			return err
		}
	}
	return nil
}
