// Package mailer forwards a scanned message to the downstream MTA over
// SMTP (RFC 5321) or LMTP (RFC 2033), on TCP, on a unix socket, or to a
// child process speaking the protocol on its standard input and output
// (sendmail -bs, exim -bs, an LMTP delivery agent), or hands it to a
// qmail-queue program (qmail.go). It is smtpscanner's
// re-injection side and implements mailflow.Forwarder.
//
// It is its own small client rather than go-smtp's because forwarding
// must be byte-exact (the body is dot-stuffed exactly as go-smtp's server
// unstuffs it: a "." at the start of a CRLF-terminated line), must pass
// DSN parameters (RFC 3461), SMTPUTF8 (RFC 6531) and Postfix XFORWARD
// attributes, and must report a reply per recipient. It pipelines (RFC
// 2920) MAIL, RCPT and DATA, and the RSET of a reused session, when the
// server announces PIPELINING.
package mailer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"ave/internal/xtext"
	"ave/pkg/config"
	"ave/pkg/mailflow"
)

// Mailer forwards messages to one ForwardMailer destination. A Forward
// uses an idle session kept from an earlier one (after RSET) or opens a
// connection (or starts a child process, never kept). Safe for
// concurrent use; Close ends the idle sessions.
type Mailer struct {
	Dest        config.Mailer
	Hostname    string        // sent in EHLO/LHLO; "" = "localhost"
	Timeout     time.Duration // whole transaction when ctx has no deadline; 0 = 10 minutes
	MaxIdle     int           // idle sessions kept for reuse (0 = none: one connection per transaction)
	IdleTimeout time.Duration // an idle session older than this is closed, not reused; 0 = 30s

	mu     sync.Mutex
	idle   []idleConn
	closed bool
}

// transport is one connection to the downstream MTA.
type transport interface {
	io.ReadWriter
	SetDeadline(time.Time) error
	Close() error // ends the connection (and waits for a child)
}

func (m *Mailer) dial(ctx context.Context) (transport, error) {
	switch m.Dest.Network {
	case "tcp", "unix":
		var d net.Dialer
		return d.DialContext(ctx, m.Dest.Network, m.Dest.Address)
	case "exec":
		return startChild(m.Dest.Argv)
	}
	return nil, fmt.Errorf("mailer: unknown network %q", m.Dest.Network)
}

// Forward implements mailflow.Forwarder. When the downstream answers an
// RCPT with "452 4.5.3" (too many recipients, RFC 5321 section
// 4.5.3.1.10), the recipients not yet tried go in further transactions.
func (m *Mailer) Forward(ctx context.Context, env *mailflow.Envelope, size int64, open func() io.Reader) []mailflow.Reply {
	if m.Dest.Protocol == "qmail" {
		return m.forwardQmail(ctx, env, open)
	}
	replies := make([]mailflow.Reply, len(env.Rcpts))
	pending := make([]int, len(env.Rcpts))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		sub := *env
		sub.Rcpts = make([]mailflow.Recipient, len(pending))
		for j, i := range pending {
			sub.Rcpts[j] = env.Rcpts[i]
		}
		subReplies, tooMany := m.forwardOnce(ctx, &sub, size, open)
		var next []int
		for j, i := range pending {
			if subReplies[j].Code == 0 {
				next = append(next, i)
			} else {
				replies[i] = subReplies[j]
			}
		}
		if len(next) == len(pending) { // no progress
			for _, i := range next {
				replies[i] = tooMany
			}
			break
		}
		pending = next
	}
	return replies
}

// forwardOnce runs one transaction. Recipients left untried after a
// "452 4.5.3" get a zero Reply; tooMany is that reply.
func (m *Mailer) forwardOnce(ctx context.Context, env *mailflow.Envelope, size int64, open func() io.Reader) (replies []mailflow.Reply, tooMany mailflow.Reply) {
	replies = make([]mailflow.Reply, len(env.Rcpts))
	ctx, cancel := m.bounded(ctx)
	defer cancel()
	dl, _ := ctx.Deadline()
	for {
		c := m.reuse(dl)
		reused := c != nil
		if c == nil {
			conn, err := m.dial(ctx)
			if err != nil {
				fill(replies, 0, brokenReply(err))
				return replies, tooMany
			}
			conn.SetDeadline(dl)
			c = &client{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriterSize(conn, 64<<10), lmtp: m.Dest.Protocol == "lmtp"}
			host := m.Hostname
			if host == "" {
				host = "localhost"
			}
			if r, ok := c.open(host); !ok {
				conn.Close()
				fill(replies, 0, r)
				return replies, tooMany
			}
		}
		stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
		// A fresh reader for every attempt: a stale session may have
		// been sent (BDAT) part of the message before its RSET failed.
		msg := open()
		var clean, stale bool
		if c.pipelining(env) {
			tooMany, clean, stale = c.transactPipelined(env, size, msg, replies)
		} else {
			tooMany, clean = c.transact(env, size, msg, replies)
		}
		if stop() && clean && m.keep(c) {
			return replies, tooMany
		}
		if stale && reused {
			// The idle session failed its RSET: nothing of this
			// transaction was accepted; try the next one.
			c.conn.Close()
			clear(replies)
			tooMany = mailflow.Reply{}
			continue
		}
		c.quit()
		c.conn.Close()
		return replies, tooMany
	}
}

// bounded gives ctx the Mailer's Timeout (10 minutes when 0) when it has
// no deadline of its own.
func (m *Mailer) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	t := m.Timeout
	if t <= 0 {
		t = 10 * time.Minute
	}
	return context.WithTimeout(ctx, t)
}

// idleConn is a downstream session kept open between messages.
type idleConn struct {
	c     *client
	since time.Time
}

// reuse returns an idle session that answers RSET, with deadline dl, or
// nil. Sessions idle past IdleTimeout, or that fail RSET, are closed.
func (m *Mailer) reuse(dl time.Time) *client {
	for {
		m.mu.Lock()
		n := len(m.idle)
		if n == 0 {
			m.mu.Unlock()
			return nil
		}
		ic := m.idle[n-1]
		m.idle = m.idle[:n-1]
		m.mu.Unlock()
		if time.Since(ic.since) > m.idleTimeout() {
			ic.c.quit()
			ic.c.conn.Close()
			continue
		}
		if ic.c.has("PIPELINING") {
			// RSET goes with the next MAIL (transactPipelined).
			ic.c.needRset = true
			ic.c.conn.SetDeadline(dl)
			return ic.c
		}
		ic.c.conn.SetDeadline(time.Now().Add(quitTimeout))
		if r, err := ic.c.cmd("RSET"); err != nil || !r.OK() {
			ic.c.conn.Close()
			continue
		}
		ic.c.conn.SetDeadline(dl)
		return ic.c
	}
}

// keep puts a clean session into the idle pool if there is room.
func (m *Mailer) keep(c *client) bool {
	if m.MaxIdle <= 0 || m.Dest.Network == "exec" {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || len(m.idle) >= m.MaxIdle {
		return false
	}
	c.conn.SetDeadline(time.Time{})
	m.idle = append(m.idle, idleConn{c: c, since: time.Now()})
	return true
}

func (m *Mailer) idleTimeout() time.Duration {
	if m.IdleTimeout > 0 {
		return m.IdleTimeout
	}
	return 30 * time.Second
}

// Close ends the idle sessions; Forward opens no more after it.
func (m *Mailer) Close() error {
	m.mu.Lock()
	idle := m.idle
	m.idle, m.closed = nil, true
	m.mu.Unlock()
	for _, ic := range idle {
		ic.c.conn.SetDeadline(time.Now().Add(quitTimeout))
		ic.c.quit()
		ic.c.conn.Close()
	}
	return nil
}

// brokenReply is the local reply for a connection that failed or broke.
func brokenReply(err error) mailflow.Reply {
	return mailflow.TempFail("4.4.2", "downstream MTA: %v", err)
}

func fill(replies []mailflow.Reply, from int, r mailflow.Reply) {
	for i := from; i < len(replies); i++ {
		if replies[i].Code == 0 {
			replies[i] = r
		}
	}
}

// child is a process speaking SMTP/LMTP on its stdin/stdout.
type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  io.ReadCloser
	once sync.Once
	mu   sync.Mutex
	dl   *time.Timer
}

func startChild(argv []string) (*child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mailer: starting %s: %w", argv[0], err)
	}
	return &child{cmd: cmd, in: in, out: out}, nil
}

func (c *child) Read(p []byte) (int, error)  { return c.out.Read(p) }
func (c *child) Write(p []byte) (int, error) { return c.in.Write(p) }

// SetDeadline kills the child at t: pipes to a child have no deadlines,
// and a hung child must not hold the session.
func (c *child) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dl != nil {
		c.dl.Stop()
		c.dl = nil
	}
	if t.IsZero() {
		return nil
	}
	c.dl = time.AfterFunc(time.Until(t), func() { c.cmd.Process.Kill() })
	return nil
}

func (c *child) Close() error {
	var err error
	c.once.Do(func() {
		c.in.Close()
		err = c.cmd.Wait()
		c.SetDeadline(time.Time{})
	})
	return err
}

// errBroken marks a connection that failed mid-transaction.
var errBroken = errors.New("mailer: connection broken")

type client struct {
	conn transport
	r    *bufio.Reader
	w    *bufio.Writer
	lmtp bool
	ext  map[string]string // EHLO keywords (upper case) -> parameters
	// needRset: a reused session whose RSET was not sent yet (it goes
	// in front of the next pipelined MAIL).
	needRset bool
	// inData: the message content was being sent when the transaction
	// failed; a QUIT now would be content, so the session is just closed
	// (without the final dot the downstream discards the message).
	inData bool
}

// open reads the greeting (RFC 5321 section 4.3.1) and says EHLO/LHLO.
// A refused session (greeting, EHLO, XFORWARD) says nothing about the
// message: it is a local 451, so a misconfigured re-injection port delays
// mail instead of bouncing it.
func (c *client) open(host string) (mailflow.Reply, bool) {
	r, err := c.reply()
	if err != nil {
		return brokenReply(err), false
	}
	if r.Code != 220 {
		c.quit()
		return refused(r), false
	}
	if r, err = c.hello(host); err != nil {
		return brokenReply(err), false
	} else if !r.OK() {
		c.quit()
		return refused(r), false
	}
	return r, true
}

// transact runs one mail transaction on an open session and fills
// replies. After a "452 4.5.3" to an RCPT it tries no more recipients:
// their replies stay zero and the 452 is returned. clean reports a
// session left in a known state (every reply read), fit for another
// transaction after RSET.
func (c *client) transact(env *mailflow.Envelope, size int64, msg io.Reader, replies []mailflow.Reply) (tooMany mailflow.Reply, clean bool) {
	fail := func(err error) { fill(replies, 0, brokenReply(err)) }
	var r mailflow.Reply
	var err error
	if len(env.XForward) > 0 {
		if _, ok := c.ext["XFORWARD"]; ok {
			if r, err = c.xforward(env.XForward); err != nil {
				fail(err)
				return
			} else if !r.OK() {
				fill(replies, 0, refused(r))
				return tooMany, false
			}
		}
	}
	if r, err = c.cmd(c.mailCmd(env, size)); err != nil {
		fail(err)
		return
	} else if !r.OK() {
		fill(replies, 0, downstream(r))
		return tooMany, true
	}
	var accepted []int
	for i, rc := range env.Rcpts {
		r, err := c.cmd(c.rcptCmd(rc))
		if err != nil {
			fail(err)
			return
		}
		if r.Code == 452 && r.Enhanced == "4.5.3" {
			tooMany = downstream(r)
			break
		}
		if r.OK() {
			accepted = append(accepted, i)
		} else {
			replies[i] = downstream(r)
		}
	}
	if len(accepted) == 0 {
		return tooMany, true
	}
	if r, err = c.cmd("DATA"); err != nil {
		fail(err)
		return
	} else if r.Code != 354 {
		for _, i := range accepted {
			replies[i] = dataRefused(r)
		}
		// After a stray answer the downstream may be waiting for the
		// message: the session is not reused.
		return tooMany, r.Temporary() || r.Permanent()
	}
	c.inData = true // until the final dot is sent
	if err := WriteDotStuffed(c.w, msg); err != nil {
		fail(err)
		return
	}
	if err := c.w.Flush(); err != nil {
		fail(err)
		return
	}
	c.inData = false
	if !c.finalReplies(accepted, replies) {
		return tooMany, false
	}
	return tooMany, true
}

// maxPipelined bounds the recipients sent in one pipelined group, so the
// replies the server writes meanwhile (about 50 bytes each) always fit
// in the socket or pipe buffer: a longer list goes one command at a time.
const maxPipelined = 100

// pipelining reports whether env's transaction is sent pipelined (RFC
// 2920): the server announced PIPELINING (LMTP servers must) and the
// recipients fit in one group.
func (c *client) pipelining(env *mailflow.Envelope) bool {
	return c.has("PIPELINING") && len(env.Rcpts) <= maxPipelined
}

// transactPipelined is transact for a server that announced PIPELINING:
// [RSET,] MAIL, every RCPT and DATA are sent in one write and their
// replies read afterwards (XFORWARD, when sent, goes first, one command
// at a time). The message is sent only on a 354 with at least one
// recipient accepted; a 354 without one closes the session (clean
// false), which aborts the transaction. Recipients answered "452 4.5.3"
// keep a zero reply (the caller tries them in another transaction) and
// the first such reply is returned; recipients accepted after it are
// part of this transaction. stale reports a reused session that failed
// its RSET (nothing of the transaction was accepted).
func (c *client) transactPipelined(env *mailflow.Envelope, size int64, msg io.Reader, replies []mailflow.Reply) (tooMany mailflow.Reply, clean, stale bool) {
	fail := func(err error) { fill(replies, 0, brokenReply(err)) }
	rset := c.needRset
	c.needRset = false
	if len(env.XForward) > 0 && c.has("XFORWARD") {
		if rset {
			if r, err := c.cmd("RSET"); err != nil || !r.OK() {
				return tooMany, false, true
			}
			rset = false
		}
		if r, err := c.xforward(env.XForward); err != nil {
			fail(err)
			return tooMany, false, false
		} else if !r.OK() {
			fill(replies, 0, refused(r))
			return tooMany, false, false
		}
	}
	if rset {
		c.w.WriteString("RSET\r\n")
	}
	c.w.WriteString(c.mailCmd(env, size) + "\r\n")
	for _, rc := range env.Rcpts {
		c.w.WriteString(c.rcptCmd(rc) + "\r\n")
	}
	// CHUNKING (RFC 3030): the message goes in BDAT commands right
	// behind the RCPTs, without waiting for a 354: one round trip for
	// the whole transaction instead of two.
	chunks := 0
	if c.has("CHUNKING") {
		var err error
		c.inData = true // until BDAT LAST is sent
		if chunks, err = writeChunks(c.w, msg); err != nil {
			// A reused session that broke is stale (Forward tries
			// again with a fresh reader); a message that could not be
			// read is not.
			fail(err)
			return tooMany, false, rset && errors.Is(err, errBroken)
		}
	} else if _, err := c.w.WriteString("DATA\r\n"); err != nil {
		fail(fmt.Errorf("%w: %v", errBroken, err))
		return tooMany, false, rset
	}
	if err := c.w.Flush(); err != nil {
		fail(fmt.Errorf("%w: %v", errBroken, err))
		return tooMany, false, rset
	}
	c.inData = false
	if rset {
		r, err := c.reply()
		if err != nil || !r.OK() && chunks == 0 {
			return tooMany, false, true
		}
		if !r.OK() {
			// The server refused RSET but may take what follows: the
			// message went with BDAT LAST, so sending it again in
			// another session could deliver it twice. Nothing is
			// known of it: the MTA keeps it and tries later.
			fail(fmt.Errorf("%w: RSET of a reused session answered %s", errBroken, r))
			return tooMany, false, false
		}
	}
	mail, err := c.reply()
	if err != nil {
		fail(err)
		return tooMany, false, false
	}
	rcpts := make([]mailflow.Reply, len(env.Rcpts))
	for i := range rcpts {
		if rcpts[i], err = c.reply(); err != nil {
			fail(err)
			return tooMany, false, false
		}
	}
	if chunks > 0 {
		tooMany, clean = c.chunkReplies(chunks, mail, rcpts, replies)
		return tooMany, clean, false
	}
	data, err := c.reply()
	if err != nil {
		fail(err)
		return tooMany, false, false
	}
	if !mail.OK() {
		fill(replies, 0, downstream(mail))
		return tooMany, data.Code != 354, false
	}
	accepted, tooMany := sortRcpts(rcpts, replies)
	if data.Code != 354 {
		for _, i := range accepted {
			replies[i] = dataRefused(data)
		}
		return tooMany, data.Temporary() || data.Permanent(), false
	}
	if len(accepted) == 0 {
		return tooMany, false, false
	}
	c.inData = true // until the final dot is sent
	if err := WriteDotStuffed(c.w, msg); err != nil {
		fail(err)
		return tooMany, false, false
	}
	if err := c.w.Flush(); err != nil {
		fail(fmt.Errorf("%w: %v", errBroken, err))
		return tooMany, false, false
	}
	c.inData = false
	if !c.finalReplies(accepted, replies) {
		return tooMany, false, false
	}
	return tooMany, true, false
}

// sortRcpts sorts the RCPT replies of a transaction whose MAIL was
// accepted: the indexes of the accepted recipients, the first "452
// 4.5.3" (the recipients it answered keep a zero reply, for another
// transaction) and, in replies, the refusals.
func sortRcpts(rcpts, replies []mailflow.Reply) (accepted []int, tooMany mailflow.Reply) {
	for i, r := range rcpts {
		switch {
		case r.Code == 452 && r.Enhanced == "4.5.3":
			if tooMany.Code == 0 {
				tooMany = downstream(r)
			}
		case r.OK():
			accepted = append(accepted, i)
		default:
			replies[i] = downstream(r)
		}
	}
	return accepted, tooMany
}

// chunkReplies reads the replies to the BDAT commands of a pipelined
// transaction, whose MAIL and RCPT replies were read: one per chunk, and
// after the last one per accepted recipient for LMTP. A chunk refused
// before the last ends the transaction: its reply goes to the accepted
// recipients and the replies still due are read.
func (c *client) chunkReplies(chunks int, mail mailflow.Reply, rcpts, replies []mailflow.Reply) (tooMany mailflow.Reply, clean bool) {
	var accepted []int
	if mail.OK() {
		accepted, tooMany = sortRcpts(rcpts, replies)
	} else {
		fill(replies, 0, downstream(mail))
	}
	if len(accepted) == 0 {
		// Every BDAT was refused with one reply each.
		for range chunks {
			if _, err := c.reply(); err != nil {
				return tooMany, false
			}
		}
		return tooMany, true
	}
	for k := 0; k < chunks-1; k++ {
		r, err := c.reply()
		if err != nil {
			fill(replies, 0, brokenReply(err))
			return tooMany, false
		}
		if !r.OK() {
			// The server dropped the transaction: the rest of the
			// chunks, LAST included, get one refusal each.
			for _, i := range accepted {
				replies[i] = downstream(r)
			}
			for k++; k < chunks; k++ {
				if _, err := c.reply(); err != nil {
					return tooMany, false
				}
			}
			return tooMany, true
		}
	}
	if !c.finalReplies(accepted, replies) {
		return tooMany, false
	}
	return tooMany, true
}

// writeChunks writes msg as BDAT commands of up to 64 KiB, the last one
// marked LAST, and returns how many it wrote. As with DATA, content that
// does not end in CRLF gets one. An error reading msg is returned as it
// is, before any LAST: the downstream then discards the transaction when
// the session is closed.
func writeChunks(w *bufio.Writer, msg io.Reader) (int, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	chunks := 0
	var total int64
	var tail [2]byte // the content's last two bytes
	for {
		n, err := io.ReadFull(msg, buf[:len(buf)-2])
		last := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !last {
			return chunks, err
		}
		chunk := buf[:n]
		if n >= 2 {
			tail = [2]byte{chunk[n-2], chunk[n-1]}
		} else if n == 1 {
			tail = [2]byte{tail[1], chunk[0]}
		}
		total += int64(n)
		if last && total > 0 && tail != [2]byte{'\r', '\n'} {
			chunk = append(chunk, '\r', '\n') // room was kept for it
		}
		cmd := "BDAT " + strconv.Itoa(len(chunk))
		if last {
			cmd += " LAST"
		}
		if _, werr := w.WriteString(cmd + "\r\n"); werr != nil {
			return chunks, fmt.Errorf("%w: %v", errBroken, werr)
		}
		if _, werr := w.Write(chunk); werr != nil {
			return chunks, fmt.Errorf("%w: %v", errBroken, werr)
		}
		chunks++
		if last {
			return chunks, nil
		}
	}
}

// finalReplies reads the replies after the final dot: one (SMTP), or one
// per accepted recipient in RCPT order (LMTP, RFC 2033 section 4.2).
// false: the connection broke (replies then say so).
func (c *client) finalReplies(accepted []int, replies []mailflow.Reply) bool {
	n := 1
	if c.lmtp {
		n = len(accepted)
	}
	for k := 0; k < n; k++ {
		r, err := c.reply()
		if err != nil {
			fill(replies, 0, brokenReply(err))
			return false
		}
		if c.lmtp {
			replies[accepted[k]] = downstream(r)
		} else {
			for _, i := range accepted {
				replies[i] = downstream(r)
			}
		}
	}
	return true
}

func downstream(r mailflow.Reply) mailflow.Reply { r.Local = false; return r }

// dataRefused is a recipient's reply when DATA got r instead of 354: the
// downstream's 4xx or 5xx, or, for anything else (a 2xx would read as
// delivered although no byte of the message was sent), a local 451.
func dataRefused(r mailflow.Reply) mailflow.Reply {
	if r.Temporary() || r.Permanent() {
		return downstream(r)
	}
	return mailflow.TempFail("4.3.0", "downstream MTA answered DATA with %s", r)
}

// refused is the local 451 for a downstream that refused the session.
func refused(r mailflow.Reply) mailflow.Reply {
	return mailflow.TempFail("4.4.2", "downstream MTA refused the session: %s", r)
}

// quitTimeout bounds the wait for the reply to QUIT on a socket (a
// child's exit is bounded by the transaction's deadline instead).
const quitTimeout = 10 * time.Second

func (c *client) quit() {
	if c.inData {
		return
	}
	if nc, ok := c.conn.(net.Conn); ok {
		nc.SetDeadline(time.Now().Add(quitTimeout))
	}
	c.cmd("QUIT")
}

// hello sends EHLO (or LHLO) and records the extensions; an SMTP server
// that refuses EHLO gets HELO.
func (c *client) hello(host string) (mailflow.Reply, error) {
	verb := "EHLO"
	if c.lmtp {
		verb = "LHLO"
	}
	lines, r, err := c.cmdLines(verb + " " + host)
	if err != nil {
		return r, err
	}
	c.ext = map[string]string{}
	if !r.OK() && !c.lmtp && r.Class() == 5 {
		return c.cmd("HELO " + host)
	}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return r, nil
}

func (c *client) has(ext string) bool { _, ok := c.ext[ext]; return ok }

// mailCmd builds MAIL FROM with the parameters the server supports.
func (c *client) mailCmd(env *mailflow.Envelope, size int64) string {
	var b strings.Builder
	b.WriteString("MAIL FROM:<" + env.From + ">")
	if c.has("SIZE") {
		b.WriteString(" SIZE=" + strconv.FormatInt(size, 10))
	}
	if env.Body == "8BITMIME" && c.has("8BITMIME") {
		b.WriteString(" BODY=" + env.Body)
	}
	if env.UTF8 && c.has("SMTPUTF8") {
		b.WriteString(" SMTPUTF8")
	}
	if c.has("DSN") {
		if env.Ret != "" {
			b.WriteString(" RET=" + env.Ret)
		}
		if env.EnvID != "" {
			b.WriteString(" ENVID=" + xtext.Encode(env.EnvID))
		}
	}
	return b.String()
}

func (c *client) rcptCmd(r mailflow.Recipient) string {
	s := "RCPT TO:<" + r.Addr + ">"
	if c.has("DSN") {
		if len(r.Notify) > 0 {
			s += " NOTIFY=" + strings.Join(r.Notify, ",")
		}
		if r.ORcpt != "" {
			t := r.ORcptType
			if t == "" {
				t = "rfc822"
			}
			if strings.EqualFold(t, "utf-8") {
				s += " ORCPT=" + t + ";" + xtext.UTF8Addr(r.ORcpt)
			} else {
				s += " ORCPT=" + t + ";" + xtext.Encode(r.ORcpt)
			}
		}
	}
	return s
}

// xforward sends the XFORWARD attributes the server announced (Postfix
// XFORWARD_README), in commands of at most 512 bytes.
func (c *client) xforward(attrs map[string]string) (mailflow.Reply, error) {
	allowed := map[string]bool{}
	for _, a := range strings.Fields(strings.ToUpper(c.ext["XFORWARD"])) {
		allowed[a] = true
	}
	r := mailflow.Reply{Code: 250}
	line := "XFORWARD"
	flush := func() error {
		if line == "XFORWARD" {
			return nil
		}
		var err error
		r, err = c.cmd(line)
		line = "XFORWARD"
		if err == nil && !r.OK() {
			return errNotOK
		}
		return err
	}
	for _, k := range []string{"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"} {
		v, ok := attrs[k]
		if !ok || !allowed[k] {
			continue
		}
		item := " " + k + "=" + xtext.Encode(v)
		if len(line)+len(item) > 500 {
			if err := flush(); err != nil {
				return r, ignoreNotOK(err)
			}
		}
		line += item
	}
	return r, ignoreNotOK(flush())
}

var errNotOK = errors.New("not ok")

func ignoreNotOK(err error) error {
	if err == errNotOK {
		return nil
	}
	return err
}

func (c *client) cmd(line string) (mailflow.Reply, error) {
	_, r, err := c.cmdLines(line)
	return r, err
}

func (c *client) cmdLines(line string) ([]string, mailflow.Reply, error) {
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return nil, mailflow.Reply{}, fmt.Errorf("%w: %v", errBroken, err)
	}
	if err := c.w.Flush(); err != nil {
		return nil, mailflow.Reply{}, fmt.Errorf("%w: %v", errBroken, err)
	}
	return c.replyLines()
}

func (c *client) reply() (mailflow.Reply, error) {
	_, r, err := c.replyLines()
	return r, err
}

// maxReplyLines bounds a multi-line reply.
const maxReplyLines = 1000

// replyLines reads one reply (RFC 5321 section 4.2.1): "ddd-text" lines
// then "ddd text". It returns the texts and the reply, whose Text is the
// first line's (without the enhanced code).
func (c *client) replyLines() ([]string, mailflow.Reply, error) {
	var texts []string
	var r mailflow.Reply
	for n := 0; n < maxReplyLines; n++ {
		line, err := c.r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, r, fmt.Errorf("%w: %v", errBroken, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return nil, r, fmt.Errorf("%w: bad reply %q", errBroken, line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 {
			return nil, r, fmt.Errorf("%w: bad reply %q", errBroken, line)
		}
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		if n == 0 {
			r.Code = code
			r.Enhanced, r.Text = splitEnhanced(text, code)
		}
		texts = append(texts, text)
		if len(line) == 3 || line[3] == ' ' {
			return texts, r, nil
		}
	}
	return nil, r, fmt.Errorf("%w: reply longer than %d lines", errBroken, maxReplyLines)
}

// splitEnhanced separates an RFC 3463 code "X.Y.Z" whose class matches
// the reply code from the text.
func splitEnhanced(text string, code int) (string, string) {
	first, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(first, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(code/100) {
		return "", text
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 {
			return "", text
		}
	}
	return first, rest
}

// WriteDotStuffed writes msg as DATA content (RFC 5321 section 4.5.2): a
// "." is doubled at the start of the message and after every CRLF; a
// message not ending in CRLF gets one; then ".\r\n". Nothing else is
// changed (bare LF and bare CR pass through). It reads msg in 64 KiB
// chunks (a pooled buffer) and writes the runs between the dots to double
// in one Write each, so long lines and long messages cost nothing extra.
// An error reading msg is returned as it is, before the final dot.
// scripts/mailbench sends its load with it too.
func WriteDotStuffed(w *bufio.Writer, msg io.Reader) error {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	// lineStart: the bytes so far end in CRLF (or there are none);
	// prevCR: they end in CR.
	lineStart, prevCR := true, false
	for {
		n, err := msg.Read(buf)
		chunk := buf[:n]
		for len(chunk) > 0 {
			if lineStart && chunk[0] == '.' {
				if err := w.WriteByte('.'); err != nil {
					return fmt.Errorf("%w: %v", errBroken, err)
				}
			}
			// Up to (not including) the next "." that starts a line.
			end := len(chunk)
			for from := 0; from < len(chunk); {
				i := bytes.Index(chunk[from:], []byte("\n."))
				if i < 0 {
					break
				}
				at := from + i // chunk[at] == '\n'; its CR may end the previous chunk
				if at >= 1 && chunk[at-1] == '\r' || at == 0 && prevCR {
					end = at + 1
					break
				}
				from = at + 1
			}
			part := chunk[:end]
			if _, werr := w.Write(part); werr != nil {
				return fmt.Errorf("%w: %v", errBroken, werr)
			}
			k := len(part)
			last := part[k-1]
			lineStart = last == '\n' && (k >= 2 && part[k-2] == '\r' || k == 1 && prevCR)
			prevCR = last == '\r'
			chunk = chunk[end:]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if !lineStart {
		w.WriteString("\r\n")
	}
	if _, err := w.WriteString(".\r\n"); err != nil {
		return fmt.Errorf("%w: %v", errBroken, err)
	}
	return nil
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
