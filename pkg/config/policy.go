package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"regexp/syntax"
	"strings"
)

// The mail policy of smtpscanner (docs/POLICY.md): [smtpscan.group:NAME],
// [smtpscan.report] and [smtpscan.notify]. LoadMailPolicy resolves every
// rule at load time, so that smtpscanner only looks up
// Groups[i].Rules[status].

// PolicyStatus is the policy status of a message. The values are in
// precedence order: a message has the first status that applies.
type PolicyStatus int

// Policy statuses, in precedence order.
const (
	StatusInfected   PolicyStatus = iota // an object is INFECTED and the message cannot be cured
	StatusSuspicious                     // an object is SUSPICIOUS
	StatusCured                          // an object is INFECTED and the message can be cured
	StatusFiltered                       // an object matches the attachment filter
	StatusCorrupted                      // an object is CORRUPTED
	StatusProtected                      // an object is PROTECTED (encrypted)
	StatusError                          // an object is UNCHECKED, or the message is unreadable
	NumPolicyStatus                      // the number of statuses
)

var statusNames = [NumPolicyStatus]string{"Infected", "Suspicious", "Cured", "Filtered", "Corrupted", "Protected", "Error"}

// String returns the status as in key names: "Infected", "Cured", ...
func (s PolicyStatus) String() string {
	if s < 0 || s >= NumPolicyStatus {
		return fmt.Sprintf("PolicyStatus(%d)", int(s))
	}
	return statusNames[s]
}

// ParsePolicyStatus parses a status name, in any case.
func ParsePolicyStatus(name string) (PolicyStatus, error) {
	for s, n := range statusNames {
		if strings.EqualFold(n, name) {
			return PolicyStatus(s), nil
		}
	}
	return 0, fmt.Errorf("unknown policy status %q: expected one of %s", name, strings.Join(statusNames[:], ", "))
}

// RuleAction is what a recipient gets (RecipientAction) or what the
// administrator's notification carries (AdminAction).
type RuleAction string

// Rule actions.
const (
	ActionUnchanged RuleAction = "unchanged" // the original message
	ActionCured     RuleAction = "cured"     // the cured copy
	ActionRemove    RuleAction = "remove"    // recipient: without the non-clean parts; admin: nothing
	ActionReject    RuleAction = "reject"    // recipient only: 554 5.7.1, the MTA bounces
)

// MailRules are the resolved settings of one status in one group.
type MailRules struct {
	RecipientAction RuleAction // unchanged, cured, remove or reject
	AdminAction     RuleAction // unchanged, cured or remove

	SenderNotify, RecipientNotify, AdminNotify                   bool
	SenderAttachReport, RecipientAttachReport, AdminAttachReport bool

	// Quarantine is <Status>Quarantine: keep messages of this status.
	// Nothing is kept unless the group's master switch is on too.
	Quarantine bool
	SubjectTag string // prefix of the Subject of delivered copies ("" = none)
}

// MailGroup is one [smtpscan.group:NAME] section, resolved.
type MailGroup struct {
	Name string // as written; the default group is "default"

	// Envelope patterns; any one matching is enough, none means any
	// address. The default group takes every recipient no other group
	// took, whatever its patterns.
	Senders, Recipients []*regexp.Regexp

	Check             bool   // scan the message (no: deliver unscanned)
	AdminAddress      string // the group's administrator
	NotifyFromAddress string // From: of notifications
	Quarantine        bool   // master switch of the group's quarantine
	QuarantinePath    string // the group's quarantine store

	// Attachment filter: objects matching are Filtered.
	FilterByName, FilterByMIME, FilterByType []*regexp.Regexp

	Rules [NumPolicyStatus]MailRules // by status
}

// Matches reports whether the group's patterns take recipient rcpt of a
// message from sender (addresses without angle brackets; the null sender
// is "").
func (g *MailGroup) Matches(sender, rcpt string) bool {
	return matchAny(g.Senders, sender) && matchAny(g.Recipients, rcpt)
}

func matchAny(res []*regexp.Regexp, s string) bool {
	if len(res) == 0 {
		return true
	}
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// MailReport is [smtpscan.report]: the report of every scanned message.
type MailReport struct {
	ReportFileName       string      // absolute path ("" = no report file)
	ShowOk               bool        // report clean messages too
	ReportFilePermission os.FileMode // mode of the report file
	Syslog               bool        // report to syslog too
}

// MailNotify is [smtpscan.notify].
type MailNotify struct {
	TemplatePath     string // directory of sender.txt, recipient.txt, admin.txt ("" = built-in templates)
	MaxNotifications int    // notifications sent about one message
}

// MailPolicy is the mail policy of smtpscanner.
type MailPolicy struct {
	Groups []MailGroup // in file order; the default group is always last
	Report MailReport
	Notify MailNotify
}

// DefaultGroupName names the group that takes every recipient no other
// group took.
const DefaultGroupName = "default"

// DefaultMailRules returns the built-in rules of status s.
func DefaultMailRules(s PolicyStatus) MailRules {
	r := MailRules{RecipientAction: ActionUnchanged, AdminAction: ActionUnchanged}
	switch s {
	case StatusInfected, StatusSuspicious, StatusFiltered:
		r.RecipientAction = ActionRemove
	case StatusCured:
		r.RecipientAction = ActionCured
	}
	switch s {
	case StatusInfected, StatusSuspicious, StatusCured, StatusFiltered:
		r.Quarantine = true
	}
	return r
}

// DefaultMailGroup returns a group with the built-in settings and no
// patterns.
func DefaultMailGroup(name string) MailGroup {
	g := MailGroup{
		Name:              name,
		Check:             true,
		AdminAddress:      "postmaster@localhost",
		NotifyFromAddress: "MAILER-DAEMON@localhost",
		Quarantine:        true,
		QuarantinePath:    "/var/lib/ave/mail-quarantine",
	}
	for s := range NumPolicyStatus {
		g.Rules[s] = DefaultMailRules(s)
	}
	return g
}

// DefaultMailPolicy is the policy used with no file: the default group
// alone.
func DefaultMailPolicy() MailPolicy {
	return MailPolicy{
		Groups: []MailGroup{DefaultMailGroup(DefaultGroupName)},
		Report: MailReport{ReportFilePermission: 0o640},
		Notify: MailNotify{TemplatePath: "", MaxNotifications: 20},
	}
}

// smtpScanSections and mailPolicySections split the smtpscan. family
// between LoadSMTPScan and LoadMailPolicy.
var (
	smtpScanSections   = []string{"smtpscan.general", "smtpscan.limits"}
	mailPolicySections = []string{groupPrefix, "smtpscan.report", "smtpscan.notify"}
)

const groupPrefix = "smtpscan.group:"

// LoadMailPolicy reads [smtpscan.group:NAME], [smtpscan.report] and
// [smtpscan.notify] of file over the defaults and resolves the rules of
// every group: <Status><Who><Setting> over <Who><Setting> over the
// built-in default (likewise <Status>SubjectTag over SubjectTag). A file
// without [smtpscan.group:default], or no file, gets the built-in default
// group. Every problem is reported, each naming file, section and key.
func LoadMailPolicy(file string) (MailPolicy, error) {
	p := DefaultMailPolicy()
	var groups []*groupKeys
	s := schema{
		prefix:  "smtpscan.",
		foreign: smtpScanSections,
		owned: map[string]section{
			"smtpscan.report": {
				"reportfilename":       optAbsPath(&p.Report.ReportFileName),
				"showok":               boolean(&p.Report.ShowOk),
				"reportfilepermission": fileMode(&p.Report.ReportFilePermission),
				"syslog":               boolean(&p.Report.Syslog),
			},
			"smtpscan.notify": {
				"templatepath":     optAbsPath(&p.Notify.TemplatePath),
				"maxnotifications": integer(&p.Notify.MaxNotifications, 0, 1000),
			},
		},
		families: map[string]func(string) (section, error){
			groupPrefix: func(name string) (section, error) {
				if err := validGroupName(name); err != nil {
					return nil, err
				}
				gk := &groupKeys{g: DefaultMailGroup(name)}
				if strings.EqualFold(name, DefaultGroupName) {
					gk.g.Name = DefaultGroupName
				}
				groups = append(groups, gk)
				return gk.section(), nil
			},
		},
		repeatable: map[string]bool{
			"senders": true, "recipients": true,
			"filterbyname": true, "filterbymime": true, "filterbytype": true,
		},
	}
	err := s.apply(file)

	p.Groups = p.Groups[:0]
	var def *MailGroup
	for _, gk := range groups {
		g := gk.resolve()
		if g.Name == DefaultGroupName {
			def = &g
			continue
		}
		p.Groups = append(p.Groups, g)
	}
	if def == nil {
		d := DefaultMailGroup(DefaultGroupName)
		def = &d
	}
	p.Groups = append(p.Groups, *def)
	return p, err
}

// groupKeys collects the keys of one group section; the rules are
// resolved once the whole file is read.
type groupKeys struct {
	g   MailGroup                 // the keys other than rules, over the defaults
	all ruleKeys                  // <Who><Setting> and SubjectTag
	by  [NumPolicyStatus]ruleKeys // <Status><Who><Setting>, <Status>Quarantine, <Status>SubjectTag
}

// ruleKeys are the rule settings given in a section (nil: not given).
type ruleKeys struct {
	recipientAction, adminAction *RuleAction
	notify, attach               [numWho]*bool // by who
	quarantine                   *bool
	subjectTag                   *string
}

// Who of the rule keys.
const (
	whoSender = iota
	whoRecipient
	whoAdmin
	numWho
)

var whoNames = [numWho]string{"sender", "recipient", "admin"}

func (gk *groupKeys) section() section {
	g := &gk.g
	sec := section{
		"senders":           pattern(&g.Senders),
		"recipients":        pattern(&g.Recipients),
		"check":             boolean(&g.Check),
		"adminaddress":      address(&g.AdminAddress),
		"notifyfromaddress": address(&g.NotifyFromAddress),
		"quarantine":        boolean(&g.Quarantine),
		"quarantinepath":    absPath(&g.QuarantinePath),
		"filterbyname":      pattern(&g.FilterByName),
		"filterbymime":      pattern(&g.FilterByMIME),
		"filterbytype":      wholePattern(&g.FilterByType),
	}
	gk.all.addKeys(sec, "")
	for s := range NumPolicyStatus {
		gk.by[s].addKeys(sec, strings.ToLower(s.String()))
		sec[strings.ToLower(s.String())+"quarantine"] = optBool(&gk.by[s].quarantine)
	}
	return sec
}

// addKeys adds the parsers of the rule keys named prefix+key to sec
// (without Quarantine: the group's own Quarantine is the master switch).
func (r *ruleKeys) addKeys(sec section, prefix string) {
	sec[prefix+"recipientaction"] = ruleAction(&r.recipientAction, true)
	sec[prefix+"adminaction"] = ruleAction(&r.adminAction, false)
	for w, who := range whoNames {
		sec[prefix+who+"notify"] = optBool(&r.notify[w])
		sec[prefix+who+"attachreport"] = optBool(&r.attach[w])
	}
	sec[prefix+"subjecttag"] = subjectTag(&r.subjectTag)
}

// over stores the settings given into r.
func (k *ruleKeys) over(r *MailRules) {
	if k.recipientAction != nil {
		r.RecipientAction = *k.recipientAction
	}
	if k.adminAction != nil {
		r.AdminAction = *k.adminAction
	}
	notify := [numWho]*bool{&r.SenderNotify, &r.RecipientNotify, &r.AdminNotify}
	attach := [numWho]*bool{&r.SenderAttachReport, &r.RecipientAttachReport, &r.AdminAttachReport}
	for w := range numWho {
		if k.notify[w] != nil {
			*notify[w] = *k.notify[w]
		}
		if k.attach[w] != nil {
			*attach[w] = *k.attach[w]
		}
	}
	if k.quarantine != nil {
		r.Quarantine = *k.quarantine
	}
	if k.subjectTag != nil {
		r.SubjectTag = *k.subjectTag
	}
}

// resolve returns the group with the rules of every status resolved.
func (gk *groupKeys) resolve() MailGroup {
	g := gk.g
	for s := range NumPolicyStatus {
		r := DefaultMailRules(s)
		gk.all.over(&r)
		gk.by[s].over(&r)
		g.Rules[s] = r
	}
	return g
}

// CompilePattern compiles a policy pattern: a POSIX extended regular
// expression (^ and $ anchor at the ends of the text, . matches any
// character), matched case-insensitively anywhere in the text.
func CompilePattern(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, errors.New("empty pattern")
	}
	re, err := syntax.Parse(p, syntax.POSIX|syntax.FoldCase|syntax.OneLine|syntax.DotNL)
	if err != nil {
		return nil, fmt.Errorf("expected a POSIX extended regular expression: %v", err)
	}
	return regexp.Compile(re.String())
}

// wholePattern is pattern matched against the whole text: FilterByType's
// values are type names (pe, elf, zip), and "pe" must not take "jpeg" nor
// "zip" take "gzip".
func wholePattern(dst *[]*regexp.Regexp) func(string) error {
	return func(v string) error {
		if _, err := CompilePattern(v); err != nil {
			return err
		}
		re, err := CompilePattern("^(" + v + ")$")
		if err != nil {
			return err
		}
		*dst = append(*dst, re)
		return nil
	}
}

// pattern appends one value of a repeatable pattern key.
func pattern(dst *[]*regexp.Regexp) func(string) error {
	return func(v string) error {
		re, err := CompilePattern(v)
		if err != nil {
			return err
		}
		*dst = append(*dst, re)
		return nil
	}
}

func optBool(dst **bool) func(string) error {
	return func(v string) error {
		var b bool
		if err := boolean(&b)(v); err != nil {
			return err
		}
		*dst = &b
		return nil
	}
}

func ruleAction(dst **RuleAction, rejectOK bool) func(string) error {
	return func(v string) error {
		for _, a := range []RuleAction{ActionUnchanged, ActionCured, ActionRemove, ActionReject} {
			if !strings.EqualFold(string(a), v) {
				continue
			}
			if a == ActionReject && !rejectOK {
				return errors.New("reject is only for RecipientAction: expected one of unchanged, cured, remove")
			}
			*dst = &a
			return nil
		}
		if rejectOK {
			return errors.New("expected one of unchanged, cured, remove, reject")
		}
		return errors.New("expected one of unchanged, cured, remove")
	}
}

func subjectTag(dst **string) func(string) error {
	return func(v string) error {
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return errors.New("expected text without control characters")
			}
		}
		*dst = &v
		return nil
	}
}

// address checks an address loosely: local@domain, without white space,
// control characters or angle brackets.
func address(dst *string) func(string) error {
	return func(v string) error {
		at := strings.LastIndexByte(v, '@')
		bad := at <= 0 || at == len(v)-1 || strings.ContainsAny(v, " <>")
		for _, r := range v {
			bad = bad || r < 0x20 || r == 0x7f
		}
		if bad {
			return errors.New("expected an address local@domain (no angle brackets or spaces)")
		}
		*dst = v
		return nil
	}
}

func optAbsPath(dst *string) func(string) error {
	return func(v string) error {
		if v == "" {
			*dst = ""
			return nil
		}
		return absPath(dst)(v)
	}
}

func validGroupName(name string) error {
	ok := name != ""
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}
	if !ok {
		return fmt.Errorf("bad group name %q: expected letters, digits, - and _", name)
	}
	return nil
}
