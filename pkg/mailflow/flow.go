package mailflow

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"ave/pkg/verdict"
)

// Scanner scans one whole message. size is its exact length. An error
// means "not scanned" (daemon down, busy, time-out) and becomes a 451.
type Scanner interface {
	Scan(ctx context.Context, name string, size int64, r io.Reader) (*verdict.Result, error)
}

// Forwarder hands a message to the downstream MTA. It returns one Reply
// per env.Rcpts entry, in order: the downstream's own reply for that
// recipient, or a local 451 when the transaction broke before that
// recipient's outcome was known. open returns, each time it is called,
// a new reader of the exact byte stream to send (before dot-stuffing),
// so a forwarder can send it more than once (several transactions); size
// is its length.
type Forwarder interface {
	Forward(ctx context.Context, env *Envelope, size int64, open func() io.Reader) []Reply
}

// Options configure a Flow. Scanner, Forwarder and Policy are required.
type Options struct {
	Scanner        Scanner
	Forwarder      Forwarder
	Policy         Policy
	MaxCheckTime   time.Duration // 0 = no limit beyond ctx
	ForwardTimeout time.Duration // per downstream transaction; 0 = no limit beyond ctx
}

// Flow processes messages. It holds no per-message state and is safe for
// concurrent use.
type Flow struct {
	opt Options
}

// New returns a Flow.
func New(opt Options) (*Flow, error) {
	if opt.Scanner == nil || opt.Forwarder == nil || opt.Policy == nil {
		return nil, errors.New("mailflow: Scanner, Forwarder and Policy are required")
	}
	return &Flow{opt: opt}, nil
}

// Outcome is what happened to one message; Replies has one final reply
// per recipient, in envelope order.
type Outcome struct {
	QueueID   string
	MessageID string
	Env       *Envelope
	Size      int64
	Result    *verdict.Result // nil when the scan failed or was not needed
	ScanErr   error
	PolicyErr error      // the policy failed (the message was deferred)
	Decisions []Decision // nil when the scan failed
	Replies   []Reply
	Receive   time.Duration
	ScanTime  time.Duration
	Forward   time.Duration
	// Bounced are the recipients refused for good whose refusal is not in
	// the MTA's reply (SettleRefused); DSNSent says whether a DSN told
	// the sender (none when unwanted: the null sender, NOTIFY without
	// FAILURE); DSNErr is why one could not be sent.
	Bounced []string
	DSNSent bool
	DSNErr  error
}

// Process scans, decides, acts and forwards msg, which must be spooled
// (Message.ReadFrom returned nil). It does not remove the spool file: the
// caller does once it has answered.
func (f *Flow) Process(ctx context.Context, env *Envelope, msg *Message) *Outcome {
	o := &Outcome{QueueID: msg.ID, Env: env, Size: msg.Size(), Receive: msg.Received()}
	o.MessageID = messageID(msg.Reader())
	all := func(r Reply) []Reply {
		out := make([]Reply, len(env.Rcpts))
		for i := range out {
			out[i] = r
		}
		return out
	}

	if sel, ok := f.opt.Policy.(ScanSelector); !ok || sel.NeedScan(env) {
		start := time.Now()
		sctx, cancel := withTimeout(ctx, f.opt.MaxCheckTime)
		res, err := f.opt.Scanner.Scan(sctx, msg.ID, msg.Size(), msg.Reader())
		timedOut := errors.Is(sctx.Err(), context.DeadlineExceeded) // before cancel sets Err
		cancel()
		o.ScanTime = time.Since(start)
		if err == nil && res == nil {
			err = errors.New("no result")
		}
		if err != nil {
			o.ScanErr = err
			if errors.Is(err, context.DeadlineExceeded) || timedOut {
				o.Replies = all(TempFail("4.3.0", "virus scan not finished in time, try again later"))
			} else {
				o.Replies = all(TempFail("4.3.0", "virus scanner unavailable, try again later"))
			}
			f.deferred(ctx, o)
			return o
		}
		o.Result = res
	}

	plan, err := f.opt.Policy.Decide(ctx, &Input{Env: env, Msg: msg, Result: o.Result})
	if err == nil && (plan == nil || len(plan.Decisions) != len(env.Rcpts)) {
		n := 0
		if plan != nil {
			n = len(plan.Decisions)
		}
		err = fmt.Errorf("policy gave %d decisions for %d recipients", n, len(env.Rcpts))
	}
	if err == nil && plan.Before != nil {
		err = plan.Before(ctx)
	}
	if err != nil {
		o.PolicyErr = err
		o.Replies = all(TempFail("4.3.0", "virus filter failed to act on the message, try again later"))
		f.deferred(ctx, o)
		return o
	}
	ds := plan.Decisions
	o.Decisions = ds
	o.Replies = make([]Reply, len(env.Rcpts))

	// Split delivery: one downstream transaction per distinct header set
	// and content variant.
	type group struct {
		headers []string
		content []byte
		idx     []int
	}
	var groups []*group
	byKey := map[string]*group{}
	for i, d := range ds {
		switch d.Action {
		case Deliver:
			k := d.Variant + "\x00" + strings.Join(d.Headers, "\n")
			g := byKey[k]
			if g == nil {
				g = &group{headers: d.Headers, content: d.Content}
				byKey[k] = g
				groups = append(groups, g)
			}
			g.idx = append(g.idx, i)
		case Discard:
			o.Replies[i] = Reply{Code: 250, Enhanced: "2.7.0", Text: "message discarded by the virus filter", Local: true}
		case Reject, Defer:
			o.Replies[i] = d.Reply
		}
	}
	start := time.Now()
	var eol string
	for _, g := range groups {
		sub := *env
		sub.Rcpts = make([]Recipient, len(g.idx))
		for j, i := range g.idx {
			sub.Rcpts[j] = env.Rcpts[i]
		}
		body := msg.Reader
		size := msg.Size()
		if g.content != nil {
			c := g.content
			body = func() io.Reader { return bytes.NewReader(c) }
			size = int64(len(c))
		}
		var head bytes.Buffer
		if len(g.headers) > 0 && eol == "" {
			eol = lineEnding(body())
		}
		for _, h := range g.headers {
			head.WriteString(h)
			head.WriteString(eol)
		}
		fctx, cancel := withTimeout(ctx, f.opt.ForwardTimeout)
		hb := head.Bytes()
		open := func() io.Reader { return io.MultiReader(bytes.NewReader(hb), body()) }
		replies := f.opt.Forwarder.Forward(fctx, &sub, int64(len(hb))+size, open)
		cancel()
		for j, i := range g.idx {
			if j < len(replies) {
				o.Replies[i] = replies[j]
			} else {
				o.Replies[i] = TempFail("4.3.0", "internal error: no downstream reply")
			}
		}
	}
	o.Forward = time.Since(start)
	// A message still being synced to the spool while it was scanned
	// (Spool.SetSyncBehind) is final only once that sync succeeded: the
	// front-end answers 451 otherwise, and the MTA offers the message
	// again, so nothing is notified or reported as done before.
	if err := msg.Synced(); err != nil {
		o.PolicyErr = fmt.Errorf("spooling the message: %w", err)
		o.Decisions = nil // none was carried out: the message is deferred
		o.Replies = all(TempFail("4.3.0", "cannot spool the message, try again later"))
		f.deferred(ctx, o)
		return o
	}
	if plan.After != nil {
		plan.After(ctx, o)
	}
	return o
}

// SettleRefused is for a front-end whose MTA gets one reply for the
// whole message (SMTP): called once that reply is otherwise final (the
// message is processed and its spool synced), it makes recipients
// refused for good beside delivered ones bounce by the policy's DSN and
// turns their replies into a local 250, so the combined reply is the 250
// the delivered recipients earned, not a 5xx that would make the MTA
// bounce the message for them too. Nothing changes unless every reply is
// a 2xx or a 5xx with at least one of each (anything else is retried
// whole, and the refusal comes again), the policy is a DSNSender and the
// DSN was accepted; the Outcome's report and notifications, made before,
// keep the refusals. Bounced lists the recipients settled so.
func (f *Flow) SettleRefused(ctx context.Context, o *Outcome, msg *Message) {
	if o.ScanErr != nil || o.PolicyErr != nil {
		return
	}
	var ok int
	var refused []int
	for i, r := range o.Replies {
		switch {
		case r.OK():
			ok++
		case r.Permanent():
			refused = append(refused, i)
		default:
			return // Combine makes it a 451: retried whole
		}
	}
	ds, can := f.opt.Policy.(DSNSender)
	if ok == 0 || len(refused) == 0 || !can {
		return
	}
	sent, err := ds.SendDSN(ctx, o, msg, refused)
	if err != nil {
		o.DSNErr = err
		return
	}
	o.DSNSent = sent
	for _, i := range refused {
		o.Bounced = append(o.Bounced, o.Env.Rcpts[i].Addr)
		o.Replies[i] = Reply{Code: 250, Enhanced: "2.0.0", Text: "refused for this recipient; the sender is told by a DSN if it asked for one", Local: true}
	}
}

// deferred tells a DeferReporter policy about a message deferred instead
// of settled (see DeferReporter).
func (f *Flow) deferred(ctx context.Context, o *Outcome) {
	if r, ok := f.opt.Policy.(DeferReporter); ok {
		r.Deferred(ctx, o)
	}
}

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// lineEnding returns "\n" when the message's first line ends in a bare
// LF, else "\r\n", so added header lines match the message.
func lineEnding(r io.Reader) string {
	br := bufio.NewReaderSize(r, 4096)
	line, err := br.ReadSlice('\n')
	if err == nil && !bytes.HasSuffix(line, []byte("\r\n")) {
		return "\n"
	}
	return "\r\n"
}

// maxHeaderScan bounds the bytes read to find the Message-ID.
const maxHeaderScan = 256 << 10

// messageID returns the Message-ID field of the header (unfolded,
// trimmed), or "". QUIRK: lenient; it stops at the first empty line or
// after maxHeaderScan bytes.
func messageID(r io.Reader) string {
	br := bufio.NewReader(io.LimitReader(r, maxHeaderScan))
	var cur string
	in := false
	for {
		line, err := br.ReadString('\n')
		t := strings.TrimRight(line, "\r\n")
		if in && (strings.HasPrefix(t, " ") || strings.HasPrefix(t, "\t")) {
			cur += t
		} else if in {
			return strings.TrimSpace(cur)
		} else if t == "" {
			return ""
		} else if name, v, ok := strings.Cut(t, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Message-ID") {
			cur, in = v, true
		}
		if err != nil {
			if in {
				return strings.TrimSpace(cur)
			}
			return ""
		}
	}
}

// LogAttrs returns the attributes of the one log line per message, in the
// spirit of amavisd's TIMING line.
func (o *Outcome) LogAttrs() []slog.Attr {
	status, names, action := "", "", ""
	if o.Result != nil {
		status = o.Result.Status.String()
		names = strings.Join(o.Result.Names(), ",")
	} else {
		status = "UNSCANNED"
	}
	if o.ScanErr != nil || o.PolicyErr != nil {
		status, action = "ERROR", "defer"
	} else {
		seen := map[string]bool{}
		var acts []string
		for _, d := range o.Decisions {
			if !seen[d.Action.String()] {
				seen[d.Action.String()] = true
				acts = append(acts, d.Action.String())
			}
		}
		action = strings.Join(acts, ",")
	}
	replies := make([]string, len(o.Replies))
	for i, r := range o.Replies {
		replies[i] = fmt.Sprint(r.Code)
	}
	attrs := []slog.Attr{
		slog.String("queue_id", o.QueueID),
		slog.String("message_id", o.MessageID),
		slog.String("from", o.Env.From),
		slog.String("rcpts", strings.Join(o.Env.Addrs(), ",")),
		slog.Int64("size", o.Size),
		slog.String("status", status),
		slog.String("names", names),
		slog.String("action", action),
		slog.String("replies", strings.Join(replies, ",")),
		slog.Duration("receive", o.Receive),
		slog.Duration("scan", o.ScanTime),
		slog.Duration("forward", o.Forward),
	}
	if a := o.Env.XForward["ADDR"]; a != "" {
		attrs = append(attrs, slog.String("client", a))
	}
	if o.ScanErr != nil {
		attrs = append(attrs, slog.String("error", o.ScanErr.Error()))
	}
	if o.PolicyErr != nil {
		attrs = append(attrs, slog.String("error", o.PolicyErr.Error()))
	}
	if len(o.Bounced) > 0 {
		dsn := "none wanted"
		if o.DSNSent {
			dsn = "sent to " + o.Env.From
		}
		attrs = append(attrs, slog.String("refused", strings.Join(o.Bounced, ",")), slog.String("dsn", dsn))
	}
	if o.DSNErr != nil {
		attrs = append(attrs, slog.String("dsn_error", o.DSNErr.Error()))
	}
	return attrs
}
