package smtp_test

// AVE PATCH (read buffer): sessions with a small pooled read buffer.

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestServerReadBufferSizePooled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := new(backend)
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadBufferSize = 64 // every message takes many fills
	go s.Serve(l)
	defer s.Close()

	var want []string
	for i := 0; i < 30; i++ {
		body := fmt.Sprintf("Subject: %d\r\n\r\n", i) + strings.Repeat(".dot\r\n"+strings.Repeat("x", i*37)+"\r\n", i)
		want = append(want, body)
		stuffed := strings.ReplaceAll("\r\n"+body, "\r\n.", "\r\n..")[2:]
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// The whole session in one write: what follows the end of the
		// data (QUIT) must stay buffered for the next command.
		session := "EHLO client\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n" + stuffed + ".\r\nQUIT\r\n"
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(session)); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(c)
		var last string
		for sc.Scan() {
			last = sc.Text()
		}
		c.Close()
		if !strings.HasPrefix(last, "221 ") {
			t.Fatalf("message %d: last reply %q", i, last)
		}
	}
	time.Sleep(50 * time.Millisecond) // the last session's handler returns
	if len(be.anonmsgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(be.anonmsgs), len(want))
	}
	for i, m := range be.anonmsgs {
		if !bytes.Equal(m.Data, []byte(want[i])) {
			t.Fatalf("message %d: got %q, want %q", i, m.Data, want[i])
		}
	}
}
