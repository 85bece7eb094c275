package sigdb

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	yara "github.com/hillu/go-yara/v4"

	"ave/pkg/hashsig"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; these f.Add seeds
// cover the main syntax of each format as well.

func FuzzParseHashFile(f *testing.F) {
	f.Add("a.hdb", eicarMD5+":68:Eicar-Test-Signature\n")
	f.Add("a.hsb", "# c\r\n"+eicarSHA1+":*:X:73\r\n"+eicarSHA256+":68:Y:51:255\n")
	f.Add("a.fp", eicarMD5+":68:Good\n\n")
	f.Add("a.sfp", eicarSHA256+"::\n")
	f.Add("a.hsb", "\xef\xbb\xbf"+eicarMD5+":1:N:x\n")
	f.Fuzz(func(t *testing.T, file, data string) {
		var b hashsig.Builder
		n, err := ParseHashFile(strings.NewReader(data), file, &b)
		if err != nil && !strings.HasPrefix(err.Error(), file+":") {
			t.Fatalf("error %q does not name the file", err)
		}
		s := b.Build()
		if s.Len() != n {
			t.Fatalf("n = %d but set holds %d", n, s.Len())
		}
	})
}

func FuzzParseIgnore(f *testing.F) {
	f.Add("Eicar-Test-Signature\nWin.Trojan.X:" + eicarMD5 + "\r\nmain.ndb:12:Y\n# c\n")
	f.Add(":\n")
	f.Add("a:b:c:d\n")
	f.Fuzz(func(t *testing.T, data string) {
		names, err := ParseIgnore(strings.NewReader(data), "f.ign2")
		if err != nil && !strings.HasPrefix(err.Error(), "f.ign2:") {
			t.Fatalf("error %q does not name the file", err)
		}
		for _, n := range names {
			if strings.TrimSpace(n) == "" {
				t.Fatalf("empty name returned")
			}
		}
	})
}

func FuzzParseNDB(f *testing.F) {
	for _, tt := range translations {
		f.Add("T:0:*:" + tt.clam + "\n")
	}
	f.Add("Abs:1:64:c0ffee00\nEof:6:EOF-4,2:deadbeef:51:255\r\nR:10:5,6:0badf00d\n")
	f.Add("M:0:*:4142${6-7}12$4344\nN:0:*:41!(42|43)44\nB:0:*:(B)4142\nW:0:*:41{WORD}42\n")
	f.Add("J:0:*:41(42{2}43|44)45\nE:1:EP+0:4142\nS:1:S2+5,3:4142\nV:1:VI:4142\n")
	f.Add("X:0:*:4142{300}????{300}4344\nY:0:0:*4142\nZ:0:*:41[1-2]42\n")
	f.Fuzz(func(t *testing.T, data string) {
		sigs, skipped, err := ParseNDB(strings.NewReader(data), "f.ndb")
		if err != nil && !strings.HasPrefix(err.Error(), "f.ndb:") {
			t.Fatalf("error %q does not name the file", err)
		}
		for _, u := range skipped {
			if u.Reason == "" || u.Name == "" || u.Line <= 0 {
				t.Fatalf("bad skipped entry %+v", u)
			}
		}
		if len(sigs) == 0 {
			return
		}
		set := NewBodySet(sigs)
		for i := 0; i < set.Len(); i++ {
			g := set.Sig(i)
			if g.Hex == "" || g.Name == "" {
				t.Fatalf("bad sig %+v", g)
			}
			set.Confirm(i, []int64{0, 1, 1 << 62}, int64(len(data)), "pe")
		}
		c, err := yara.NewCompiler()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Destroy()
		src := set.YARASource()
		if err := c.AddString(src, ""); err != nil {
			t.Fatalf("generated YARA does not compile: %v\n%s", err, firstLines(src, 20))
		}
		rules, err := c.GetRules()
		if err != nil {
			t.Fatal(err)
		}
		defer rules.Destroy()
		var ms yara.MatchRules
		if err := rules.ScanMem([]byte(data), 0, 0, &ms); err != nil {
			t.Fatalf("scan error: %v", err)
		}
		if len(ms) > 0 && !set.MayMatch([]byte(data)) {
			t.Fatalf("YARA matches, MayMatch says no")
		}
	})
}

// FuzzNDBHex fuzzes only the hex-signature field (with the offset chosen by
// the first byte), so that more inputs get past the field checks and reach
// the translation and the YARA compiler.
func FuzzNDBHex(f *testing.F) {
	for _, tt := range translations {
		f.Add(byte(0), tt.clam)
	}
	f.Add(byte(1), "c0ffee00")
	f.Add(byte(2), "*4142{300}4344{-5}")
	f.Add(byte(3), "(41|42|4344|??)(4?|?5){-200}4142")
	f.Fuzz(func(t *testing.T, off byte, hex string) {
		offs := []string{"*", "0", "10,20", "EOF-4", "EOF-4,4"}
		line := "H:0:" + offs[int(off)%len(offs)] + ":" + hex + "\n"
		sigs, _, err := ParseNDB(strings.NewReader(line), "h.ndb")
		if err != nil || len(sigs) == 0 {
			return
		}
		c, err := yara.NewCompiler()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Destroy()
		set := NewBodySet(sigs)
		if err := c.AddString(set.YARASource(), ""); err != nil {
			t.Fatalf("%q -> %q does not compile: %v", hex, sigs[0].Hex, err)
		}
		rules, err := c.GetRules()
		if err != nil {
			t.Fatal(err)
		}
		defer rules.Destroy()
		// An instance of the signature, at an offset it may start at:
		// where YARA finds it, the anchor filter must let it through.
		// Not for one whose jumps add up to more than 1 MiB (up to 1 GiB
		// is allowed): building it would take the fuzzer's time and memory.
		if minGap(sigs[0].Hex) > 1<<20 {
			return
		}
		r := rand.New(rand.NewPCG(uint64(off), uint64(len(hex))))
		buf := append(bytes.Repeat([]byte{0x55}, 10), instance(r, sigs[0].Hex)...)
		var ms yara.MatchRules
		if err := rules.ScanMem(buf, 0, 0, &ms); err != nil {
			t.Fatalf("scan error: %v", err)
		}
		if len(ms) > 0 && !set.MayMatch(buf) {
			t.Fatalf("%q: YARA matches %x, MayMatch says no", sigs[0].Hex, buf)
		}
	})
}

// minGap is the sum of the minimums of the jumps of a translated hex string.
func minGap(hex string) int {
	n := 0
	for _, tok := range strings.Fields(hex) {
		if tok[0] == '[' {
			lo, _, _ := strings.Cut(strings.Trim(tok, "[]"), "-")
			v, _ := strconv.Atoi(lo)
			n += v
		}
	}
	return n
}
