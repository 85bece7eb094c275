package smtp_test

// AVE PATCH (connection workers): a goroutine that served a connection
// serves the next one; Close ends the waiting workers.

import (
	"bufio"
	"bytes"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// goidBackend records the goroutine that runs each session.
type goidBackend struct {
	backend
	mu   sync.Mutex
	goid []int
}

func (be *goidBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)] // "goroutine N [running]:..."
	f := bytes.Fields(buf)
	id, _ := strconv.Atoi(string(f[1]))
	be.mu.Lock()
	be.goid = append(be.goid, id)
	be.mu.Unlock()
	return be.backend.NewSession(c)
}

func TestConnectionWorkersAreReused(t *testing.T) {
	before := runtime.NumGoroutine()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := &goidBackend{}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()

	session := func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for _, cmd := range []string{"", "EHLO client\r\n", "QUIT\r\n"} {
			if cmd != "" {
				c.Write([]byte(cmd))
			}
			for { // the last line of the reply
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("after %q: %v", cmd, err)
				}
				if len(line) < 4 || line[3] != '-' {
					break
				}
			}
		}
		// The server ends the session after QUIT's reply: read to EOF.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := r.ReadByte(); err != nil {
				break
			}
		}
	}
	for i := 0; i < 3; i++ {
		session()
		// The worker goes back to waiting once the session is over.
		time.Sleep(50 * time.Millisecond)
	}
	be.mu.Lock()
	ids := append([]int(nil), be.goid...)
	be.mu.Unlock()
	if len(ids) != 3 || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("sessions ran on goroutines %v, want one goroutine for all three", ids)
	}

	s.Close()
	<-done
	for try := 0; runtime.NumGoroutine() > before && try < 100; try++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
