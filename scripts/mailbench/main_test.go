package main

import (
	"bufio"
	"bytes"
	"net/textproto"
	"testing"
)

// writeStuffed must put on the wire what net/textproto's DotWriter (the
// net/smtp client's) does for CRLF text.
func TestWriteStuffedMatchesDotWriter(t *testing.T) {
	for _, msg := range []string{
		"",
		"a\r\n",
		".\r\n",
		"..\r\n",
		".starts\r\nmiddle\r\n.dot\r\n\r\n.\r\nend",
		"no newline at the end",
		"line\r\n.",
		"x\r\n..y\r\n",
	} {
		var want bytes.Buffer
		bw := bufio.NewWriter(&want)
		dw := textproto.NewWriter(bw).DotWriter()
		dw.Write([]byte(msg))
		dw.Close()
		bw.Flush()
		var got bytes.Buffer
		if err := writeStuffed(bufio.NewWriter(&got), []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%q: got %q, want %q", msg, got.String(), want.String())
		}
	}
}
