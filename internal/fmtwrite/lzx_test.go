package fmtwrite

import (
	"bytes"
	"testing"
)

func TestLZXPretranslatedDiffersOnlyByTheTranslation(t *testing.T) {
	plain := bytes.Repeat([]byte("no calls here "), 5000)
	a, ea := LZX(plain, 16, 12000000, 30000, LZXBlockVerbatim, LZXBlockStored)
	b, eb := LZXPretranslated(plain, 16, 12000000, 30000, LZXBlockVerbatim, LZXBlockStored)
	if !bytes.Equal(a, b) || len(ea) != len(eb) || len(ea) != (len(plain)+LZXFrameSize-1)/LZXFrameSize {
		t.Errorf("without E8 bytes: %d and %d bytes, %d and %d frames", len(a), len(b), len(ea), len(eb))
	}
	call := append(append(plain[:20:20], 0xe8, 0x10, 0, 0, 0), plain[:100]...) // a call 16 bytes on, at 20
	a, _ = LZX(call, 16, 12000000, 0, LZXBlockStored)
	b, _ = LZXPretranslated(call, 16, 12000000, 0, LZXBlockStored)
	if bytes.Equal(a, b) {
		t.Error("the call was not translated")
	}
}
