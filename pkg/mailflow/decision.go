package mailflow

import (
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
// equal Headers are delivered in one downstream transaction; recipients
// with different Headers are split into several (issue 6's per-group
// outcomes, cured copies and tags fit here without reshaping the flow).
type Decision struct {
	Action  Action
	Headers []string // header lines ("Name: value", no CRLF) added on delivery, in order
	Reply   Reply    // for Reject and Defer
	Reason  string   // short text for the log ("INFECTED reject", "clean")
}

// Policy decides, for each recipient of env, what to do with a message
// whose scan gave res. It returns one Decision per env.Rcpts entry, in
// order. It must be pure and safe for concurrent use.
type Policy interface {
	Decide(env *Envelope, res *verdict.Result) []Decision
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
// alike, until the group policy (issue 6) replaces it. Clean mail is
// always delivered. Every delivered copy gets ScannedHeader (if set); a
// tagged one also gets "TagHeader: STATUS name, name".
type BasicPolicy struct {
	Actions       map[verdict.Status]BasicAction // missing = deliver
	ScannedHeader string                         // "" = none
	TagHeader     string                         // header name; "" = tag adds nothing
}

// Decide implements Policy.
func (p BasicPolicy) Decide(env *Envelope, res *verdict.Result) []Decision {
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
				Text: sanitize("message rejected: " + Describe(res)), Local: true}}
		case ActDiscard:
			d = Decision{Action: Discard, Reason: d.Reason}
		}
	}
	out := make([]Decision, len(env.Rcpts))
	for i := range out {
		out[i] = d
	}
	return out
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
