package mailpolicy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"ave/internal/xtext"
	"ave/pkg/config"
	"ave/pkg/mailedit"
	"ave/pkg/mailflow"
	"ave/pkg/mailnotify"
)

// Deferred implements mailflow.DeferReporter: a deferred message
// (scanner unavailable or too slow, the policy or its quarantine failed,
// its spool could not be synced) gets its report lines, status ERROR with
// the error; no notification (the MTA retries it, and its sender would
// get one per attempt).
func (p *Policy) Deferred(ctx context.Context, o *mailflow.Outcome) {
	m := &message{in: &mailflow.Input{Env: o.Env}, root: o.QueueID, runs: p.groupRuns(o.Env)}
	p.report.write(p.opt.Log, m, o)
}

// after sends the notifications and writes the report lines of a
// message once its replies are final.
func (p *Policy) after(ctx context.Context, m *message, o *mailflow.Outcome) {
	p.report.write(p.opt.Log, m, o)
	if o.PolicyErr != nil || o.ScanErr != nil {
		return
	}
	var header []byte
	if m.raw != nil {
		header = mailedit.HeaderBlock(m.raw)
	}
	budget := p.opt.Policy.Notify.MaxNotifications
	var supAll, toSender bool
	var supWhy string
	checked := false
	for _, run := range m.runs {
		if run.a == nil || run.a.Clean {
			continue
		}
		r := run.rules
		if !r.SenderNotify && !r.RecipientNotify && !r.AdminNotify {
			continue
		}
		// Recipients the MTA will offer again (a temporary failure
		// downstream) are notified about by the attempt that settles
		// them. Retried makes that every recipient or none in SMTP; in
		// LMTP the settled ones are notified about now.
		var idx []int
		for _, i := range run.idx {
			if !m.in.Env.Retried(o.Replies, i) {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			p.opt.Log.Info("notifications postponed: the message will be retried", "queue_id", m.root, "group", run.g.Name)
			continue
		}
		if !checked {
			if err := m.load(); err != nil {
				p.opt.Log.Warn("notifications not sent", "queue_id", m.root, "error", err)
				return
			}
			header = mailedit.HeaderBlock(m.raw)
			supAll, toSender, supWhy = mailnotify.Suppress(m.in.Env.From, header)
			checked = true
		}
		if supAll {
			p.opt.Log.Info("notifications suppressed", "queue_id", m.root, "reason", supWhy)
			return
		}
		send := func(kind mailnotify.Kind, to string, d mailnotify.Data, atts []mailnotify.Attachment) {
			if budget <= 0 {
				p.opt.Log.Warn("notification not sent: MaxNotifications reached", "queue_id", m.root, "to", to)
				return
			}
			budget--
			p.notify(ctx, m, run, kind, to, d, atts)
		}
		var rcpts []string
		for _, i := range idx {
			rcpts = append(rcpts, m.in.Env.Rcpts[i].Addr)
		}
		base := mailnotify.Data{QueueID: m.root, MessageID: o.MessageID, Sender: m.in.Env.From, Recipients: rcpts,
			Status: strings.ToUpper(run.a.Status.String()), Names: run.a.Names(), Group: run.g.Name,
			Report: run.report, Hostname: p.opt.Hostname, Date: time.Now(), Header: header}
		report := mailnotify.Attachment{Filename: "report.txt", ContentType: "text/plain; charset=utf-8", Data: []byte(run.report)}

		if r.SenderNotify && toSender {
			d := base
			d.Action = p.actionText(run, o, idx)
			var atts []mailnotify.Attachment
			if r.SenderAttachReport {
				atts = append(atts, report)
			}
			send(mailnotify.Sender, m.in.Env.From, d, atts)
		}
		if r.RecipientNotify {
			for _, i := range idx {
				d := base
				d.Recipients = []string{m.in.Env.Rcpts[i].Addr}
				d.Action = p.actionText(run, o, []int{i})
				var atts []mailnotify.Attachment
				if r.RecipientAttachReport && o.Decisions[i].Action != mailflow.Deliver {
					atts = append(atts, report)
				}
				send(mailnotify.Recipient, m.in.Env.Rcpts[i].Addr, d, atts)
			}
		}
		if r.AdminNotify && run.g.AdminAddress != "" {
			d := base
			d.Action = p.actionText(run, o, idx)
			var atts []mailnotify.Attachment
			switch r.AdminAction {
			case config.ActionUnchanged:
				atts = append(atts, mailnotify.Attachment{Filename: "original.eml", ContentType: "message/rfc822", Data: m.raw})
			case config.ActionCured:
				if c, ok, err := p.curedCopy(m, run); err == nil && ok {
					if c == nil {
						c = m.raw
					}
					atts = append(atts, mailnotify.Attachment{Filename: "cured.eml", ContentType: "message/rfc822", Data: c})
				}
			}
			if r.AdminAttachReport {
				atts = append(atts, report)
			}
			send(mailnotify.Admin, run.g.AdminAddress, d, atts)
		}
	}
}

// actionText says what happened to the message for the recipients idx.
func (p *Policy) actionText(run *groupRun, o *mailflow.Outcome, idx []int) string {
	var out []string
	seen := map[string]bool{}
	for _, j := range idx {
		var s string
		d, rep := o.Decisions[j], o.Replies[j]
		switch {
		case d.Action == mailflow.Reject:
			s = "rejected"
		case d.Action == mailflow.Discard:
			s = "not delivered"
		case !rep.OK():
			s = "not delivered yet (" + rep.String() + ")"
		case d.Content == nil:
			s = "delivered unchanged"
		default:
			s = "delivered " + map[config.RuleAction]string{config.ActionCured: "cured (infected or filtered parts removed)",
				config.ActionRemove: "without the parts found", config.ActionUnchanged: "unchanged"}[run.rules.RecipientAction]
			if run.rules.RecipientAttachReport {
				s += ", with the scan report"
			}
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	s := strings.Join(out, "; ")
	if run.g.Quarantine && run.rules.Quarantine {
		s += "; kept in quarantine"
	}
	return s
}

// notify renders and sends one notification with the null envelope
// sender; a failure is logged and changes nothing else.
func (p *Policy) notify(ctx context.Context, m *message, run *groupRun, kind mailnotify.Kind, to string, d mailnotify.Data, atts []mailnotify.Attachment) {
	if p.opt.Notifier == nil {
		p.opt.Log.Warn("notification not sent: no forwarder", "queue_id", m.root, "to", to)
		return
	}
	msg, err := p.opt.Templates.Render(kind, run.g.NotifyFromAddress, to, d, atts)
	if err != nil {
		p.opt.Log.Warn("notification not rendered", "queue_id", m.root, "to", to, "error", err)
		return
	}
	env := &mailflow.Envelope{From: "", Rcpts: []mailflow.Recipient{{Addr: to}}}
	if bytes.ContainsFunc(msg, func(r rune) bool { return r >= 0x80 }) {
		env.Body = "8BITMIME"
	}
	replies := p.opt.Notifier.Forward(ctx, env, int64(len(msg)), func() io.Reader { return bytes.NewReader(msg) })
	if len(replies) == 0 || !replies[0].OK() {
		reply := "no reply"
		if len(replies) > 0 {
			reply = replies[0].String()
		}
		p.opt.Log.Warn("notification refused", "queue_id", m.root, "kind", fmt.Sprint(kind), "to", to, "reply", reply)
		return
	}
	p.opt.Log.Info("notification sent", "queue_id", m.root, "kind", fmt.Sprint(kind), "to", to)
}

// SendDSN implements mailflow.DSNSender: one delivery status notification
// to the sender about the refused recipients that want failure reports
// (no NOTIFY, or NOTIFY with FAILURE), sent like the notifications
// (Notifier, null envelope sender). A null sender gets none: nobody to
// tell, as with a bounce of a bounce.
func (p *Policy) SendDSN(ctx context.Context, o *mailflow.Outcome, msg *mailflow.Message, refused []int) (bool, error) {
	env := o.Env
	if env.From == "" {
		return false, nil
	}
	if p.opt.Notifier == nil {
		return false, errors.New("no way to send a DSN (no notifier)")
	}
	var rs []mailnotify.DSNRecipient
	for _, i := range refused {
		r := env.Rcpts[i]
		if len(r.Notify) > 0 && !slices.ContainsFunc(r.Notify, func(n string) bool { return strings.EqualFold(n, "FAILURE") }) {
			continue
		}
		rep := o.Replies[i]
		rs = append(rs, mailnotify.DSNRecipient{Addr: r.Addr, ORcptType: r.ORcptType, ORcpt: r.ORcpt, Status: rep.Enhanced, Reply: rep.String()})
	}
	if len(rs) == 0 {
		return false, nil
	}
	head, err := io.ReadAll(io.LimitReader(msg.Reader(), 1<<20))
	if err != nil {
		return false, fmt.Errorf("reading the spooled message: %w", err)
	}
	b, err := mailnotify.DSN(mailnotify.DSNData{Hostname: p.opt.Hostname, To: env.From, QueueID: o.QueueID, EnvID: env.EnvID,
		Recipients: rs, Header: mailedit.HeaderBlock(head)})
	if err != nil {
		return false, err
	}
	denv := &mailflow.Envelope{Rcpts: []mailflow.Recipient{{Addr: env.From}}, UTF8: !xtext.IsASCII(env.From)}
	if mailnotify.EightBit(b) {
		denv.Body = "8BITMIME"
	}
	replies := p.opt.Notifier.Forward(ctx, denv, int64(len(b)), func() io.Reader { return bytes.NewReader(b) })
	if len(replies) != 1 || !replies[0].OK() {
		return false, fmt.Errorf("the DSN to %s was refused: %v", env.From, replies)
	}
	p.opt.Log.Info("DSN sent", "queue_id", o.QueueID, "to", env.From, "recipients", len(rs))
	return true, nil
}
