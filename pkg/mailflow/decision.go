package mailflow

import (
	"context"
	"strings"

	"ave/pkg/verdict"
)

// Action is what happens to a message for one recipient.
type Action int

// Actions, from least to most final.
const (
	Deliver Action = iota // forward (with the Decision's headers)
	Reject                // answer with the Decision's Reply (5xx); the MTA bounces
	Discard               // answer 250 and drop
	Defer                 // answer with the Decision's Reply (4xx); the MTA retries
)

var actionNames = [...]string{"deliver", "reject", "discard", "defer"}

func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action?"
}

// Decision is the outcome chosen for one recipient. It is a value: the
// flow acts on it, the protocol adapters render its Reply. Recipients with
// equal Headers and Variant are delivered in one downstream transaction;
// the others are split into several (per-group outcomes, cured copies and
// tags).
type Decision struct {
	Action  Action
	Headers []string // header lines ("Name: value", no CRLF) added on delivery, in order
	// Content replaces the message for this recipient (a cured copy, a
	// copy with a report part); nil delivers the spooled message. Headers
	// are added before it either way.
	Content []byte
	// Variant names Content for grouping ("" for the spooled message):
	// decisions with equal Variant must have identical Content.
	Variant string
	Reply   Reply  // for Reject and Defer
	Reason  string // short text for the log ("INFECTED reject", "clean")
}

// Input is what a Policy decides on.
type Input struct {
	Env *Envelope
	Msg *Message
	// Result of the scan; nil when the message was not scanned because
	// the policy's NeedScan said so.
	Result *verdict.Result
}

// Plan is a Policy's answer: one Decision per recipient plus the work
// around delivery.
type Plan struct {
	Decisions []Decision // one per Input.Env.Rcpts entry, in order
	// Before runs before anything is delivered or answered (quarantine:
	// it must be on disk before a recipient gets a 250 without a copy).
	// An error defers the whole message with 451.
	Before func(ctx context.Context) error
	// After runs once every delivery is done and o.Replies are final
	// (notifications, report log). It cannot change the replies.
	After func(ctx context.Context, o *Outcome)
}

// Policy decides, for each recipient of a scanned message, what to do.
// An error defers the message (451). It must be safe for concurrent use.
type Policy interface {
	Decide(ctx context.Context, in *Input) (*Plan, error)
}

// DeferReporter is implemented by policies that record a message
// deferred instead of settled: the scan failed, Decide or the plan's
// Before failed, or its spool sync failed after the forward (which then
// had no end). Plan.After does not run then. Deferred gets the outcome
// with its 451 replies and ScanErr or PolicyErr set.
type DeferReporter interface {
	Deferred(ctx context.Context, o *Outcome)
}

// DSNSender is implemented by policies that can tell a sender about
// recipients refused for good themselves, with a delivery status
// notification: Flow asks it when the MTA gets one combined reply (SMTP,
// qmail-queue: Envelope.PerRecipientReplies false) and some recipients
// were refused while the others got the message. A 5xx would make the MTA
// bounce the message for every recipient, those who got it too.
type DSNSender interface {
	// SendDSN reports sent false with a nil error when no DSN was
	// wanted (the null sender, NOTIFY without FAILURE).
	SendDSN(ctx context.Context, o *Outcome, msg *Message, refused []int) (sent bool, err error)
}

// ScanSelector is implemented by policies that can exempt recipients from
// scanning: when NeedScan is false, the message is not scanned and
// Decide gets a nil Result.
type ScanSelector interface {
	NeedScan(env *Envelope) bool
}

// BasicAction is the per-status action of BasicPolicy.
type BasicAction string

// Basic actions (the values of the *Action keys of [smtpscan.general]).
const (
	ActDeliver BasicAction = "deliver"
	ActTag     BasicAction = "tag"
	ActReject  BasicAction = "reject"
	ActDiscard BasicAction = "discard"
)

// BasicPolicy applies one action per roll-up status to every recipient
// alike: the simplest Policy, used by tests of the flow and the servers
// (smtpscanner itself uses pkg/mailpolicy). Clean mail is
// always delivered. Every delivered copy gets ScannedHeader (if set); a
// tagged one also gets "TagHeader: STATUS name, name".
type BasicPolicy struct {
	Actions       map[verdict.Status]BasicAction // missing = deliver
	ScannedHeader string                         // "" = none
	TagHeader     string                         // header name; "" = tag adds nothing
}

// Decide implements Policy.
func (p BasicPolicy) Decide(_ context.Context, in *Input) (*Plan, error) {
	env, res := in.Env, in.Result
	d := Decision{Action: Deliver, Reason: "clean"}
	if p.ScannedHeader != "" {
		d.Headers = []string{p.ScannedHeader}
	}
	if res.Status != verdict.Clean {
		act := p.Actions[res.Status]
		if act == "" {
			act = ActDeliver
		}
		d.Reason = res.Status.String() + " " + string(act)
		switch act {
		case ActTag:
			if p.TagHeader != "" {
				d.Headers = append(append([]string(nil), d.Headers...), p.TagHeader+": "+Describe(res))
			}
		case ActReject:
			d = Decision{Action: Reject, Reason: d.Reason, Reply: Reply{Code: 554, Enhanced: "5.7.1",
				Text: Sanitize("message rejected: " + Describe(res)), Local: true}}
		case ActDiscard:
			d = Decision{Action: Discard, Reason: d.Reason}
		}
	}
	out := make([]Decision, len(env.Rcpts))
	for i := range out {
		out[i] = d
	}
	return &Plan{Decisions: out}, nil
}

// Describe renders a result as "INFECTED EICAR-Test-File, Other" (names of
// signatures) or "CORRUPTED (reason)" when there are no names.
func Describe(res *verdict.Result) string {
	s := res.Status.String()
	if names := res.Names(); len(names) > 0 {
		return s + " " + strings.Join(names, ", ")
	}
	for _, d := range res.Detections {
		if d.Reason != "" {
			return s + " (" + d.Reason + ")"
		}
	}
	return s
}
