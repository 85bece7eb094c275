// Package mailpolicy is smtpscanner's mail policy (docs/POLICY.md): it
// puts each recipient of a message into its group, classifies the
// scanned message for that group (statuses, attachment filter, cure),
// and turns the group's rules into a mailflow.Plan: what each recipient
// gets, what goes to quarantine before anyone is answered, and the
// notifications and report line once the replies are known.
package mailpolicy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"ave/pkg/config"
	"ave/pkg/mailedit"
	"ave/pkg/mailflow"
	"ave/pkg/mailnotify"
	"ave/pkg/mimeparts"
	"ave/pkg/quarantine"
	"ave/pkg/verdict"
)

// Options configure a Policy. Policy and Notifier are required when a
// group notifies; Templates default to the built-in ones.
type Options struct {
	Policy        config.MailPolicy
	ScannedHeader string // header line added to every scanned copy ("" = none)
	TagHeader     string // header name naming status and signatures on non-clean copies ("" = none)
	Hostname      string // in notifications and Message-IDs
	KeyFile       string // age identity of the quarantine stores
	Templates     *mailnotify.Templates
	Notifier      mailflow.Forwarder // sends notifications (the ForwardMailer)
	Log           *slog.Logger
	// OpenStores makes New open (and make) the quarantine stores the
	// rules may write to, so an unusable one is an error at start; else
	// they are opened when a message needs one.
	OpenStores bool
}

// Policy implements mailflow.Policy and mailflow.ScanSelector.
type Policy struct {
	opt    Options
	report *reportLog

	mu     sync.Mutex
	stores map[string]*quarantine.Store
}

// New returns a Policy; it opens the report file.
func New(opt Options) (*Policy, error) {
	if len(opt.Policy.Groups) == 0 {
		return nil, fmt.Errorf("mailpolicy: no groups")
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.Templates == nil {
		t, err := mailnotify.Load("")
		if err != nil {
			return nil, err
		}
		opt.Templates = t
	}
	if opt.Hostname == "" {
		opt.Hostname = "localhost"
	}
	rl, err := openReport(opt.Policy.Report)
	if err != nil {
		return nil, err
	}
	p := &Policy{opt: opt, report: rl, stores: map[string]*quarantine.Store{}}
	// The quarantine stores the rules may write to, opened (and made, by
	// the user the program runs as) now: a store or key this user cannot
	// use is a configuration error at start, not a 451 for every
	// non-clean message later.
	for i := range opt.Policy.Groups {
		g := &opt.Policy.Groups[i]
		if !opt.OpenStores || !g.Quarantine || !anyQuarantine(g) {
			continue
		}
		if _, err := p.store(g.QuarantinePath); err != nil {
			rl.close()
			return nil, fmt.Errorf("[smtpscan.group:%s] QuarantinePath=%s with QuarantineKeyFile=%s: %w", g.Name, g.QuarantinePath, opt.KeyFile, err)
		}
	}
	return p, nil
}

// anyQuarantine reports whether a rule of g keeps messages or parts.
func anyQuarantine(g *config.MailGroup) bool {
	for _, r := range g.Rules {
		if r.Quarantine {
			return true
		}
	}
	return false
}

// Close closes the report file.
func (p *Policy) Close() error { return p.report.close() }

// groupOf returns the index of the group of one recipient: the first
// group in file order matching sender and recipient; the default group
// (always last) otherwise.
func (p *Policy) groupOf(sender, rcpt string) int {
	gs := p.opt.Policy.Groups
	for i := range gs[:len(gs)-1] {
		if gs[i].Matches(sender, rcpt) {
			return i
		}
	}
	return len(gs) - 1
}

// NeedScan implements mailflow.ScanSelector: false when every recipient
// is in a group with Check=no.
func (p *Policy) NeedScan(env *mailflow.Envelope) bool {
	for _, r := range env.Rcpts {
		if p.opt.Policy.Groups[p.groupOf(env.From, r.Addr)].Check {
			return true
		}
	}
	return false
}

// groupRun is the state of one group's recipients of one message.
type groupRun struct {
	g     *config.MailGroup
	idx   []int // recipient indexes
	a     *analysis
	rules config.MailRules
	// the copies, built on demand: content (nil = the spooled message)
	// and whether there is a copy at all.
	cured, removed         []byte
	hasCured, hasRemoved   bool
	triedCure, triedRemove bool
	// partsOnly: the group's copies lack exactly the cured leaves, so
	// quarantine keeps those parts, not the whole message.
	partsOnly bool
	report    string
}

// message is the state of one message under the policy.
type message struct {
	in     *mailflow.Input
	root   string
	raw    []byte // nil until needed
	leaves []leaf
	runs   []*groupRun
}

func (m *message) load() error {
	if m.raw != nil {
		return nil
	}
	b, err := io.ReadAll(m.in.Msg.Reader())
	if err != nil {
		return fmt.Errorf("reading the spooled message: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	m.raw = b
	for _, l := range mimeparts.Leaves(b) {
		lf := leaf{Name: l.Name, Filename: l.Filename, ContentType: l.ContentType, Start: l.Start, End: l.End, Root: l.Root}
		if mimeparts.IsMessageType(l.ContentType) && l.BodyStart <= l.End && l.End <= int64(len(b)) {
			lf.Inner = innerTypes(b[l.BodyStart:l.End], 1)
		}
		m.leaves = append(m.leaves, lf)
	}
	return nil
}

// innerTypes lists the declared media types of the parts of a forwarded
// message, those of the messages it forwards in turn included (8 levels
// at most: the engine's own depth limit bounds the scan).
func innerTypes(msg []byte, depth int) []string {
	if depth > 8 {
		return nil
	}
	var out []string
	for _, l := range mimeparts.Leaves(msg) {
		out = append(out, l.ContentType)
		if mimeparts.IsMessageType(l.ContentType) && l.BodyStart <= l.End && l.End <= int64(len(msg)) {
			out = append(out, innerTypes(msg[l.BodyStart:l.End], depth+1)...)
		}
	}
	return out
}

// messageID returns the Message-ID field, or "" when the message was not
// read.
func (m *message) messageID() string {
	if m.raw == nil {
		return ""
	}
	return mailedit.Header(m.raw, "Message-ID")
}

func groupFilters(g *config.MailGroup) filters {
	return filters{byName: g.FilterByName, byMIME: g.FilterByMIME, byType: g.FilterByType}
}

// groupRuns puts the recipients of env into their groups, in the order
// the groups are first met.
func (p *Policy) groupRuns(env *mailflow.Envelope) []*groupRun {
	var runs []*groupRun
	byGroup := map[int]*groupRun{}
	for i, r := range env.Rcpts {
		gi := p.groupOf(env.From, r.Addr)
		run := byGroup[gi]
		if run == nil {
			run = &groupRun{g: &p.opt.Policy.Groups[gi]}
			byGroup[gi] = run
			runs = append(runs, run)
		}
		run.idx = append(run.idx, i)
	}
	return runs
}

// Decide implements mailflow.Policy.
func (p *Policy) Decide(ctx context.Context, in *mailflow.Input) (*mailflow.Plan, error) {
	env := in.Env
	m := &message{in: in, root: in.Msg.ID, runs: p.groupRuns(env)}

	ds := make([]mailflow.Decision, len(env.Rcpts))
	for _, run := range m.runs {
		if !run.g.Check || in.Result == nil {
			for _, i := range run.idx {
				ds[i] = mailflow.Decision{Action: mailflow.Deliver, Reason: "not checked (group " + run.g.Name + ")"}
			}
			continue
		}
		flt := groupFilters(run.g)
		a := analyse(m.root, in.Result, nil, flt)
		if !a.Clean || len(flt.byMIME) > 0 || (!flt.empty() && len(in.Result.ListedObjects) == 0) {
			if err := m.load(); err != nil {
				return nil, err
			}
			a = analyse(m.root, in.Result, m.leaves, flt)
		}
		run.a = a
		if err := p.decideGroup(m, run, ds); err != nil {
			return nil, err
		}
	}
	return &mailflow.Plan{
		Decisions: ds,
		Before:    func(ctx context.Context) error { return p.quarantine(m) },
		After:     func(ctx context.Context, o *mailflow.Outcome) { p.after(ctx, m, o) },
	}, nil
}

// decideGroup fills the decisions of one group's recipients.
func (p *Policy) decideGroup(m *message, run *groupRun, ds []mailflow.Decision) error {
	a := run.a
	var headers []string
	if p.opt.ScannedHeader != "" {
		headers = append(headers, p.opt.ScannedHeader)
	}
	if a.Clean {
		for _, i := range run.idx {
			ds[i] = mailflow.Decision{Action: mailflow.Deliver, Headers: headers, Reason: "clean"}
		}
		return nil
	}
	run.rules = run.g.Rules[a.Status]
	if a.Status == config.StatusCured {
		// Curable by the scan's findings, but the byte-exact edit may
		// still fail on a broken structure: then the message is not
		// cured, and the Infected rules apply (quarantine, reject, ...).
		if _, ok, err := p.curedCopy(m, run); err != nil {
			return err
		} else if !ok {
			a.Status, a.CureOK = config.StatusInfected, false
			run.rules = run.g.Rules[a.Status]
		}
	}
	rules := run.rules
	run.report = p.reportText(m, run)
	if p.opt.TagHeader != "" {
		headers = append(headers, p.opt.TagHeader+": "+sanitizeHeader(p.statusLine(a)))
	}
	reason := a.Status.String() + " " + string(rules.RecipientAction)

	var content []byte
	has := true
	switch rules.RecipientAction {
	case config.ActionReject:
		reply := mailflow.Reply{Code: 554, Enhanced: "5.7.1", Local: true,
			Text: sanitizeHeader("message rejected: " + p.statusLine(a))}
		for _, i := range run.idx {
			ds[i] = mailflow.Decision{Action: mailflow.Reject, Reply: reply, Reason: reason}
		}
		return nil
	case config.ActionCured:
		c, ok, err := p.curedCopy(m, run)
		if err != nil {
			return err
		}
		content, has = c, ok
	case config.ActionRemove:
		c, ok, err := p.removedCopy(m, run)
		if err != nil {
			return err
		}
		content, has = c, ok
	}
	if !has {
		for _, i := range run.idx {
			ds[i] = mailflow.Decision{Action: mailflow.Discard, Reason: reason + " (no copy)"}
		}
		return nil
	}
	edited := content != nil
	// Cured and Filtered content removed by cure is kept as parts only
	// when the recipients get the rest of the message.
	run.partsOnly = rules.RecipientAction == config.ActionCured || (rules.RecipientAction == config.ActionRemove && sameInts(run.a.Remove, run.a.Cure))
	if rules.SubjectTag != "" || rules.RecipientAttachReport {
		if content == nil {
			if err := m.load(); err != nil {
				return err
			}
			content = m.raw
		}
		if rules.SubjectTag != "" {
			content = mailedit.TagSubject(content, rules.SubjectTag)
		}
		if rules.RecipientAttachReport {
			if c, err := mailedit.AppendPart(content, "ave-report.txt", run.report); err == nil {
				content = c
			} else {
				p.opt.Log.Warn("scan report not attached", "queue_id", m.root, "error", err)
			}
		}
		edited = true
	}
	variant := ""
	if edited {
		variant = run.g.Name + "/" + string(rules.RecipientAction)
	} else {
		content = nil
	}
	for _, i := range run.idx {
		ds[i] = mailflow.Decision{Action: mailflow.Deliver, Headers: headers, Content: content, Variant: variant, Reason: reason}
	}
	return nil
}

// curedCopy returns the message without the leaves of INFECTED and
// Filtered objects; ok is false when it cannot be cured. A message whose
// structure does not allow a byte-exact cure cannot be cured either.
func (p *Policy) curedCopy(m *message, run *groupRun) ([]byte, bool, error) {
	if !run.triedCure {
		run.triedCure = true
		if run.a.CureOK {
			run.cured, run.hasCured = p.without(m, run, run.a.Cure)
		}
	}
	return run.cured, run.hasCured, nil
}

// removedCopy returns the message without the leaves of every finding;
// ok is false when a finding is the message itself.
func (p *Policy) removedCopy(m *message, run *groupRun) ([]byte, bool, error) {
	if !run.triedRemove {
		run.triedRemove = true
		if run.a.RemoveOK {
			run.removed, run.hasRemoved = p.without(m, run, run.a.Remove)
		}
	}
	return run.removed, run.hasRemoved, nil
}

// replaceParts is mailedit.Replace; tests make it fail as it does on a
// structure it cannot edit byte-exactly (mailedit.ErrStructure), which
// real input reaches only when degenerate.
var replaceParts = mailedit.Replace

// without replaces the given leaves by notices. No leaves: nil, true
// (the spooled message unchanged). ok is false when the edit cannot be
// made byte-exactly (a broken structure).
func (p *Policy) without(m *message, run *groupRun, drop []int) ([]byte, bool) {
	if len(drop) == 0 {
		return nil, true
	}
	if err := m.load(); err != nil {
		p.opt.Log.Warn("message not edited", "queue_id", m.root, "error", err)
		return nil, false
	}
	kept := run.g.Quarantine && run.rules.Quarantine
	edits := make([]mailedit.Edit, 0, len(drop))
	for _, li := range drop {
		l := m.leaves[li]
		var why []string
		for _, f := range run.a.Findings {
			for _, x := range f.Leaves {
				if x == li {
					why = append(why, f.describe())
				}
			}
		}
		edits = append(edits, mailedit.Edit{Start: l.Start, End: l.End, Notice: notice(l, why, kept)})
	}
	out, err := replaceParts(m.raw, edits)
	if err != nil {
		p.opt.Log.Warn("parts cannot be removed: no such copy", "queue_id", m.root, "group", run.g.Name, "error", err)
		return nil, false
	}
	return out, true
}

// notice is the text put in place of a removed part.
func notice(l leaf, why []string, kept bool) string {
	name := l.Filename
	if name == "" {
		name = "part " + l.Name
	} else {
		name = `"` + name + `"`
	}
	s := "The virus filter removed " + name + " from this message: " + strings.Join(dedupe(why), "; ") + ".\r\n"
	if kept {
		s += "It is kept in quarantine; ask your mail administrator if you need it.\r\n"
	}
	return s
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// statusLine is "CURED EICAR-Test-File, X" or "FILTERED (name)".
func (p *Policy) statusLine(a *analysis) string {
	s := strings.ToUpper(a.Status.String())
	if names := a.Names(); len(names) > 0 {
		return s + " " + strings.Join(names, ", ")
	}
	for _, f := range a.Findings {
		if f.Reason != "" {
			return s + " (" + f.Reason + ")"
		}
		if f.Filtered != "" {
			return s + " (" + f.Filtered + ")"
		}
	}
	return s
}

// reportText is the scan report of one group: one line per finding.
func (p *Policy) reportText(m *message, run *groupRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scan report of message %s: %s\r\n", m.root, p.statusLine(run.a))
	for _, f := range run.a.Findings {
		path := strings.TrimPrefix(f.Path, m.root+"/")
		if f.Path == m.root {
			path = "(the message)"
		}
		fmt.Fprintf(&b, "  %s: %s\r\n", path, f.describe())
	}
	return b.String()
}

// sanitizeHeader keeps a value on one header line.
func sanitizeHeader(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r < 0x20 && r != '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 900 {
		s = s[:900]
	}
	return s
}

// store returns the quarantine store at dir, opened once.
func (p *Policy) store(dir string) (*quarantine.Store, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stores[dir]; s != nil {
		return s, nil
	}
	s, err := quarantine.Open(dir, p.opt.KeyFile)
	if err != nil {
		return nil, err
	}
	p.stores[dir] = s
	return s, nil
}

// quarantine keeps what the groups' rules say, before anyone is
// answered: the whole message once per store (with every recipient of
// the groups keeping it), or the removed parts for Cured and Filtered.
func (p *Policy) quarantine(m *message) error {
	type item struct {
		dir  string
		e    quarantine.Entry
		data []byte // nil: the spooled message
	}
	var items []*item
	whole := map[string]*item{} // by store
	parts := map[string]*item{} // by store + leaf
	env := m.in.Env
	for _, run := range m.runs {
		if run.a == nil || run.a.Clean || !run.g.Quarantine || !run.rules.Quarantine {
			continue
		}
		var rcpts []string
		var dsn map[string]quarantine.RcptDSN
		for _, i := range run.idx {
			r := env.Rcpts[i]
			rcpts = append(rcpts, r.Addr)
			if len(r.Notify) > 0 || r.ORcptType != "" {
				if dsn == nil {
					dsn = map[string]quarantine.RcptDSN{}
				}
				dsn[r.Addr] = quarantine.RcptDSN{Notify: r.Notify, ORcptType: r.ORcptType, ORcpt: r.ORcpt}
			}
		}
		base := quarantine.Entry{Reason: "mail quarantine", Status: strings.ToUpper(run.a.Status.String()),
			Names: run.a.Names(), From: env.From, Rcpts: rcpts, Group: run.g.Name, QueueID: m.root,
			Body: env.Body, SMTPUTF8: env.UTF8, Ret: env.Ret, EnvID: env.EnvID, RcptDSN: dsn,
			Producer: "smtpscanner", MessageID: m.messageID()}
		merge := func(e *quarantine.Entry) {
			e.Rcpts = append(e.Rcpts, rcpts...)
			if len(dsn) > 0 { // a new map: entries may share the old one
				all := make(map[string]quarantine.RcptDSN, len(e.RcptDSN)+len(dsn))
				for a, d := range e.RcptDSN {
					all[a] = d
				}
				for a, d := range dsn {
					all[a] = d
				}
				e.RcptDSN = all
			}
		}
		st := run.a.Status
		if (st == config.StatusCured || st == config.StatusFiltered) && len(run.a.Cure) > 0 && run.partsOnly {
			for _, li := range run.a.Cure {
				l := m.leaves[li]
				k := run.g.QuarantinePath + "\x00" + l.Name + fmt.Sprint(li)
				if it := parts[k]; it != nil {
					merge(&it.e)
					continue
				}
				e := base
				e.Kind, e.PartName = "part", l.Filename
				if e.PartName == "" {
					e.PartName = l.Name
				}
				it := &item{dir: run.g.QuarantinePath, e: e, data: m.raw[l.Start:l.End]}
				parts[k] = it
				items = append(items, it)
			}
			continue
		}
		if it := whole[run.g.QuarantinePath]; it != nil {
			merge(&it.e)
			it.e.Group += "," + run.g.Name
			continue
		}
		e := base
		e.Kind = "message"
		it := &item{dir: run.g.QuarantinePath, e: e}
		whole[run.g.QuarantinePath] = it
		items = append(items, it)
	}
	for _, it := range items {
		s, err := p.store(it.dir)
		if err != nil {
			return fmt.Errorf("quarantine %s: %w", it.dir, err)
		}
		data := it.data
		if data == nil {
			if err := m.load(); err != nil {
				return fmt.Errorf("quarantine %s: %w", it.dir, err)
			}
			data = m.raw
		}
		e, again, err := s.PutOnce(bytes.NewReader(data), it.e, onceKey(it.e, data))
		if err != nil {
			return fmt.Errorf("quarantine %s: %w", it.dir, err)
		}
		if again {
			p.opt.Log.Info("already quarantined (the message was offered again)", "queue_id", m.root, "id", e.ID, "store", it.dir)
			continue
		}
		p.opt.Log.Info("quarantined", "queue_id", m.root, "id", e.ID, "kind", e.Kind, "store", it.dir, "status", e.Status)
	}
	return nil
}

// onceKey identifies what a quarantine entry keeps across the attempts of
// one message: its content, kind, part, status and envelope (not the
// queue id, which is new at every attempt).
func onceKey(e quarantine.Entry, data []byte) string {
	sum := sha256.Sum256(data)
	rcpts := slices.Clone(e.Rcpts)
	slices.Sort(rcpts)
	return strings.Join([]string{hex.EncodeToString(sum[:]), e.Kind, e.PartName, e.Status, e.From, strings.Join(rcpts, ",")}, "\x00")
}

// statusOf names a result's status for logs.
func statusOf(res *verdict.Result) string {
	if res == nil {
		return "UNSCANNED"
	}
	return res.Status.String()
}
