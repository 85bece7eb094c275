package headbuf

import (
	"bytes"
	"testing"
)

func TestBufferKeepsTheHead(t *testing.T) {
	var b Buffer
	for i := 0; i < 3; i++ {
		if n, err := b.Write(bytes.Repeat([]byte{'a' + byte(i)}, 3000)); n != 3000 || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if b.Len() != Max || b.String()[2999:3001] != "ab" {
		t.Fatalf("kept %d bytes", b.Len())
	}
}
