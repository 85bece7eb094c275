// Package mailflow carries one message through smtpscanner: spool to disk
// and sync, scan, decide per recipient, act, forward, and reply. It is the
// protocol-neutral core: it does not import go-smtp, gRPC or the engine.
// The SMTP/LMTP server (pkg/smtpfilter) feeds it envelopes and bytes and
// renders its per-recipient Replies; the forwarder (pkg/mailer) and the
// scanner are small interfaces declared here and passed in by cmd.
//
// The reliability rules of DESIGN.md live here: a recipient gets a 2xx
// Reply only when the downstream MTA accepted the message for it (or the
// policy discarded it); every internal failure is a 451 4.x.x; downstream
// 5xx replies are passed back unchanged.
package mailflow

import (
	"fmt"
	"strings"
)

// Envelope is the SMTP envelope of one message (RFC 5321 section 4.1.1.2
// and 4.1.1.3) with the ESMTP parameters smtpscanner passes on: SIZE
// (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC 3461) and
// Postfix XFORWARD attributes.
type Envelope struct {
	From     string            // reverse path without brackets; "" is the null sender
	Body     string            // "" (7BIT), "8BITMIME" or "BINARYMIME"
	UTF8     bool              // SMTPUTF8 was given on MAIL
	Ret      string            // DSN RET: "", "FULL" or "HDRS"
	EnvID    string            // DSN ENVID, xtext-decoded
	XForward map[string]string // XFORWARD attributes by upper-case name (NAME, ADDR, PROTO, HELO, SOURCE, IDENT, PORT)
	Rcpts    []Recipient
	// PerRecipientReplies: the MTA gets one reply per recipient (LMTP),
	// so a temporary failure makes it retry that recipient alone; false
	// (SMTP, qmail-queue): the replies are combined (Combine) and any
	// temporary failure retries the whole message.
	PerRecipientReplies bool
}

// Retried reports whether the MTA will offer recipient i of a message
// with these replies again: a reply that is neither a 2xx nor a 5xx (a
// 4xx, or a stray code, which Combine turns into a 451) for it, or for
// any recipient when the replies are combined.
func (e *Envelope) Retried(replies []Reply, i int) bool {
	again := func(r Reply) bool { return r.Temporary() || r.Stray() }
	if e.PerRecipientReplies {
		return i >= len(replies) || again(replies[i])
	}
	for _, r := range replies {
		if again(r) {
			return true
		}
	}
	return false
}

// Recipient is one RCPT TO with its DSN parameters.
type Recipient struct {
	Addr      string   // forward path without brackets
	Notify    []string // DSN NOTIFY values (NEVER, SUCCESS, FAILURE, DELAY)
	ORcptType string   // DSN ORCPT address type, e.g. "rfc822" ("" = no ORCPT)
	ORcpt     string   // DSN ORCPT address, xtext-decoded
}

// Addrs returns the recipient addresses in order.
func (e *Envelope) Addrs() []string {
	out := make([]string, len(e.Rcpts))
	for i, r := range e.Rcpts {
		out[i] = r.Addr
	}
	return out
}

// Reply is an SMTP reply (RFC 5321 section 4.2) with its enhanced status
// code (RFC 3463). Local is set on replies smtpscanner made itself
// (failures), as opposed to replies passed back from downstream.
type Reply struct {
	Code     int    // 250, 451, 554, ...
	Enhanced string // "2.0.0", "4.3.0", ... ("" = none)
	Text     string
	Local    bool
}

// Class is 2, 4 or 5 (the first digit of the code).
func (r Reply) Class() int { return r.Code / 100 }

// OK reports a positive completion reply.
func (r Reply) OK() bool { return r.Class() == 2 }

// Temporary reports a transient failure (4xx).
func (r Reply) Temporary() bool { return r.Class() == 4 }

// Permanent reports a permanent failure (5xx).
func (r Reply) Permanent() bool { return r.Class() == 5 }

// Stray reports a reply that is none of 2xx, 4xx and 5xx: nobody can act
// on it as a final reply, so it counts as a temporary failure (Combine
// makes it 451, and the message is offered again).
func (r Reply) Stray() bool { return !r.OK() && !r.Temporary() && !r.Permanent() }

func (r Reply) String() string {
	s := fmt.Sprintf("%d", r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// TempFail makes a local 451 reply; enhanced is the RFC 3463 code.
func TempFail(enhanced, format string, args ...any) Reply {
	return Reply{Code: 451, Enhanced: enhanced, Text: Sanitize(fmt.Sprintf(format, args...)), Local: true}
}

// Sanitize keeps reply text on one line of printable characters.
func Sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 32 || r == 127 {
			return ' '
		}
		return r
	}, s)
}

// Combine folds per-recipient replies into the one reply an SMTP (not
// LMTP) client gets after DATA, where a reply cannot differ by recipient.
// The rule never loses a message: if any recipient failed temporarily the
// whole message is 451 and the MTA retries it (recipients already accepted
// downstream may then get a duplicate, as RFC 1047 accepts); otherwise if
// any failed permanently the first 5xx is passed back (the MTA bounces);
// otherwise a 250: the downstream's own ("queued as ...") when any
// recipient's copy went there, else the first (a copy discarded by
// policy, say).
func Combine(replies []Reply) Reply {
	if len(replies) == 0 {
		return TempFail("4.5.3", "no recipients")
	}
	for _, r := range replies {
		if r.Stray() {
			return TempFail("4.3.0", "unexpected reply %s", r)
		}
	}
	var first5 *Reply
	ok := 0
	for i, r := range replies {
		switch {
		case r.Temporary():
			if len(replies) == 1 {
				return r
			}
			return Reply{Code: 451, Enhanced: "4.3.0", Text: "temporary failure for some recipients: " + r.Text, Local: true}
		case r.Permanent() && first5 == nil:
			first5 = &replies[i]
		case r.OK():
			ok++
		}
	}
	if first5 != nil {
		return *first5
	}
	for _, r := range replies {
		if !r.Local {
			return r
		}
	}
	return replies[0]
}
