package sigdb

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"ave/pkg/filetype"
)

// OffsetKind says where a body signature must start.
type OffsetKind uint8

// Offset kinds of ClamAV body signatures that the engine can check.
const (
	OffAny   OffsetKind = iota // "*": anywhere
	OffAbs                     // "n": exactly at n
	OffRange                   // "n,m": anywhere in [n, n+m]
	OffEOF                     // "EOF-n": exactly at len-n; "EOF-n,m": anywhere in [len-n, len-n+m]
)

func (k OffsetKind) String() string {
	switch k {
	case OffAny:
		return "any"
	case OffAbs:
		return "abs"
	case OffRange:
		return "range"
	case OffEOF:
		return "eof"
	}
	return fmt.Sprintf("OffsetKind(%d)", uint8(k))
}

// Offset is the position a body signature must match at. M is 0 unless a
// range ("n,m") was given.
type Offset struct {
	Kind OffsetKind
	N, M int64
}

// String returns the offset in ClamAV syntax.
func (o Offset) String() string {
	var s string
	switch o.Kind {
	case OffAny:
		return "*"
	case OffEOF:
		s = "EOF-" + strconv.FormatInt(o.N, 10)
	default:
		s = strconv.FormatInt(o.N, 10)
	}
	if o.M != 0 || o.Kind == OffRange {
		s += "," + strconv.FormatInt(o.M, 10)
	}
	return s
}

// BodySig is one ClamAV body signature translated for YARA.
type BodySig struct {
	Name   string
	Target int    // ClamAV target type number (0-7, 9 or 10)
	Offset Offset // where the match must start
	Hex    string // YARA hex-string body, e.g. "4D 5A ?? [2-4] ( 41 | 42 )"
	File   string // source file and line, for reports
	Line   int
}

// Untranslatable is a well-formed ClamAV signature the engine cannot use;
// Reason says why. The loader counts and reports these.
type Untranslatable struct {
	File   string
	Line   int
	Name   string
	Reason string
}

// Reasons a signature is untranslatable. Some carry details after a colon.
const (
	reasonTargetNoType    = "target type has no engine file type"
	reasonTargetUnknown   = "unknown target type"
	reasonOffsetEP        = "offset relative to the entry point (EP) is not supported"
	reasonOffsetSection   = "offset relative to a PE section (Sx, SL, SE) is not supported"
	reasonOffsetVI        = "offset relative to version information (VI) is not supported"
	reasonMacro           = "macro signature ($) is not supported"
	reasonNegated         = "negated alternative !(...) is not supported"
	reasonAnchored        = "anchored byte range [n-m] is not supported"
	reasonBoundary        = "boundary marker (B), (L) or (W) is not supported"
	reasonSpecialBrace    = "special {WORD} form is not supported"
	reasonJumpInAlt       = "jump or * inside an alternative is not supported"
	reasonNestedAlt       = "nested alternatives are not supported"
	reasonStartsWithJump  = "signature starts with a jump"
	reasonEndsWithJump    = "signature ends with a jump"
	reasonJumpTooLarge    = "jump larger than 32767 bytes"
	reasonJumpMinTooLarge = "unbounded jump with a minimum above 1 GiB"
	reasonTooShort        = "too short: fewer than 2 concrete bytes"
	reasonTooManyAlts     = "too many alternatives for one YARA regular expression"
	reasonTooLongWildcard = "part with wildcards longer than YARA's 4 KiB scan window"
	reasonNoConcretePart  = "part between long jumps has no concrete byte (it would be tried at every offset of every scan)"
)

// Limits of YARA 4.2 hex strings that the translation respects, so that the
// generated rules always compile and can match (see the reasons above).
const (
	yaraMaxJump        = 32767   // largest bounded jump accepted
	yaraMaxJumpMin     = 1 << 30 // largest minimum of an unbounded jump (YARA: a C int; objects are far smaller)
	yaraChainThreshold = 200     // jumps longer than this split a hex string into chained parts
	yaraMaxSplits      = 120     // alternation branches (minus one each) per part; YARA fails at ~128
	yaraMaxRegexpLen   = 4000    // longest non-literal part; YARA's scan window is 4096
	minConcreteBytes   = 2
)

// ParseNDB reads ClamAV body signatures (.ndb), one per line:
//
//	Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]
//
// and translates each to a YARA hex string. Blank lines and lines starting
// with '#' are skipped; lines may end in CRLF, and trailing blanks are
// ignored. The functionality levels are checked for syntax and otherwise
// ignored.
//
// Hex syntax translated: bytes, "??", nibbles "a?" and "?a", "*" ([-]),
// {n} ([n]), {n-m} ([n-m]), {-n} ([0-n]), {n-} ([n-]) and alternatives
// (aa|bbcc|??) (( AA | BB CC | ?? )). Adjacent jumps are merged, empty
// jumps dropped, a trailing jump of minimum 0 dropped, and so is a leading
// one when the offset is "*".
//
// Signatures that are well formed but cannot be used faithfully are
// returned in skipped with one of these reasons, never dropped silently:
// target type 8, 11 or 12 (no engine file type) or above 12; offsets
// relative to EP, Sx, SL, SE or VI; macros ($); negated alternatives !(..);
// anchored byte ranges [n-m]; boundary markers (B), (L), (W); {WORD} forms;
// jumps or * inside alternatives; nested alternatives; a jump at the start
// or end that cannot be dropped; a bounded jump above 32767; fewer than 2
// concrete bytes; and the YARA limits: more than 120 alternation branches,
// a part with wildcards longer than 4000 bytes, or a part without any
// concrete byte (a "part" is what lies between jumps longer than 200,
// where YARA splits hex strings).
//
// err is set only for malformed lines: wrong field count, empty name,
// non-numeric target or functionality level, bad offset syntax, bad hex
// digit, unbalanced parentheses or other broken hex syntax. It has the form
// "file:line: what is wrong", and sigs and skipped then hold what was read
// before that line.
func ParseNDB(r io.Reader, file string) (sigs []BodySig, skipped []Untranslatable, err error) {
	lr := newSigLineReader(r, file)
	for {
		text, ok, err := lr.next()
		if !ok {
			return sigs, skipped, err
		}
		fields := strings.Split(text, ":")
		if len(fields) < 4 || len(fields) > 6 {
			return sigs, skipped, lr.errorf("want Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]], got %d field(s)", len(fields))
		}
		name, tgt, off, hexsig := fields[0], fields[1], fields[2], fields[3]
		if strings.TrimSpace(name) == "" {
			return sigs, skipped, lr.errorf("empty signature name")
		}
		if !isDecimal(tgt) {
			return sigs, skipped, lr.errorf("non-numeric target type %q", tgt)
		}
		target, err := strconv.Atoi(tgt)
		if err != nil {
			return sigs, skipped, lr.errorf("target type %q out of range", tgt)
		}
		for i, f := range fields[4:] {
			if f != "" && !isDecimal(f) {
				which := "minimum"
				if i == 1 {
					which = "maximum"
				}
				return sigs, skipped, lr.errorf("bad %s functionality level %q", which, f)
			}
		}
		offset, offWhy, err := parseNDBOffset(off)
		if err != nil {
			return sigs, skipped, lr.errorf("%v", err)
		}
		toks, hexWhy, err := lexClamHex(hexsig)
		if err != nil {
			return sigs, skipped, lr.errorf("signature %s: %v", name, err)
		}

		why := targetReason(target)
		if why == "" {
			why = offWhy
		}
		var yhex string
		if why == "" {
			why = hexWhy
		}
		if why == "" {
			yhex, why = toYARAHex(toks, offset.Kind == OffAny)
		}
		if why != "" {
			skipped = append(skipped, Untranslatable{File: file, Line: lr.line, Name: name, Reason: why})
			continue
		}
		sigs = append(sigs, BodySig{Name: name, Target: target, Offset: offset, Hex: yhex, File: file, Line: lr.line})
	}
}

// targetReason returns why target cannot be used, or "".
func targetReason(target int) string {
	switch {
	case target == 8 || target == 11 || target == 12:
		return fmt.Sprintf("%s: %d", reasonTargetNoType, target)
	case target > 12:
		return fmt.Sprintf("%s: %d", reasonTargetUnknown, target)
	}
	return ""
}

// targetTypes maps the ClamAV target types the engine supports to its own
// content type names. Target 0 (any) is not listed.
var targetTypes = map[int][]string{
	1:  {string(filetype.PE)},
	2:  {string(filetype.OLE2)},
	3:  {string(filetype.HTML)},
	4:  {string(filetype.Mail)},
	5:  {string(filetype.PNG), string(filetype.JPEG), string(filetype.GIF)},
	6:  {string(filetype.ELF)},
	7:  {string(filetype.Text)},
	9:  {string(filetype.MachO)},
	10: {string(filetype.PDF)},
}

// parseNDBOffset parses the offset field. It returns a reason when the
// offset is valid ClamAV syntax the engine does not support, and an error
// when it is not valid syntax.
func parseNDBOffset(s string) (Offset, string, error) {
	bad := func() (Offset, string, error) {
		return Offset{}, "", fmt.Errorf("bad offset %q", s)
	}
	// num parses "n" or "n,m"; ok is false on bad syntax or overflow.
	num := func(t string) (n, m int64, hasM, ok bool) {
		a, b, hasM := strings.Cut(t, ",")
		if !isDecimal(a) || (hasM && !isDecimal(b)) {
			return 0, 0, false, false
		}
		var err error
		if n, err = strconv.ParseInt(a, 10, 64); err != nil {
			return 0, 0, false, false
		}
		if hasM {
			if m, err = strconv.ParseInt(b, 10, 64); err != nil {
				return 0, 0, false, false
			}
		}
		return n, m, hasM, true
	}
	switch {
	case s == "*":
		return Offset{Kind: OffAny}, "", nil
	case s == "VI":
		return Offset{}, reasonOffsetVI, nil
	case strings.HasPrefix(s, "EOF-"):
		n, m, _, ok := num(s[4:])
		if !ok {
			return bad()
		}
		return Offset{Kind: OffEOF, N: n, M: m}, "", nil
	case strings.HasPrefix(s, "EP+"), strings.HasPrefix(s, "EP-"):
		if _, _, _, ok := num(s[3:]); !ok {
			return bad()
		}
		return Offset{}, reasonOffsetEP, nil
	case strings.HasPrefix(s, "SE"):
		if _, _, _, ok := num(s[2:]); !ok {
			return bad()
		}
		return Offset{}, reasonOffsetSection, nil
	case strings.HasPrefix(s, "SL+"), strings.HasPrefix(s, "SL-"):
		if _, _, _, ok := num(s[3:]); !ok {
			return bad()
		}
		return Offset{}, reasonOffsetSection, nil
	case strings.HasPrefix(s, "S"):
		i := strings.IndexAny(s, "+-")
		if i < 2 || !isDecimal(s[1:i]) {
			return bad()
		}
		if _, _, _, ok := num(s[i+1:]); !ok {
			return bad()
		}
		return Offset{}, reasonOffsetSection, nil
	}
	n, m, hasM, ok := num(s)
	if !ok {
		return bad()
	}
	if hasM {
		return Offset{Kind: OffRange, N: n, M: m}, "", nil
	}
	return Offset{Kind: OffAbs, N: n}, "", nil
}

// Hex-signature tokens.
type hexTokKind uint8

const (
	tokByte hexTokKind = iota
	tokJump
	tokAlt
)

type hexTok struct {
	kind hexTokKind
	// tokByte: the byte and which of its bits are fixed (0xFF full byte,
	// 0xF0 "a?", 0x0F "?a", 0x00 "??").
	val, mask byte
	// tokJump: min and max bytes skipped; max < 0 means unbounded.
	min, max int64
	// tokAlt: the branches, each a sequence of tokByte.
	alts [][]hexTok
}

func isHexOrQ(c byte) bool {
	return c == '?' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func isWordChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return true
}

// parseJump parses the inside of "{...}": "n", "n-", "-n" or "n-m".
func parseJump(s string) (min, max int64, err error) {
	bad := fmt.Errorf("bad jump {%s}", s)
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		if !isDecimal(a) {
			return 0, 0, bad
		}
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return 0, 0, bad
		}
		return n, n, nil
	}
	if a == "" && b == "" || (a != "" && !isDecimal(a)) || (b != "" && !isDecimal(b)) {
		return 0, 0, bad
	}
	max = -1
	if a != "" {
		if min, err = strconv.ParseInt(a, 10, 64); err != nil {
			return 0, 0, bad
		}
	}
	if b != "" {
		if max, err = strconv.ParseInt(b, 10, 64); err != nil {
			return 0, 0, bad
		}
		if min > max {
			return 0, 0, fmt.Errorf("jump {%s} has its minimum above its maximum", s)
		}
	}
	return min, max, nil
}

// lexClamHex splits a ClamAV hex signature into tokens. It returns an error
// for syntax that is broken, and otherwise the first reason (if any) why the
// signature uses a construct that cannot be translated. Lexing continues
// past untranslatable constructs so that a broken signature is always an
// error.
func lexClamHex(s string) (toks []hexTok, why string, err error) {
	if s == "" {
		return nil, "", fmt.Errorf("empty hex signature")
	}
	setWhy := func(r string) {
		if why == "" {
			why = r
		}
	}
	depth := 0          // parenthesis depth
	var alt *hexTok     // the alternative being read at depth 1
	var branch []hexTok // its current branch
	items := 0          // constructs seen in the current branch
	altOpened := -1     // index in s of the '(' of alt
	emit := func(t hexTok) {
		switch depth {
		case 0:
			toks = append(toks, t)
		case 1:
			branch = append(branch, t)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if depth > 0 && c != '|' && c != ')' {
			items++
		}
		switch {
		case isHexOrQ(c):
			if i+1 >= len(s) {
				return nil, "", fmt.Errorf("odd number of hex digits")
			}
			if !isHexOrQ(s[i+1]) {
				return nil, "", fmt.Errorf("bad hex digit %q at position %d", s[i+1], i+1)
			}
			hi, lo := c, s[i+1]
			t := hexTok{kind: tokByte}
			if hi != '?' {
				t.val |= unhex(hi) << 4
				t.mask |= 0xF0
			}
			if lo != '?' {
				t.val |= unhex(lo)
				t.mask |= 0x0F
			}
			emit(t)
			i++

		case c == '*':
			if depth > 0 {
				setWhy(reasonJumpInAlt)
				continue
			}
			emit(hexTok{kind: tokJump, min: 0, max: -1})

		case c == '{':
			j := strings.IndexByte(s[i+1:], '}')
			if j < 0 {
				return nil, "", fmt.Errorf("unterminated { at position %d", i)
			}
			body := s[i+1 : i+1+j]
			i += j + 1
			if isWordChars(body) {
				setWhy(reasonSpecialBrace)
				continue
			}
			min, max, err := parseJump(body)
			if err != nil {
				return nil, "", err
			}
			if depth > 0 {
				setWhy(reasonJumpInAlt)
				continue
			}
			emit(hexTok{kind: tokJump, min: min, max: max})

		case c == '[':
			j := strings.IndexByte(s[i+1:], ']')
			if j < 0 {
				return nil, "", fmt.Errorf("unterminated [ at position %d", i)
			}
			i += j + 1
			setWhy(reasonAnchored)

		case c == '$':
			// ${min-max}id$
			j := strings.IndexByte(s[i+1:], '$')
			if j < 0 {
				return nil, "", fmt.Errorf("unterminated macro at position %d", i)
			}
			i += j + 1
			setWhy(reasonMacro)

		case c == '!':
			if i+1 >= len(s) || s[i+1] != '(' {
				return nil, "", fmt.Errorf("'!' not followed by '(' at position %d", i)
			}
			setWhy(reasonNegated)

		case c == '(':
			if m := s[i+1:]; len(m) >= 2 && m[1] == ')' && (m[0] == 'B' || m[0] == 'L' || m[0] == 'W') {
				setWhy(reasonBoundary)
				i += 2
				continue
			}
			depth++
			if depth == 1 {
				alt = &hexTok{kind: tokAlt}
				branch, items, altOpened = nil, 0, i
			} else {
				setWhy(reasonNestedAlt)
			}

		case c == '|':
			if depth == 0 {
				return nil, "", fmt.Errorf("'|' outside parentheses at position %d", i)
			}
			if depth == 1 {
				if items == 0 {
					return nil, "", fmt.Errorf("empty alternative at position %d", i)
				}
				alt.alts = append(alt.alts, branch)
				branch, items = nil, 0
			}

		case c == ')':
			if depth == 0 {
				return nil, "", fmt.Errorf("unbalanced parentheses: ')' at position %d", i)
			}
			if depth == 1 {
				if items == 0 {
					return nil, "", fmt.Errorf("empty alternative at position %d", i)
				}
				alt.alts = append(alt.alts, branch)
				a := *alt
				alt, branch = nil, nil
				depth = 0
				emit(a)
				continue
			}
			depth--

		default:
			return nil, "", fmt.Errorf("bad hex digit %q at position %d", c, i)
		}
	}
	if depth > 0 {
		return nil, "", fmt.Errorf("unbalanced parentheses: '(' at position %d is not closed", altOpened)
	}
	return toks, why, nil
}

// toYARAHex turns lexed tokens into a YARA hex-string body, or returns why
// YARA cannot express them. anyOffset allows a leading jump of minimum 0 to
// be dropped (it does not change where a match may be found).
func toYARAHex(in []hexTok, anyOffset bool) (string, string) {
	// Inline one-branch alternatives, merge adjacent jumps, drop empty jumps.
	toks := make([]hexTok, 0, len(in))
	for _, t := range in {
		switch {
		case t.kind == tokAlt && len(t.alts) == 1:
			toks = append(toks, t.alts[0]...)
		case t.kind == tokJump && len(toks) > 0 && toks[len(toks)-1].kind == tokJump:
			p := &toks[len(toks)-1]
			p.min = satAdd(p.min, t.min)
			if p.max < 0 || t.max < 0 {
				p.max = -1
			} else {
				p.max = satAdd(p.max, t.max)
			}
		default:
			toks = append(toks, t)
		}
	}
	toks = dropEmptyJumps(toks)

	if len(toks) > 0 && toks[0].kind == tokJump {
		if !anyOffset || toks[0].min != 0 {
			return "", reasonStartsWithJump
		}
		toks = toks[1:]
	}
	if n := len(toks); n > 0 && toks[n-1].kind == tokJump {
		if toks[n-1].min != 0 {
			return "", reasonEndsWithJump
		}
		toks = toks[:n-1]
	}

	concrete := 0
	for _, t := range toks {
		switch t.kind {
		case tokByte:
			if t.mask == 0xFF {
				concrete++
			}
		case tokJump:
			if t.max > yaraMaxJump {
				return "", reasonJumpTooLarge
			}
			// An unbounded jump may start far ("{40000-}"), but YARA
			// reads the number as a C int: "{3000000000}*" merges into
			// one it takes for a negative length and refuses.
			if t.min > yaraMaxJumpMin {
				return "", reasonJumpMinTooLarge
			}
		case tokAlt:
			least := math.MaxInt
			for _, b := range t.alts {
				least = min(least, fullBytes(b))
			}
			concrete += least
		}
	}
	if concrete < minConcreteBytes {
		return "", reasonTooShort
	}
	if why := checkYARAParts(toks); why != "" {
		return "", why
	}

	var sb strings.Builder
	for i, t := range toks {
		if i > 0 {
			sb.WriteByte(' ')
		}
		switch t.kind {
		case tokByte:
			writeHexByte(&sb, t)
		case tokJump:
			switch {
			case t.max < 0 && t.min == 0:
				sb.WriteString("[-]")
			case t.max < 0:
				fmt.Fprintf(&sb, "[%d-]", t.min)
			case t.min == t.max:
				fmt.Fprintf(&sb, "[%d]", t.min)
			default:
				fmt.Fprintf(&sb, "[%d-%d]", t.min, t.max)
			}
		case tokAlt:
			sb.WriteString("(")
			for k, b := range t.alts {
				if k > 0 {
					sb.WriteString(" |")
				}
				for _, bt := range b {
					sb.WriteByte(' ')
					writeHexByte(&sb, bt)
				}
			}
			sb.WriteString(" )")
		}
	}
	return sb.String(), ""
}

func dropEmptyJumps(toks []hexTok) []hexTok {
	out := toks[:0]
	for _, t := range toks {
		if t.kind == tokJump && t.min == 0 && t.max == 0 {
			continue
		}
		out = append(out, t)
	}
	return out
}

// checkYARAParts checks the limits YARA applies to each part of a hex
// string between long jumps (YARA matches those parts separately and
// chains them).
func checkYARAParts(toks []hexTok) string {
	splits, length, literal, concrete := 0, int64(0), true, 0
	flush := func() string {
		if concrete == 0 {
			return reasonNoConcretePart
		}
		if splits > yaraMaxSplits {
			return reasonTooManyAlts
		}
		if !literal && length > yaraMaxRegexpLen {
			return reasonTooLongWildcard
		}
		splits, length, literal, concrete = 0, 0, true, 0
		return ""
	}
	for _, t := range toks {
		switch t.kind {
		case tokByte:
			length++
			if t.mask != 0xFF {
				literal = false
			} else {
				concrete++
			}
		case tokAlt:
			literal = false
			splits += len(t.alts) - 1
			longest, least := 0, math.MaxInt
			for _, b := range t.alts {
				longest = max(longest, len(b))
				least = min(least, fullBytes(b))
			}
			length += int64(longest)
			concrete += least
		case tokJump:
			if t.max < 0 || t.min > yaraChainThreshold || t.max > yaraChainThreshold {
				if why := flush(); why != "" {
					return why
				}
				continue
			}
			literal = false
			length += t.max
		}
	}
	return flush()
}

func fullBytes(b []hexTok) int {
	n := 0
	for _, t := range b {
		if t.mask == 0xFF {
			n++
		}
	}
	return n
}

const hexDigits = "0123456789ABCDEF"

func writeHexByte(sb *strings.Builder, t hexTok) {
	if t.mask&0xF0 != 0 {
		sb.WriteByte(hexDigits[t.val>>4])
	} else {
		sb.WriteByte('?')
	}
	if t.mask&0x0F != 0 {
		sb.WriteByte(hexDigits[t.val&0x0F])
	} else {
		sb.WriteByte('?')
	}
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// BodyBundleSize is the number of signatures per generated YARA rule.
const BodyBundleSize = 1000

// bodyRuleName starts the name of every rule YARASource generates; the
// rest of the name is the bundle number. (The loader's BodyRulePrefix has
// the same value.)
const bodyRuleName = "ave_body_"

// BodySet is an immutable, indexed set of translated body signatures. It is
// safe for concurrent use.
type BodySet struct {
	sigs   []BodySig
	filter *anchorFilter
}

// NewBodySet returns a set of copies of sigs, which must come from
// ParseNDB. Signature i of the set is sigs[i].
func NewBodySet(sigs []BodySig) *BodySet {
	s := &BodySet{sigs: append([]BodySig(nil), sigs...)}
	s.filter = newAnchorFilter(s.sigs)
	return s
}

// MayMatch reports whether some signature of the set may match data. When
// it returns false, no signature's YARA string (from YARASource) matches
// data: data holds none of the fixed byte runs ("anchors") that every match
// contains. It is cheap (about a nanosecond a byte), so that the body rules
// are only run on the rare objects that hold an anchor.
func (s *BodySet) MayMatch(data []byte) bool {
	if s.Len() == 0 {
		return false
	}
	return s.filter.mayMatch(data)
}

// Len returns the number of signatures.
func (s *BodySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.sigs)
}

// Sig returns signature i.
func (s *BodySet) Sig(i int) BodySig { return s.sigs[i] }

// YARASource returns YARA rules for all signatures: ceil(Len/BodyBundleSize)
// rules named "ave_body_<k>", k = 0, 1, ..., each holding up to
// BodyBundleSize strings "$b<i>" (i is the signature's index in the set)
// and the condition "any of them". Offsets and targets are not in the
// rules: check every matched string with Confirm. An empty set gives "".
func (s *BodySet) YARASource() string {
	if s.Len() == 0 {
		return ""
	}
	var sb strings.Builder
	size := 0
	for _, g := range s.sigs {
		size += len(g.Hex) + 20
	}
	sb.Grow(size + (len(s.sigs)/BodyBundleSize+1)*80)
	for k := 0; k*BodyBundleSize < len(s.sigs); k++ {
		fmt.Fprintf(&sb, "rule %s%d\n{\n\tstrings:\n", bodyRuleName, k)
		end := min((k+1)*BodyBundleSize, len(s.sigs))
		for i := k * BodyBundleSize; i < end; i++ {
			fmt.Fprintf(&sb, "\t\t$b%d = { %s }\n", i, s.sigs[i].Hex)
		}
		sb.WriteString("\tcondition:\n\t\tany of them\n}\n\n")
	}
	return sb.String()
}

// BodyStringIndex returns i for a YARA string identifier "$b<i>" (as
// reported in matches of the rules from YARASource).
func BodyStringIndex(id string) (int, bool) {
	d, ok := strings.CutPrefix(id, "$b")
	if !ok || !isDecimal(d) {
		return 0, false
	}
	i, err := strconv.Atoi(d)
	return i, err == nil
}

// Confirm reports whether signature i really matches an object of length
// objLen and engine content type filetype (see package filetype), given the
// offsets at which YARA found the signature's string. It checks the ClamAV
// target type (1 PE, 2 OLE2, 3 HTML, 4 mail, 5 PNG/JPEG/GIF, 6 ELF, 7 text,
// 9 Mach-O, 10 PDF; 0 any) and the offset. Targets 3 and 7 are matched on
// the raw bytes: ClamAV normalizes HTML and text before matching them.
func (s *BodySet) Confirm(i int, offsets []int64, objLen int64, filetype string) bool {
	if i < 0 || i >= s.Len() || len(offsets) == 0 {
		return false
	}
	g := &s.sigs[i]
	if g.Target != 0 {
		ok := false
		for _, t := range targetTypes[g.Target] {
			if t == filetype {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	var lo, hi int64
	switch g.Offset.Kind {
	case OffAny:
		return true
	case OffAbs, OffRange:
		lo = g.Offset.N
	case OffEOF:
		lo = objLen - g.Offset.N
	default:
		return false
	}
	hi = satAdd(lo, g.Offset.M)
	for _, o := range offsets {
		if o >= lo && o <= hi {
			return true
		}
	}
	return false
}
