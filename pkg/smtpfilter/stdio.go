package smtpfilter

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// ServeStdio serves exactly one session on in and out (standard input and
// output when smtpscanner is an Exim lmtp transport command= or a
// Sendmail mailer) and returns when the client has quit or in ends.
// Pipes have no deadlines: the MTA's own transport timeouts bound a hung
// session.
func (s *Server) ServeStdio(in io.Reader, out io.Writer) error {
	c := &stdioConn{in: in, out: out, closed: make(chan struct{})}
	l := &oneShotListener{conn: c}
	err := s.srv.Serve(l)
	s.waitRemovals()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// oneShotListener returns its conn once, then blocks the next Accept
// until that conn is closed and reports net.ErrClosed, which ends Serve.
type oneShotListener struct {
	conn *stdioConn
	once sync.Once
}

func (l *oneShotListener) Accept() (net.Conn, error) {
	first := false
	l.once.Do(func() { first = true })
	if first {
		return l.conn, nil
	}
	<-l.conn.closed
	return nil, net.ErrClosed
}

func (l *oneShotListener) Close() error   { l.conn.Close(); return nil }
func (l *oneShotListener) Addr() net.Addr { return stdioAddr{} }

type stdioConn struct {
	in     io.Reader
	out    io.Writer
	once   sync.Once
	closed chan struct{}
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *stdioConn) Close() error {
	c.once.Do(func() {
		if cl, ok := c.out.(io.Closer); ok {
			cl.Close()
		}
		close(c.closed)
	})
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr              { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr             { return stdioAddr{} }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdio" }
