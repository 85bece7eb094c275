package yarascan

import (
	"errors"
	"fmt"
	"runtime"
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

// TestCompileCallbacksSurviveGC: libyara calls the compiler callback for
// every warning and error while the rules compile, long after go-yara
// registered the handle it gets. That handle must stay where it was for
// the whole compile whatever the garbage collector does (go-yara v4.2.4
// kept it in Go memory that a collection during the compile could free:
// "found bad pointer in Go heap" under -race, or a crash on a DB reload;
// third_party/go-yara/AVE-PATCH.md).
func TestCompileCallbacksSurviveGC(t *testing.T) {
	// Each rule warns ("may slow down scanning"); the last source fails.
	var warn strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&warn, "rule slow_%d { strings: $a = { 00 ?? } condition: $a }\n", i)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := 0; i < 40; i++ {
		r, err := Compile([]Source{{File: "slow.yar", Text: warn.String()}})
		if err != nil {
			t.Fatalf("compile %d: %v", i, err)
		}
		r.Destroy()
		_, err = Compile([]Source{{File: "slow.yar", Text: warn.String()}, {File: "bad.yar", Text: "rule bad { condition: nosuch }"}})
		var ce CompileError
		if !errors.As(err, &ce) || ce.File != "bad.yar" {
			t.Fatalf("compile %d: want the error of bad.yar, got %v", i, err)
		}
	}
}
