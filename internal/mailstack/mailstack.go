// Package mailstack builds what AVE's mail front-ends (smtpscanner,
// qmail-queue) process messages with: the aveserver client, the
// downstream mailer, the mail policy and the mailflow.Flow tying them.
package mailstack

import (
	"context"
	"io"
	"log/slog"

	"ave/pkg/config"
	"ave/pkg/mailer"
	"ave/pkg/mailflow"
	"ave/pkg/mailnotify"
	"ave/pkg/mailpolicy"
	"ave/pkg/scanclient"
	"ave/pkg/verdict"
)

// Stack is what a configuration builds for processing messages: the
// aveserver connection, the downstream mailer, the policy and the flow
// that ties them. A reload builds a new one.
type Stack struct {
	Client *scanclient.Client
	Fwd    *mailer.Mailer
	Policy *mailpolicy.Policy
	Flow   *mailflow.Flow
}

// New builds a Stack from smtpscanner's settings and the mail policy;
// its Flow is what a front-end hands each message to. daemon: a
// long-lived server (smtpscanner listening), which opens the quarantine
// stores now, so that one it cannot use stops it at start; a program run
// per message (qmail-queue, smtpscanner --stdio) opens them when a
// message needs them, so clean mail still passes.
func New(cfg config.SMTPScan, mp config.MailPolicy, log *slog.Logger, daemon bool) (*Stack, error) {
	st := &Stack{}
	ok := false
	defer func() {
		if !ok {
			st.Close() // what was opened before the failure
		}
	}()
	var err error
	if st.Client, err = scanclient.Dial(cfg.ServerAddress); err != nil {
		return nil, err
	}
	// Downstream sessions are kept for reuse between messages (RSET).
	st.Fwd = &mailer.Mailer{Dest: cfg.ForwardMailer, Hostname: cfg.Hostname, Timeout: cfg.ForwardTimeout, MaxIdle: 8}
	tmpl, err := mailnotify.Load(mp.Notify.TemplatePath)
	if err != nil {
		return nil, err
	}
	st.Policy, err = mailpolicy.New(mailpolicy.Options{
		Policy: mp, ScannedHeader: cfg.ScannedHeader, TagHeader: cfg.TagHeader, Hostname: cfg.Hostname,
		KeyFile: cfg.QuarantineKeyFile, Templates: tmpl, Notifier: st.Fwd, Log: log, OpenStores: daemon,
	})
	if err != nil {
		return nil, err
	}
	st.Flow, err = mailflow.New(mailflow.Options{
		Scanner:        Scanner{C: st.Client, List: NeedsObjectList(mp)},
		Forwarder:      st.Fwd,
		Policy:         st.Policy,
		MaxCheckTime:   cfg.MaxCheckTime,
		ForwardTimeout: cfg.ForwardTimeout,
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return st, nil
}

// Close closes what the stack opened.
func (st *Stack) Close() {
	if st.Policy != nil {
		st.Policy.Close()
	}
	if st.Fwd != nil {
		st.Fwd.Close()
	}
	if st.Client != nil {
		st.Client.Close()
	}
}

// NeedsObjectList reports whether a group filters by name or real type.
func NeedsObjectList(mp config.MailPolicy) bool {
	for _, g := range mp.Groups {
		if g.Check && len(g.FilterByName)+len(g.FilterByType) > 0 {
			return true
		}
	}
	return false
}

// Scanner adapts scanclient to mailflow.Scanner. List asks for the list
// of every object (the attachment filter matches names and types inside
// archives).
type Scanner struct {
	C    *scanclient.Client
	List bool
}

func (s Scanner) Scan(ctx context.Context, name string, size int64, r io.Reader) (*verdict.Result, error) {
	res, err := s.C.ScanWithOptions(ctx, name, size, r, scanclient.ScanOptions{TypeHint: "mail", ListObjects: s.List, NoCache: true})
	if err != nil {
		return nil, err
	}
	return &res.Result, nil
}
