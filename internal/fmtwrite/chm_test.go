package fmtwrite

import (
	"strings"
	"testing"
)

func TestCHMRefusesADirectoryLargerThanItsChunk(t *testing.T) {
	var entries []CHMEntry
	for i := range 200 {
		entries = append(entries, CHMEntry{Name: "/" + strings.Repeat("x", 20) + string(rune('a'+i%26)), Data: []byte{byte(i)}})
	}
	if _, err := CHM(entries...); err == nil || !strings.Contains(err.Error(), "chunk") {
		t.Errorf("200 entries: %v", err)
	}
	if _, err := CHM(entries[:20]...); err != nil {
		t.Errorf("20 entries: %v", err)
	}
	if _, err := CHMLZX(CHMSection{Bits: 14, ResetFrames: 1}, entries[:2]...); err == nil {
		t.Error("LZX window 2^14 accepted")
	}
}
