package yarascan

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCompileReportsEveryBrokenFileWithLine(t *testing.T) {
	_, err := Compile([]Source{
		{File: "good.yar", Text: "rule a { condition: true }"},
		{File: "bad1.yar", Text: "rule b {\n condition: nosuch }"},
		{File: "bad2.yar", Text: "rule c { strings: $x = \"q\" condition: }"},
	})
	if err == nil {
		t.Fatal("want errors")
	}
	var ce CompileError
	if !errors.As(err, &ce) || ce.File != "bad1.yar" || ce.Line != 2 {
		t.Fatalf("first error: %#v (%v)", ce, err)
	}
	if !strings.Contains(err.Error(), "bad2.yar:1:") {
		t.Fatalf("second broken file not named: %v", err)
	}
}

func TestScanSetsExternalVariablesPerObject(t *testing.T) {
	r, err := Compile([]Source{{File: "x.yar", Text: `
rule exe_name : suspicious { meta: name = "N" condition: filename matches /\.exe$/ and depth == 2 and filetype == "pe" }
rule body { strings: $s = "needle" condition: $s }
`}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Destroy()
	s, err := r.NewScanner()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	ms, err := s.Scan([]byte("a needle here"), Vars{Filename: "a.exe", Filetype: "pe", Depth: 2}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Rule != "exe_name" || ms[0].Meta["name"] != "N" || ms[0].Tags[0] != "suspicious" {
		t.Fatalf("matches %+v", ms)
	}
	if ms[1].Strings[0].Name != "$s" || ms[1].Strings[0].Offset != 2 {
		t.Fatalf("string match %+v", ms[1].Strings)
	}
	ms, err = s.Scan([]byte("nothing"), Vars{Filename: "a.txt", Filetype: "pe", Depth: 2}, 0)
	if err != nil || len(ms) != 0 {
		t.Fatalf("same scanner, other variables: %v %+v", err, ms)
	}
}

func TestScanTimeoutIsReported(t *testing.T) {
	r, err := Compile([]Source{{File: "slow.yar", Text: `
rule slow { condition: for all i in (0..filesize) : ( for all j in (0..filesize) : ( uint8(i) + uint8(j) < 1000 ) ) }`}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Destroy()
	s, err := r.NewScanner()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	_, err = s.Scan(make([]byte, 1<<16), Vars{}, time.Millisecond) // rounded up to 1 s
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
}
