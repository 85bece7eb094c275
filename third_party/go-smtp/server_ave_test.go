package smtp_test

// AVE PATCH (read buffer): sessions with a small pooled read buffer.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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

// AVE PATCH (pipelined replies): the replies to a pipelined group
// (RSET, MAIL, RCPT ... DATA) leave in one write; a command not followed
// by buffered input is answered at once, even in the middle of a group.

// writeCounter counts the writes of the server's side of each connection.
type writeCounter struct {
	net.Listener
	writes chan int // one value per Write call
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedWrites{Conn: c, l: l}, nil
}

type countedWrites struct {
	net.Conn
	l *writeCounter
}

func (c *countedWrites) Write(p []byte) (int, error) {
	c.l.writes <- len(p)
	return c.Conn.Write(p)
}

func TestServerPipelinedRepliesInOneWrite(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := &writeCounter{Listener: l, writes: make(chan int, 100)}
	be := new(backend)
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	go s.Serve(wl)
	defer s.Close()

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	// replies reads n replies (multi-line ones whole) and returns their
	// last lines; writes returns how many writes the server made.
	replies := func(n int) []string {
		t.Helper()
		var out []string
		for len(out) < n {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", out, err)
			}
			if len(line) > 3 && line[3] == ' ' {
				out = append(out, strings.TrimSpace(line))
			}
		}
		return out
	}
	writes := func() int {
		time.Sleep(50 * time.Millisecond)
		n := len(wl.writes)
		for i := 0; i < n; i++ {
			<-wl.writes
		}
		return n
	}
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(c, s); err != nil {
			t.Fatal(err)
		}
	}
	replies(1) // greeting
	send("EHLO client\r\n")
	replies(1)
	writes()

	send("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n")
	got := replies(4)
	if !strings.HasPrefix(got[0], "250 ") || !strings.HasPrefix(got[2], "250 ") || !strings.HasPrefix(got[3], "354 ") {
		t.Fatalf("replies %q", got)
	}
	if n := writes(); n != 1 {
		t.Fatalf("pipelined MAIL, RCPT, RCPT, DATA: %d writes, want 1", n)
	}
	send("Subject: x\r\n\r\nbody\r\n.\r\n")
	replies(1)
	writes()

	// One command at a time: each reply at once.
	send("RSET\r\n")
	if got := replies(1); !strings.HasPrefix(got[0], "250 ") {
		t.Fatalf("RSET: %q", got)
	}
	send("MAIL FROM:<a@x>\r\n")
	replies(1)
	writes()
	// The group stops in the middle of a line: the RCPT's reply is not
	// held while the server waits for the rest.
	send("RCPT TO:<b@x>\r\nRCPT TO:<c")
	if got := replies(1); !strings.HasPrefix(got[0], "250 ") {
		t.Fatalf("RCPT: %q", got)
	}
	send("@x>\r\nQUIT\r\n")
	if got := replies(2); !strings.HasPrefix(got[1], "221 ") {
		t.Fatalf("end: %q", got)
	}
	if len(be.anonmsgs) != 1 || len(be.anonmsgs[0].To) != 2 {
		t.Fatalf("messages %+v", be.anonmsgs)
	}
}

// TestLMTPBDATLastEndedEarlyGetsAReplyPerRecipient (AVE PATCH (LMTP BDAT
// early end)): a backend that stops reading an LMTP BDAT LAST chunk early
// with an error still gives the client one reply per recipient, and the
// session goes on in step.
func TestLMTPBDATLastEndedEarlyGetsAReplyPerRecipient(t *testing.T) {
	be, s, c, scanner := testServerAuthenticated(t)
	s.LMTP = true
	defer s.Close()
	defer c.Close()
	be.dataErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot spool"}
	be.dataErrOffset = 4

	io.WriteString(c, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\n")
	for i := 0; i < 3; i++ {
		if scanner.Scan(); !strings.HasPrefix(scanner.Text(), "250 ") {
			t.Fatalf("reply %d: %q", i, scanner.Text())
		}
	}
	body := strings.Repeat("x", 1000)
	io.WriteString(c, "BDAT 1000 LAST\r\n"+body)
	for _, rcpt := range []string{"b@example.net", "c@example.net"} {
		scanner.Scan()
		if l := scanner.Text(); !strings.HasPrefix(l, "451 ") || !strings.Contains(l, rcpt) {
			t.Fatalf("reply for %s: %q", rcpt, l)
		}
	}
	io.WriteString(c, "NOOP\r\n")
	if scanner.Scan(); !strings.HasPrefix(scanner.Text(), "250 ") {
		t.Fatalf("NOOP after the transaction: %q", scanner.Text())
	}
}
