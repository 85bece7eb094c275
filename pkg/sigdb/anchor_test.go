package sigdb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestAnchorOf(t *testing.T) {
	for _, tc := range []struct {
		hex       string
		run, key  string // hex of the run and of its key window
		more      []string
		noAnchors bool
	}{
		{hex: "4D 5A 90 00 03", run: "4d5a900003", key: "5a900003"},
		// The key avoids the common bytes 00 and FF when it can.
		{hex: "00 00 FF 12 34 56 78", run: "0000ff12345678", key: "12345678"},
		{hex: "41 42 [2-4] 43 44 45 ?? 46 47 48 49 4A", run: "464748494a", key: "46474849", more: []string{"434445"}},
		// Runs inside alternatives, nibbles and "??" are not fixed.
		{hex: "( 11 22 33 44 55 | 66 ) 77 88 4? 99 AA", run: "7788", key: "7788"},
		{hex: "?1 ?? 2? [-] ( 41 | 42 )", noAnchors: true},
		{hex: "11 [-] 22", noAnchors: true},
		// Other runs: 3 bytes or more, longest first, at most maxAnchorRuns.
		{hex: "01 02 03 04 05 [1] 06 07 [2] 08 09 0A [3] 0B 0C 0D 0E", run: "0102030405", key: "01020304", more: []string{"0b0c0d0e", "08090a"}},
	} {
		a, ok := anchorOf(tc.hex)
		if ok == tc.noAnchors {
			t.Errorf("%s: ok = %v", tc.hex, ok)
			continue
		}
		if !ok {
			continue
		}
		if got := fmt.Sprintf("%x", a.run); got != tc.run {
			t.Errorf("%s: run %s, want %s", tc.hex, got, tc.run)
		}
		if got := fmt.Sprintf("%x", a.run[a.key:min(a.key+4, len(a.run))]); got != tc.key {
			t.Errorf("%s: key %s, want %s", tc.hex, got, tc.key)
		}
		var more []string
		for _, r := range a.more {
			more = append(more, fmt.Sprintf("%x", r))
		}
		if strings.Join(more, ",") != strings.Join(tc.more, ",") {
			t.Errorf("%s: more %v, want %v", tc.hex, more, tc.more)
		}
	}
}

// instance returns bytes that match the YARA hex string hex: wildcards and
// nibbles filled at random, one alternative chosen, jumps of a random
// allowed length (unbounded ones up to 20 bytes past their minimum).
func instance(r *rand.Rand, hex string) []byte {
	var out []byte
	toks := strings.Fields(hex)
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		switch {
		case tok == "(":
			var branches [][]string
			var cur []string
			for i++; toks[i] != ")"; i++ {
				if toks[i] == "|" {
					branches, cur = append(branches, cur), nil
					continue
				}
				cur = append(cur, toks[i])
			}
			branches = append(branches, cur)
			out = append(out, instance(r, strings.Join(branches[r.IntN(len(branches))], " "))...)
		case tok[0] == '[':
			lo, hi, _ := strings.Cut(strings.Trim(tok, "[]"), "-")
			a, _ := strconv.Atoi(lo)
			b := a + 20
			if hi != "" {
				b, _ = strconv.Atoi(hi)
			} else if !strings.Contains(tok, "-") {
				b = a
			}
			for n := a + r.IntN(b-a+1); n > 0; n-- {
				out = append(out, byte(r.IntN(256)))
			}
		default:
			v := byte(r.IntN(256))
			if tok[0] != '?' {
				v = v&0x0F | unhex(tok[0])<<4
			}
			if tok[1] != '?' {
				v = v&0xF0 | unhex(tok[1])
			}
			out = append(out, v)
		}
	}
	return out
}

// TestMayMatchAgreesWithYARA plants instances of random signatures in random
// data: whenever the body rules match, MayMatch must say so; on the random
// data alone it should rarely say yes.
func TestMayMatchAgreesWithYARA(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var sb strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&sb, "R.%d:0:*:%s\n", i, randomClamHex(r))
	}
	sigs, _, err := ParseNDB(strings.NewReader(sb.String()), "r.ndb")
	if err != nil {
		t.Fatal(err)
	}
	// Only signatures with an anchor: one without makes every object a
	// candidate (checked in TestMayMatchAlways).
	var anchored []BodySig
	for _, g := range sigs {
		if _, ok := anchorOf(g.Hex); ok {
			anchored = append(anchored, g)
		}
	}
	set := NewBodySet(anchored)
	rules := compile(t, set.YARASource())
	defer rules.Destroy()
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	falseYes := 0
	for k := 0; k < 200; k++ {
		buf := random(4096)
		if set.MayMatch(buf) {
			falseYes++
		}
		g := anchored[r.IntN(len(anchored))]
		at := r.IntN(2048)
		buf = append(buf[:at], append(instance(r, g.Hex), buf[at:]...)...)
		if len(scanBody(t, rules, buf)) == 0 {
			t.Fatalf("%s (%s): planted instance not found by YARA", g.Name, g.Hex)
		}
		if !set.MayMatch(buf) {
			t.Fatalf("%s (%s): YARA matches, MayMatch says no", g.Name, g.Hex)
		}
		// The same with the signature alone in its set.
		if !NewBodySet([]BodySig{g}).MayMatch(buf) {
			t.Fatalf("%s (%s): alone, MayMatch says no", g.Name, g.Hex)
		}
	}
	// Random signatures often have only 2-byte runs, which random data
	// holds: no rate is asserted here (see TestMayMatchRandomData).
	t.Logf("%d signatures; MayMatch true on %d of 200 random 4 KiB buffers", len(anchored), falseYes)
	// Every buffer YARA matches at all is a MayMatch candidate.
	for k := 0; k < 300; k++ {
		buf := random(1 << 12)
		if len(scanBody(t, rules, buf)) > 0 && !set.MayMatch(buf) {
			t.Fatalf("random buffer %d: YARA matches, MayMatch says no", k)
		}
	}
}

// TestMayMatchRandomData: signatures with runs of 6 to 10 fixed bytes are
// almost never candidates in random data, even in large objects.
func TestMayMatchRandomData(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	set := NewBodySet(randomSigs(t, r, 20000))
	buf := make([]byte, 4<<20)
	for i := range buf {
		buf[i] = byte(r.IntN(256))
	}
	if set.MayMatch(buf) {
		t.Error("MayMatch true on 4 MiB of random data")
	}
}

// randomSigs returns n signatures like the benchmark's: two runs of fixed
// bytes around a wildcard.
func randomSigs(t testing.TB, r *rand.Rand, n int) []BodySig {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		run := make([]byte, 6+r.IntN(5))
		for k := range run {
			run[k] = byte(r.IntN(256))
		}
		fmt.Fprintf(&sb, "B.%d:0:*:%x??%08x\n", i, run, r.Uint32())
	}
	sigs, _, err := ParseNDB(strings.NewReader(sb.String()), "b.ndb")
	if err != nil || len(sigs) != n {
		t.Fatal(err, len(sigs))
	}
	return sigs
}

func TestMayMatchShortAndAlways(t *testing.T) {
	sigs, _, err := ParseNDB(strings.NewReader("Short:0:*:abcd??ef\nLonger:0:*:0102030405\n"), "s.ndb")
	if err != nil || len(sigs) != 2 {
		t.Fatal(err, sigs)
	}
	set := NewBodySet(sigs)
	for _, tc := range []struct {
		data string
		want bool
	}{
		{"xx\xab\xcd\x00\xefyy", true},
		{"\xab\xcd", true}, // the 2-byte run alone: the rest is for YARA
		{"\xab\xce\x00\xef", false},
		{"..\x01\x02\x03\x04\x05", true},
		{"..\x01\x02\x03\x04\x06", false},
		{"\x01\x02\x03", false},
		{"", false},
	} {
		if got := set.MayMatch([]byte(tc.data)); got != tc.want {
			t.Errorf("MayMatch(%q) = %v, want %v", tc.data, got, tc.want)
		}
	}
	// A signature with no fixed run of two bytes: every object may match.
	always, _, err := ParseNDB(strings.NewReader("Loose:0:*:aa??bb??cc\n"), "a.ndb")
	if err != nil || len(always) != 1 {
		t.Fatal(err, always)
	}
	if !NewBodySet(always).MayMatch([]byte("anything")) {
		t.Error("a signature without an anchor must make every object a candidate")
	}
	if NewBodySet(nil).MayMatch([]byte("anything")) {
		t.Error("an empty set matches nothing")
	}
}

// TestMayMatchOtherRuns: the key's run found, another run missing.
func TestMayMatchOtherRuns(t *testing.T) {
	sigs, _, err := ParseNDB(strings.NewReader("Two:0:*:1122334455*aabbcc\n"), "t.ndb")
	if err != nil || len(sigs) != 1 {
		t.Fatal(err, sigs)
	}
	set := NewBodySet(sigs)
	run := "\x11\x22\x33\x44\x55"
	if set.MayMatch([]byte(strings.Repeat(run+"..", 1000))) {
		t.Error("the other run is missing: no match possible")
	}
	if !set.MayMatch([]byte("\xaa\xbb\xcc" + strings.Repeat(run+"..", 1000))) {
		t.Error("both runs are there (in any order: YARA decides the rest)")
	}
}

func BenchmarkMayMatch(b *testing.B) {
	for _, n := range []int{20000, smallSet, smallSet + 1} {
		benchMayMatch(b, n)
	}
}

func benchMayMatch(b *testing.B, n int) {
	r := rand.New(rand.NewPCG(1, 2))
	set := NewBodySet(randomSigs(b, r, n))
	for _, kind := range []string{"random", "text"} {
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = byte(r.IntN(256))
		}
		if kind == "text" {
			buf = bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog, 0123456789.\n"), 1<<20/57)
		}
		b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				set.MayMatch(buf)
			}
		})
	}
}

// TestMayMatchExtremeKeys: keys of all zero and all one bits (the key table
// once lost 0xFFFFFFFF, found by FuzzNDBHex).
func TestMayMatchExtremeKeys(t *testing.T) {
	for _, hex := range []string{"00000000", "ffffffff", "ffffffff00000000"} {
		sigs, _, err := ParseNDB(strings.NewReader("K:0:*:"+hex+"\n"), "k.ndb")
		if err != nil || len(sigs) != 1 {
			t.Fatal(err, sigs)
		}
		set := NewBodySet(sigs)
		var want []byte
		fmt.Sscanf(hex, "%x", &want)
		if !set.MayMatch(append([]byte("0123456789"), want...)) {
			t.Errorf("%s: not found at the end", hex)
		}
		if set.MayMatch([]byte("0123456789")) {
			t.Errorf("%s: found where it is not", hex)
		}
	}
}

// TestSmallSetsAgreeWithTheKeyFilter: sets of up to smallSet anchored
// signatures are searched run by run (hasRun); on the same data the key
// filter's pass (hasKey) must give the same answer: data with a whole
// run planted, with the run but not the signature's other run, with the
// run cut by one byte, and random data.
func TestSmallSetsAgreeWithTheKeyFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for n := 1; n <= smallSet; n++ {
		for round := 0; round < 50; round++ {
			var sb strings.Builder
			runs := make([][]byte, n)
			others := make([][]byte, n)
			for i := range runs {
				runs[i] = make([]byte, 5+r.IntN(6))
				others[i] = make([]byte, 3)
				for k := range runs[i] {
					runs[i][k] = byte(r.IntN(256))
				}
				for k := range others[i] {
					others[i][k] = byte(r.IntN(256))
				}
				fmt.Fprintf(&sb, "S.%d:0:*:%x{1-20}%x\n", i, runs[i], others[i])
			}
			sigs, _, err := ParseNDB(strings.NewReader(sb.String()), "s.ndb")
			if err != nil || len(sigs) != n {
				t.Fatal(err, len(sigs))
			}
			f := NewBodySet(sigs).filter
			if len(f.keys) != n || len(f.short) != 0 || f.always {
				t.Fatalf("%d signatures gave %d keys, %d short", n, len(f.keys), len(f.short))
			}
			g := r.IntN(n)
			buf := make([]byte, 1+r.IntN(3000))
			for k := range buf {
				buf[k] = byte(r.IntN(256))
			}
			plant := func(b []byte, what []byte) []byte {
				at := r.IntN(len(b) + 1)
				return append(b[:at:at], append(append([]byte(nil), what...), b[at:]...)...)
			}
			cases := map[string][]byte{
				"random":        buf,
				"whole":         plant(buf, append(append([]byte(nil), runs[g]...), others[g]...)),
				"no other run":  plant(buf, runs[g]),
				"run cut short": plant(buf, append(append([]byte(nil), runs[g][1:]...), others[g]...)),
			}
			for name, data := range cases {
				got, want := f.hasRun(&scan{data: data}), f.hasKey(&scan{data: data})
				if got != want {
					t.Fatalf("n=%d %s: hasRun %v, hasKey %v", n, name, got, want)
				}
				if name == "whole" && !got {
					t.Fatalf("n=%d: the planted signature is not a candidate", n)
				}
			}
		}
	}
}
