package sigdb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	yara "github.com/hillu/go-yara/v4"
)

func parseOne(t *testing.T, line string) (BodySig, *Untranslatable, error) {
	t.Helper()
	sigs, skipped, err := ParseNDB(strings.NewReader(line+"\n"), "t.ndb")
	if err != nil {
		return BodySig{}, nil, err
	}
	if len(sigs)+len(skipped) != 1 {
		t.Fatalf("got %d sigs and %d skipped, want exactly one", len(sigs), len(skipped))
	}
	if len(skipped) == 1 {
		return BodySig{}, &skipped[0], nil
	}
	return sigs[0], nil, nil
}

// translations maps ClamAV hex (offset "*") to the expected YARA hex. Every
// entry is also compiled by TestYARACompilesEverySyntax.
var translations = []struct {
	name, clam, yara string
}{
	{"bytes", "4d5a9000", "4D 5A 90 00"},
	{"uppercase input", "4D5A9000", "4D 5A 90 00"},
	{"wildcard ??", "4d??5a", "4D ?? 5A"},
	{"high nibble a?", "4d5?00", "4D 5? 00"},
	{"low nibble ?a", "4d?a00", "4D ?A 00"},
	{"star", "4142*4344", "41 42 [-] 43 44"},
	{"jump {n}", "4142{4}4344", "41 42 [4] 43 44"},
	{"jump {n-m}", "4142{2-8}4344", "41 42 [2-8] 43 44"},
	{"jump {-n}", "4142{-5}4344", "41 42 [0-5] 43 44"},
	{"jump {n-}", "4142{5-}4344", "41 42 [5-] 43 44"},
	{"jump {0-}", "4142{0-}4344", "41 42 [-] 43 44"},
	{"jump {n-n}", "4142{3-3}4344", "41 42 [3] 43 44"},
	{"jump {0} dropped", "4142{0}4344", "41 42 43 44"},
	{"jump {0-0} dropped", "4142{0-0}4344", "41 42 43 44"},
	{"adjacent jumps merged", "4142{2}{3-4}4344", "41 42 [5-6] 43 44"},
	{"jump then star merged", "4142{2}*4344", "41 42 [2-] 43 44"},
	{"largest bounded jump", "4142{32767}4344", "41 42 [32767] 43 44"},
	{"long jump range", "4142{300-20000}4344", "41 42 [300-20000] 43 44"},
	{"unbounded jump with large minimum", "4142{40000-}4344", "41 42 [40000-] 43 44"},
	{"alternatives of single bytes", "4142(43|44|45)46", "41 42 ( 43 | 44 | 45 ) 46"},
	{"alternatives of different lengths", "4142(aa|bbcc|dd)", "41 42 ( AA | BB CC | DD )"},
	{"alternatives with wildcards", "4142(??|4?|?5)43", "41 42 ( ?? | 4? | ?5 ) 43"},
	{"alternative at the start", "(41|42)4344", "( 41 | 42 ) 43 44"},
	{"only alternatives", "(4142|4344)(45|46)", "( 41 42 | 43 44 ) ( 45 | 46 )"},
	{"one-branch alternative inlined", "41(42)43", "41 42 43"},
	{"leading star dropped", "*41424344", "41 42 43 44"},
	{"leading {-n} dropped", "{-10}41424344", "41 42 43 44"},
	{"trailing star dropped", "41424344*", "41 42 43 44"},
	{"trailing {-n} dropped", "41424344{-3}", "41 42 43 44"},
	{"leading and trailing wildcards kept", "??4142??", "?? 41 42 ??"},
	{"everything", "4d5a??5?{2-4}?a*(41|4243|??)00{10-}01{-3}02{300-400}0304",
		"4D 5A ?? 5? [2-4] ?A [-] ( 41 | 42 43 | ?? ) 00 [10-] 01 [0-3] 02 [300-400] 03 04"},
}

func TestTranslate(t *testing.T) {
	for _, tt := range translations {
		t.Run(tt.name, func(t *testing.T) {
			sig, skip, err := parseOne(t, "Test.Sig:0:*:"+tt.clam)
			if err != nil {
				t.Fatal(err)
			}
			if skip != nil {
				t.Fatalf("skipped: %s", skip.Reason)
			}
			if sig.Hex != tt.yara {
				t.Errorf("Hex = %q, want %q", sig.Hex, tt.yara)
			}
			if sig.Name != "Test.Sig" || sig.File != "t.ndb" || sig.Line != 1 {
				t.Errorf("sig = %+v", sig)
			}
		})
	}
}

func TestUntranslatable(t *testing.T) {
	manyAlts := strings.Repeat("41(42|43)", yaraMaxSplits+1)
	tests := []struct {
		name, line, reason string
	}{
		{"target 8 unused", "S:8:*:41424344", reasonTargetNoType + ": 8"},
		{"target 11 flash", "S:11:*:41424344", reasonTargetNoType + ": 11"},
		{"target 12 java", "S:12:*:41424344", reasonTargetNoType + ": 12"},
		{"target 13 unknown", "S:13:*:41424344", reasonTargetUnknown + ": 13"},
		{"offset EP+", "S:1:EP+10:41424344", reasonOffsetEP},
		{"offset EP- with range", "S:1:EP-10,20:41424344", reasonOffsetEP},
		{"offset Sx+", "S:1:S2+5:41424344", reasonOffsetSection},
		{"offset SL+", "S:1:SL+0:41424344", reasonOffsetSection},
		{"offset SE", "S:1:SE1:41424344", reasonOffsetSection},
		{"offset VI", "S:1:VI:41424344", reasonOffsetVI},
		{"macro", "S:0:*:4142${6-7}12$4344", reasonMacro},
		{"negated alternative", "S:0:*:4142!(43|44)4546", reasonNegated},
		{"anchored byte range", "S:0:*:41[1-2]424344", reasonAnchored},
		{"boundary (B)", "S:0:*:(B)41424344", reasonBoundary},
		{"boundary (L)", "S:0:*:41424344(L)", reasonBoundary},
		{"boundary (W)", "S:0:*:4142(W)4344", reasonBoundary},
		{"special {WORD}", "S:0:*:4142{WORD}4344", reasonSpecialBrace},
		{"star inside alternative", "S:0:*:41(42*43|44)4546", reasonJumpInAlt},
		{"jump inside alternative", "S:0:*:41(42{2}43|44)4546", reasonJumpInAlt},
		{"nested alternatives", "S:0:*:41((42|43)|44)4546", reasonNestedAlt},
		{"starts with jump (minimum > 0)", "S:0:*:{2}41424344", reasonStartsWithJump},
		{"starts with star at absolute offset", "S:0:0:*41424344", reasonStartsWithJump},
		{"ends with jump", "S:0:*:41424344{2}", reasonEndsWithJump},
		{"ends with unbounded jump with minimum", "S:0:*:41424344{2-}", reasonEndsWithJump},
		{"jump too large", "S:0:*:4142{40000}4344", reasonJumpTooLarge},
		{"jump range too large", "S:0:*:4142{0-40000}4344", reasonJumpTooLarge},
		{"unbounded jump with too large a minimum", "S:0:*:4142{1073741825-}4344", reasonJumpMinTooLarge},
		// {n} then * merge into one unbounded jump: its minimum counts (YARA
		// read 2466666664 as a negative length and refused the rule).
		{"merged jump beyond 32 bits", "S:0:*:4142{2466666664}*4344", reasonJumpMinTooLarge},
		{"too short: one byte", "S:0:*:41", reasonTooShort},
		{"too short: wildcards", "S:0:*:41????", reasonTooShort},
		{"too short: nibbles", "S:0:*:4?4?4?4?", reasonTooShort},
		{"too short: only jumps", "S:0:*:*{0}*", reasonTooShort},
		{"too short: alternative with a wildcard branch", "S:0:*:41(42|??)", reasonTooShort},
		{"too many alternatives", "S:0:*:" + manyAlts, reasonTooManyAlts},
		{"wildcard part too long", "S:0:*:41" + strings.Repeat("??", 4100) + "42", reasonTooLongWildcard},
		{"part without concrete byte", "S:0:*:4142{300}????{300}4344", reasonNoConcretePart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, skip, err := parseOne(t, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if skip == nil {
				t.Fatal("translated, want skipped")
			}
			if skip.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", skip.Reason, tt.reason)
			}
			if skip.Name != "S" || skip.File != "t.ndb" || skip.Line != 1 {
				t.Errorf("skipped = %+v", skip)
			}
		})
	}
}

func TestNDBMalformed(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"too few fields", "N:0:*", "got 3 field(s)"},
		{"too many fields", "N:0:*:41424344:1:2:3", "got 7 field(s)"},
		{"empty name", ":0:*:41424344", "empty signature name"},
		{"blank name", "  :0:*:41424344", "empty signature name"},
		{"non-numeric target", "N:x:*:41424344", "non-numeric target type"},
		{"negative target", "N:-1:*:41424344", "non-numeric target type"},
		{"empty target", "N::*:41424344", "non-numeric target type"},
		{"huge target", "N:99999999999999999999:*:41424344", "out of range"},
		{"bad min flevel", "N:0:*:41424344:abc", "bad minimum functionality level"},
		{"bad max flevel", "N:0:*:41424344:1:x", "bad maximum functionality level"},
		{"offset EOF+", "N:0:EOF+5:41424344", `bad offset "EOF+5"`},
		{"offset word", "N:0:abc:41424344", "bad offset"},
		{"offset empty", "N:0::41424344", "bad offset"},
		{"offset trailing comma", "N:0:5,:41424344", "bad offset"},
		{"offset negative", "N:0:-5:41424344", "bad offset"},
		{"offset EP without number", "N:1:EP+:41424344", "bad offset"},
		{"offset S without section", "N:1:S+4:41424344", "bad offset"},
		{"offset overflow", "N:0:99999999999999999999:41424344", "bad offset"},
		{"empty hex", "N:0:*:", "empty hex signature"},
		{"bad hex digit", "N:0:*:41g24344", "bad hex digit 'g'"},
		{"space in hex", "N:0:*:41 424344", "bad hex digit ' '"},
		{"odd hex digits", "N:0:*:414243444", "odd number of hex digits"},
		{"unclosed parenthesis", "N:0:*:41(4243", "unbalanced parentheses"},
		{"stray close parenthesis", "N:0:*:4142)43", "unbalanced parentheses"},
		{"empty alternative branch", "N:0:*:41(|42)43", "empty alternative"},
		{"empty parentheses", "N:0:*:41()4243", "empty alternative"},
		{"pipe outside parentheses", "N:0:*:41|4243", "'|' outside parentheses"},
		{"bang without parenthesis", "N:0:*:41!4243", "'!' not followed by '('"},
		{"empty jump", "N:0:*:41{}4243", "bad jump {}"},
		{"jump dash only", "N:0:*:41{-}4243", "bad jump {-}"},
		{"jump junk", "N:0:*:41{1x}4243", "bad jump {1x}"},
		{"jump min above max", "N:0:*:41{5-3}4243", "minimum above its maximum"},
		{"jump overflow", "N:0:*:41{99999999999999999999}4243", "bad jump"},
		{"unterminated jump", "N:0:*:41{54243", "unterminated {"},
		{"unterminated anchor", "N:0:*:41[1-24243", "unterminated ["},
		{"unterminated macro", "N:0:*:41${1-2}34243", "unterminated macro"},
		{"bad hex after untranslatable construct", "N:0:*:41[1-2]42zz", "bad hex digit 'z'"},
		{"malformed wins over bad target", "N:13:*:41zz", "bad hex digit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := "# comment\n\nOk.Sig:0:*:41424344\n" + tt.line + "\nLater:0:*:41424344\n"
			sigs, _, err := ParseNDB(strings.NewReader(input), "db/x.ndb")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "db/x.ndb:4: ") {
				t.Errorf("error %q does not start with file:line", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if len(sigs) != 1 || sigs[0].Name != "Ok.Sig" {
				t.Errorf("sigs before the error = %+v", sigs)
			}
		})
	}
}

func TestNDBOffsetsAndFields(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		target int
		off    Offset
	}{
		{"any", "N:0:*:41424344", 0, Offset{Kind: OffAny}},
		{"absolute", "N:1:512:41424344", 1, Offset{Kind: OffAbs, N: 512}},
		{"range", "N:2:100,50:41424344", 2, Offset{Kind: OffRange, N: 100, M: 50}},
		{"eof", "N:6:EOF-20:41424344", 6, Offset{Kind: OffEOF, N: 20}},
		{"eof range", "N:10:EOF-20,10:41424344", 10, Offset{Kind: OffEOF, N: 20, M: 10}},
		{"min flevel", "N:3:*:41424344:51", 3, Offset{Kind: OffAny}},
		{"min and max flevel", "N:7:*:41424344:51:255", 7, Offset{Kind: OffAny}},
		{"empty max flevel", "N:9:*:41424344:51:", 9, Offset{Kind: OffAny}},
		{"crlf", "N:5:0:41424344\r", 5, Offset{Kind: OffAbs}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, skip, err := parseOne(t, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if skip != nil {
				t.Fatalf("skipped: %s", skip.Reason)
			}
			if sig.Target != tt.target || sig.Offset != tt.off || sig.Hex != "41 42 43 44" {
				t.Errorf("got target %d offset %+v hex %q; want %d %+v", sig.Target, sig.Offset, sig.Hex, tt.target, tt.off)
			}
		})
	}
}

func TestOffsetString(t *testing.T) {
	tests := []struct {
		off  Offset
		want string
	}{
		{Offset{Kind: OffAny}, "*"},
		{Offset{Kind: OffAbs, N: 5}, "5"},
		{Offset{Kind: OffRange, N: 5, M: 0}, "5,0"},
		{Offset{Kind: OffRange, N: 5, M: 3}, "5,3"},
		{Offset{Kind: OffEOF, N: 7}, "EOF-7"},
		{Offset{Kind: OffEOF, N: 7, M: 2}, "EOF-7,2"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.off.String(); got != tt.want {
				t.Errorf("String() = %q", got)
			}
			if o, why, err := parseNDBOffset(tt.want); err != nil || why != "" || o != tt.off {
				t.Errorf("parse back = %+v %q %v", o, why, err)
			}
		})
	}
}

func TestNDBSkipsCommentsAndBlankLines(t *testing.T) {
	in := "\xef\xbb\xbf# header\r\n\r\n   \n  # indented comment\nA:0:*:41424344\r\nB:0:EP+0:41424344\n"
	sigs, skipped, err := ParseNDB(strings.NewReader(in), "c.ndb")
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || sigs[0].Name != "A" || sigs[0].Line != 5 {
		t.Errorf("sigs = %+v", sigs)
	}
	if len(skipped) != 1 || skipped[0].Name != "B" || skipped[0].Line != 6 {
		t.Errorf("skipped = %+v", skipped)
	}
}

func TestNDBLongLine(t *testing.T) {
	hex := strings.Repeat("41", 40000) // 80 KB line, literal: translatable
	sigs, skipped, err := ParseNDB(strings.NewReader("Long:0:*:"+hex+"\n"), "l.ndb")
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || len(skipped) != 0 {
		t.Fatalf("sigs %d skipped %d", len(sigs), len(skipped))
	}
	_, _, err = ParseNDB(strings.NewReader("ok:0:*:4142\nLong:0:*:"+strings.Repeat("41", maxSigLine)+"\n"), "l.ndb")
	if err == nil || !strings.HasPrefix(err.Error(), "l.ndb:2: line longer than") {
		t.Errorf("err = %v", err)
	}
}

func TestConfirmOffsets(t *testing.T) {
	set := NewBodySet([]BodySig{
		{Name: "any", Offset: Offset{Kind: OffAny}},
		{Name: "abs", Offset: Offset{Kind: OffAbs, N: 10}},
		{Name: "range", Offset: Offset{Kind: OffRange, N: 10, M: 5}},
		{Name: "eof", Offset: Offset{Kind: OffEOF, N: 4}},
		{Name: "eofrange", Offset: Offset{Kind: OffEOF, N: 10, M: 3}},
		{Name: "hugerange", Offset: Offset{Kind: OffRange, N: 10, M: 1<<63 - 1}},
	})
	tests := []struct {
		name    string
		i       int
		offsets []int64
		objLen  int64
		want    bool
	}{
		{"any: match anywhere", 0, []int64{12345}, 20000, true},
		{"any: no offsets", 0, nil, 100, false},
		{"abs: exact", 1, []int64{10}, 100, true},
		{"abs: one of several", 1, []int64{3, 10, 50}, 100, true},
		{"abs: off by one", 1, []int64{9, 11}, 100, false},
		{"range: start", 2, []int64{10}, 100, true},
		{"range: end inclusive", 2, []int64{15}, 100, true},
		{"range: past end", 2, []int64{16}, 100, false},
		{"range: before start", 2, []int64{9}, 100, false},
		{"eof: exact", 3, []int64{96}, 100, true},
		{"eof: not at eof", 3, []int64{95, 97}, 100, false},
		{"eof: object shorter than n", 3, []int64{0}, 2, false},
		{"eof range: start", 4, []int64{90}, 100, true},
		{"eof range: end", 4, []int64{93}, 100, true},
		{"eof range: after", 4, []int64{94}, 100, false},
		{"range: saturating end", 5, []int64{1 << 62}, 1 << 62, true},
		{"index out of range", 6, []int64{0}, 100, false},
		{"negative index", -1, []int64{0}, 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := set.Confirm(tt.i, tt.offsets, tt.objLen, "binary"); got != tt.want {
				t.Errorf("Confirm = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConfirmTargets(t *testing.T) {
	tests := []struct {
		target   int
		filetype string
		want     bool
	}{
		{0, "binary", true},
		{0, "pe", true},
		{1, "pe", true},
		{1, "elf", false},
		{2, "ole2", true},
		{2, "zip", false},
		{3, "html", true},
		{3, "text", false},
		{4, "mail", true},
		{4, "html", false},
		{5, "png", true},
		{5, "jpeg", true},
		{5, "gif", true},
		{5, "pdf", false},
		{6, "elf", true},
		{6, "pe", false},
		{7, "text", true},
		{7, "binary", false},
		{9, "macho", true},
		{9, "elf", false},
		{10, "pdf", true},
		{10, "text", false},
		{8, "binary", false}, // never produced by ParseNDB
		{42, "binary", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("target %d on %s", tt.target, tt.filetype), func(t *testing.T) {
			set := NewBodySet([]BodySig{{Name: "x", Target: tt.target, Offset: Offset{Kind: OffAny}}})
			if got := set.Confirm(0, []int64{0}, 10, tt.filetype); got != tt.want {
				t.Errorf("Confirm = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBodyStringIndex(t *testing.T) {
	tests := []struct {
		id   string
		want int
		ok   bool
	}{
		{"$b0", 0, true},
		{"$b12345", 12345, true},
		{"$b", 0, false},
		{"$a1", 0, false},
		{"b1", 0, false},
		{"$b1x", 0, false},
		{"$b-1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, ok := BodyStringIndex(tt.id)
			if got != tt.want || ok != tt.ok {
				t.Errorf("= %d, %v", got, ok)
			}
		})
	}
}

func TestBodySetEmpty(t *testing.T) {
	s := NewBodySet(nil)
	if s.Len() != 0 || s.YARASource() != "" {
		t.Errorf("empty set: Len %d source %q", s.Len(), s.YARASource())
	}
	var nilSet *BodySet
	if nilSet.Len() != 0 || nilSet.YARASource() != "" || nilSet.Confirm(0, []int64{0}, 1, "") {
		t.Error("nil set is not empty")
	}
}

func TestBodySetIsACopy(t *testing.T) {
	sigs := []BodySig{{Name: "a", Hex: "41 42"}}
	s := NewBodySet(sigs)
	sigs[0].Name = "changed"
	if s.Sig(0).Name != "a" {
		t.Error("set shares the caller's slice")
	}
}

// compile compiles YARA source with go-yara and fails the test on error.
func compile(t testing.TB, src string) *yara.Rules {
	t.Helper()
	c, err := yara.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if err := c.AddString(src, ""); err != nil {
		t.Fatalf("YARA source does not compile: %v (%v)\n%s", err, c.Errors, firstLines(src, 40))
	}
	rules, err := c.GetRules()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

type bodyHit struct {
	rule string
	i    int
	offs []int64
}

func scanBody(t *testing.T, rules *yara.Rules, buf []byte) map[int]bodyHit {
	t.Helper()
	var ms yara.MatchRules
	if err := rules.ScanMem(buf, 0, 0, &ms); err != nil {
		t.Fatal(err)
	}
	hits := map[int]bodyHit{}
	for _, m := range ms {
		for _, s := range m.Strings {
			i, ok := BodyStringIndex(s.Name)
			if !ok {
				t.Fatalf("unexpected string identifier %q", s.Name)
			}
			h := hits[i]
			h.rule, h.i = m.Rule, i
			h.offs = append(h.offs, int64(s.Offset))
			hits[i] = h
		}
	}
	return hits
}

// TestYARACompilesEverySyntax puts every translation case into one set,
// compiles it and checks that planted patterns are found at the right
// offsets and confirmed.
func TestYARACompilesEverySyntax(t *testing.T) {
	var lines []string
	for i, tt := range translations {
		lines = append(lines, fmt.Sprintf("T%d:0:*:%s", i, tt.clam))
	}
	lines = append(lines,
		"Abs:0:64:c0ffee00",
		"Eof:0:EOF-4:deadbeef",
		"Range:0:128,16:0badf00d",
	)
	sigs, skipped, err := ParseNDB(strings.NewReader(strings.Join(lines, "\n")), "all.ndb")
	if err != nil || len(skipped) != 0 {
		t.Fatalf("err %v skipped %+v", err, skipped)
	}
	set := NewBodySet(sigs)
	rules := compile(t, set.YARASource())
	defer rules.Destroy()

	buf := make([]byte, 1024)
	copy(buf[64:], []byte{0xc0, 0xff, 0xee, 0x00})   // Abs at 64
	copy(buf[1020:], []byte{0xde, 0xad, 0xbe, 0xef}) // Eof at len-4
	copy(buf[140:], []byte{0x0b, 0xad, 0xf0, 0x0d})  // Range, inside [128,144]
	var ev []byte                                    // matches the "everything" case
	ev = append(ev, 'M', 'Z', 0x01, 0x5f)            // 4D 5A ?? 5?
	ev = append(ev, 0xee, 0xee, 0xee, 0x0a)          // [2-4] ?A
	ev = append(ev, "xyz"...)                        // [-]
	ev = append(ev, 'B', 'C', 0x00)                  // ( 41 | 42 43 | ?? ) 00
	ev = append(ev, bytes.Repeat([]byte{0xee}, 12)...)
	ev = append(ev, 0x01, 0xee, 0xee, 0x02) // [10-] 01 [0-3] 02
	ev = append(ev, bytes.Repeat([]byte{0xee}, 350)...)
	ev = append(ev, 0x03, 0x04) // [300-400] 03 04
	copy(buf[300:], ev)
	hits := scanBody(t, rules, buf)

	idx := func(name string) int {
		for i := 0; i < set.Len(); i++ {
			if set.Sig(i).Name == name {
				return i
			}
		}
		t.Fatalf("no sig %s", name)
		return -1
	}
	for _, name := range []string{"Abs", "Eof", "Range", fmt.Sprintf("T%d", len(translations)-1)} {
		i := idx(name)
		h, ok := hits[i]
		if !ok {
			t.Errorf("%s not matched by YARA", name)
			continue
		}
		if h.rule != "ave_body_0" {
			t.Errorf("%s matched in rule %q", name, h.rule)
		}
		if !set.Confirm(i, h.offs, int64(len(buf)), "binary") {
			t.Errorf("%s not confirmed at %v", name, h.offs)
		}
	}
	if h := hits[idx("Abs")]; len(h.offs) == 0 || h.offs[0] != 64 {
		t.Errorf("Abs offsets %v", h.offs)
	}
	if h := hits[idx(fmt.Sprintf("T%d", len(translations)-1))]; len(h.offs) == 0 || h.offs[0] != 300 {
		t.Errorf("everything: offsets %v, want [300]", h.offs)
	}
	// Moved by one byte, the offset-bound signatures must not confirm.
	buf2 := make([]byte, 1024)
	copy(buf2[65:], []byte{0xc0, 0xff, 0xee, 0x00})
	copy(buf2[1019:], []byte{0xde, 0xad, 0xbe, 0xef})
	copy(buf2[145:], []byte{0x0b, 0xad, 0xf0, 0x0d})
	hits2 := scanBody(t, rules, buf2)
	for _, name := range []string{"Abs", "Eof", "Range"} {
		i := idx(name)
		h, ok := hits2[i]
		if !ok {
			t.Errorf("%s: YARA should still report the string", name)
			continue
		}
		if set.Confirm(i, h.offs, int64(len(buf2)), "binary") {
			t.Errorf("%s confirmed at wrong offset %v", name, h.offs)
		}
	}
}

// TestBundling checks that many signatures become few rules with global
// string indexes.
func TestBundling(t *testing.T) {
	const n = 2*BodyBundleSize + 345
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "Sig.%d:0:*:cafe%08x\n", i, i)
	}
	sigs, skipped, err := ParseNDB(strings.NewReader(sb.String()), "many.ndb")
	if err != nil || len(skipped) != 0 || len(sigs) != n {
		t.Fatalf("err %v skipped %d sigs %d", err, len(skipped), len(sigs))
	}
	set := NewBodySet(sigs)
	src := set.YARASource()
	if got := strings.Count(src, "\nrule ") + strings.Count(src[:5], "rule "); got != 3 {
		t.Errorf("%d rules, want 3", got)
	}
	for k := 0; k < 3; k++ {
		if !strings.Contains(src, fmt.Sprintf("rule ave_body_%d\n", k)) {
			t.Errorf("rule ave_body_%d missing", k)
		}
	}
	rules := compile(t, src)
	defer rules.Destroy()

	target := 2*BodyBundleSize + 7
	buf := bytes.Repeat([]byte{0x55}, 100)
	copy(buf[40:], []byte{0xca, 0xfe, 0, 0, byte(target >> 8), byte(target)})
	hits := scanBody(t, rules, buf)
	if len(hits) != 1 {
		t.Fatalf("hits = %+v", hits)
	}
	h, ok := hits[target]
	if !ok || h.rule != "ave_body_2" || len(h.offs) != 1 || h.offs[0] != 40 {
		t.Errorf("hit = %+v, want $b%d in ave_body_2 at 40", h, target)
	}
	if set.Sig(target).Name != fmt.Sprintf("Sig.%d", target) {
		t.Errorf("Sig(%d) = %+v", target, set.Sig(target))
	}
	if !set.Confirm(target, h.offs, int64(len(buf)), "binary") {
		t.Error("not confirmed")
	}
}

func BenchmarkParseNDB(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&sb, "Win.Trojan.Test-%d:1:*:4d5a%08x??{2-4}(41|4243)%08x*%08x\n", i, i, i*7, i*13)
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		sigs, _, err := ParseNDB(strings.NewReader(in), "b.ndb")
		if err != nil || len(sigs) != 20000 {
			b.Fatal(err, len(sigs))
		}
		_ = NewBodySet(sigs).YARASource()
	}
}

// randomClamHex builds a random, well-formed ClamAV hex signature from all
// the syntax elements (some of them untranslatable).
func randomClamHex(r *rand.Rand) string {
	var sb strings.Builder
	hexd := "0123456789abcdef"
	byteTok := func() string {
		switch r.IntN(50) {
		case 0, 1, 2, 3, 4:
			return "??"
		case 5:
			return string(hexd[r.IntN(16)]) + "?"
		case 6:
			return "?" + string(hexd[r.IntN(16)])
		}
		return fmt.Sprintf("%02x", r.IntN(256))
	}
	n := 1 + r.IntN(12)
	for i := 0; i < n; i++ {
		switch r.IntN(12) {
		case 0:
			sb.WriteString("*")
		case 1:
			fmt.Fprintf(&sb, "{%d}", r.IntN(500))
		case 2:
			a := r.IntN(300)
			fmt.Fprintf(&sb, "{%d-%d}", a, a+r.IntN(300))
		case 3:
			fmt.Fprintf(&sb, "{-%d}", r.IntN(300))
		case 4:
			fmt.Fprintf(&sb, "{%d-}", r.IntN(300))
		case 5:
			sb.WriteString("(")
			for k := 0; k < 1+r.IntN(4); k++ {
				if k > 0 {
					sb.WriteString("|")
				}
				for m := 0; m < 1+r.IntN(3); m++ {
					sb.WriteString(byteTok())
				}
			}
			sb.WriteString(")")
		default:
			for m := 0; m < 1+r.IntN(6); m++ {
				sb.WriteString(byteTok())
			}
		}
	}
	return sb.String()
}

// TestRandomSignaturesCompile translates thousands of random signatures
// and checks the resulting rules compile and scan without error.
func TestRandomSignaturesCompile(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	offs := []string{"*", "0", "10,20", "EOF-4", "EOF-4,4"}
	var sb strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&sb, "R.%d:%d:%s:%s\n", i, r.IntN(8), offs[r.IntN(len(offs))], randomClamHex(r))
	}
	sigs, skipped, err := ParseNDB(strings.NewReader(sb.String()), "r.ndb")
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, u := range skipped {
		reasons[u.Reason]++
	}
	t.Logf("%d translated, %d skipped: %v", len(sigs), len(skipped), reasons)
	if len(sigs) < 1000 {
		t.Fatalf("only %d of 3000 translated", len(sigs))
	}
	set := NewBodySet(sigs)
	rules := compile(t, set.YARASource())
	defer rules.Destroy()
	buf := make([]byte, 64*1024)
	for i := range buf {
		buf[i] = byte(r.IntN(256))
	}
	var ms yara.MatchRules
	if err := rules.ScanMem(buf, 0, 0, &ms); err != nil {
		t.Fatal(err)
	}
}

// TestUnboundedJumpMinimumBound: an unbounded jump may start up to 1 GiB
// away (YARA compiles it), not further (YARA reads the number as a C int
// and a larger one, merged from "{n}*", came out negative: a fuzz find).
func TestUnboundedJumpMinimumBound(t *testing.T) {
	sigs, skipped, err := ParseNDB(strings.NewReader("Far:0:*:4142{1073741824-}4344\nFarther:0:*:4142{1073741824}*4344\nTooFar:0:*:4142{1073741825-}4344\n"), "far.ndb")
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || sigs[0].Hex != "41 42 [1073741824-] 43 44" || sigs[1].Hex != "41 42 [1073741824-] 43 44" {
		t.Fatalf("translated %+v, want two with [1073741824-]", sigs)
	}
	if len(skipped) != 1 || skipped[0].Name != "TooFar" || skipped[0].Reason != reasonJumpMinTooLarge {
		t.Fatalf("skipped %+v, want TooFar: %s", skipped, reasonJumpMinTooLarge)
	}
	compile(t, NewBodySet(sigs).YARASource())
}
