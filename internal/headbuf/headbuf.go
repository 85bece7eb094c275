// Package headbuf keeps the head of what a child process writes: enough
// to quote in an error or a reply, never an unbounded buffer.
package headbuf

import "bytes"

// Max is how much a Buffer keeps.
const Max = 4096

// Buffer keeps the first Max bytes written to it and accepts (drops) the
// rest, so a chatty child never blocks on its output nor fills memory.
type Buffer struct{ bytes.Buffer }

func (b *Buffer) Write(p []byte) (int, error) {
	if room := Max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
