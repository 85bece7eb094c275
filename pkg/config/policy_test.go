package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// diffPolicy compares two policies field by field, patterns by String(),
// and reports every difference.
func diffPolicy(t *testing.T, got, want MailPolicy) {
	t.Helper()
	diffStruct(t, "Report", reflect.ValueOf(got.Report), reflect.ValueOf(want.Report))
	diffStruct(t, "Notify", reflect.ValueOf(got.Notify), reflect.ValueOf(want.Notify))
	if len(got.Groups) != len(want.Groups) {
		t.Errorf("Groups: got %d %v, want %d %v", len(got.Groups), groupNames(got), len(want.Groups), groupNames(want))
		return
	}
	for i := range got.Groups {
		diffStruct(t, fmt.Sprintf("Groups[%d]", i), reflect.ValueOf(got.Groups[i]), reflect.ValueOf(want.Groups[i]))
	}
}

func groupNames(p MailPolicy) []string {
	var n []string
	for _, g := range p.Groups {
		n = append(n, g.Name)
	}
	return n
}

var regexpsType = reflect.TypeOf([]*regexp.Regexp(nil))

func diffStruct(t *testing.T, path string, got, want reflect.Value) {
	t.Helper()
	switch {
	case got.Kind() == reflect.Struct:
		for i := 0; i < got.NumField(); i++ {
			diffStruct(t, path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i))
		}
	case got.Kind() == reflect.Array:
		for i := 0; i < got.Len(); i++ {
			p := fmt.Sprintf("%s[%d]", path, i)
			if got.Type().Elem() == reflect.TypeOf(MailRules{}) {
				p = fmt.Sprintf("%s[%v]", path, PolicyStatus(i))
			}
			diffStruct(t, p, got.Index(i), want.Index(i))
		}
	case got.Type() == regexpsType:
		if g, w := patternStrings(got.Interface().([]*regexp.Regexp)), patternStrings(want.Interface().([]*regexp.Regexp)); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: got %q, want %q", path, g, w)
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			t.Errorf("%s: got %#v, want %#v", path, got.Interface(), want.Interface())
		}
	}
}

func patternStrings(res []*regexp.Regexp) []string {
	var s []string
	for _, re := range res {
		s = append(s, re.String())
	}
	return s
}

func patterns(t *testing.T, ps ...string) []*regexp.Regexp {
	t.Helper()
	var res []*regexp.Regexp
	for _, p := range ps {
		re, err := CompilePattern(p)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, re)
	}
	return res
}

func loadPolicy(t *testing.T, text string) MailPolicy {
	t.Helper()
	p, err := LoadMailPolicy(writeConf(t, text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMailPolicyWithoutFileGivesDefaults(t *testing.T) {
	p, err := LoadMailPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	diffPolicy(t, p, DefaultMailPolicy())
	if len(p.Groups) != 1 {
		t.Fatalf("groups %v", groupNames(p))
	}
	g := p.Groups[0]
	if g.Name != "default" || !g.Check || g.AdminAddress != "postmaster@localhost" || g.NotifyFromAddress != "MAILER-DAEMON@localhost" ||
		!g.Quarantine || g.QuarantinePath != "/var/lib/ave/mail-quarantine" || g.Senders != nil || g.Recipients != nil ||
		g.FilterByName != nil || g.FilterByMIME != nil || g.FilterByType != nil {
		t.Errorf("default group %+v", g)
	}
	// docs/POLICY.md, "Built-in defaults".
	want := map[PolicyStatus]struct {
		action     RuleAction
		quarantine bool
	}{
		StatusInfected: {ActionRemove, true}, StatusSuspicious: {ActionRemove, true}, StatusCured: {ActionCured, true},
		StatusFiltered: {ActionRemove, true}, StatusCorrupted: {ActionUnchanged, false}, StatusProtected: {ActionUnchanged, false},
		StatusError: {ActionUnchanged, false},
	}
	for s := range NumPolicyStatus {
		w := MailRules{RecipientAction: want[s].action, AdminAction: ActionUnchanged, Quarantine: want[s].quarantine}
		if g.Rules[s] != w {
			t.Errorf("%v: got %+v, want %+v", s, g.Rules[s], w)
		}
	}
	if p.Report != (MailReport{ReportFilePermission: 0o640}) || p.Notify != (MailNotify{TemplatePath: "", MaxNotifications: 20}) {
		t.Errorf("report %+v notify %+v", p.Report, p.Notify)
	}
}

func TestShippedConfigMailPolicyEqualsDefaults(t *testing.T) {
	p, err := LoadMailPolicy("../../etc/ave.conf")
	if err != nil {
		t.Fatal(err)
	}
	diffPolicy(t, p, DefaultMailPolicy())
}

func TestPolicyStatusNamesAndOrder(t *testing.T) {
	want := []string{"Infected", "Suspicious", "Cured", "Filtered", "Corrupted", "Protected", "Error"}
	if int(NumPolicyStatus) != len(want) {
		t.Fatalf("NumPolicyStatus = %d", NumPolicyStatus)
	}
	for i, n := range want {
		s := PolicyStatus(i)
		if s.String() != n {
			t.Errorf("PolicyStatus(%d) = %s, want %s", i, s, n)
		}
		for _, in := range []string{n, strings.ToUpper(n), strings.ToLower(n)} {
			if got, err := ParsePolicyStatus(in); err != nil || got != s {
				t.Errorf("ParsePolicyStatus(%q) = %v, %v", in, got, err)
			}
		}
	}
	if _, err := ParsePolicyStatus("Clean"); err == nil {
		t.Error("Clean parsed")
	}
	if s := PolicyStatus(9).String(); s != "PolicyStatus(9)" {
		t.Error(s)
	}
}

// The example configurations of the manual's sections 5.2.1-5.2.5 (the
// files of etc/examples, written out here as test input).

const example521 = `
[smtpscan.group:default]
Check=yes
AdminAddress=postmaster@example.com
AdminNotify=yes
AdminAction=unchanged
SenderNotify=yes
RecipientNotify=yes
RecipientAttachReport=yes
RecipientAction=remove
CorruptedQuarantine=yes
ProtectedQuarantine=yes
ErrorQuarantine=yes
CuredRecipientNotify=yes
CuredRecipientAttachReport=yes
CuredRecipientAction=cured

[smtpscan.report]
ShowOk=yes
ReportFileName=/tmp/report.log
ReportFilePermission=0660
`

// mainRules are the rules of example521's group for every status.
func mainRules(s PolicyStatus) MailRules {
	r := DefaultMailRules(s)
	r.AdminNotify, r.SenderNotify, r.RecipientNotify, r.RecipientAttachReport = true, true, true, true
	r.AdminAction = ActionUnchanged
	r.RecipientAction = ActionRemove
	if s == StatusCured {
		r.RecipientAction = ActionCured
	}
	return r
}

func TestExample521CleanAndCured(t *testing.T) {
	p := loadPolicy(t, example521)
	want := DefaultMailPolicy()
	want.Report = MailReport{ShowOk: true, ReportFileName: "/tmp/report.log", ReportFilePermission: 0o660}
	g := &want.Groups[0]
	g.AdminAddress = "postmaster@example.com"
	for s := range NumPolicyStatus {
		g.Rules[s] = mainRules(s)
		g.Rules[s].Quarantine = true // the defaults' four, and the three it adds
	}
	diffPolicy(t, p, want)

	r := p.Groups[0].Rules
	if r[StatusCured].RecipientAction != ActionCured || r[StatusInfected].RecipientAction != ActionRemove ||
		r[StatusCorrupted].RecipientAction != ActionRemove || r[StatusProtected].RecipientAction != ActionRemove {
		t.Errorf("recipient actions %+v", r)
	}
	if !r[StatusInfected].Quarantine || !r[StatusCorrupted].Quarantine {
		t.Error("quarantine of the removed statuses lost")
	}
}

const example522 = `
[smtpscan.group:urgent]
Recipients=^urgent@example\.com$
Recipients=@lab\.example\.com$
Check=yes
Quarantine=no
AdminAddress=postmaster@example.com
AdminNotify=yes
AdminAction=unchanged
SenderNotify=yes
RecipientNotify=yes
RecipientAttachReport=yes
RecipientAction=unchanged

[smtpscan.group:default]
Check=yes
QuarantinePath=/var/db/Quarantine
Quarantine=yes
InfectedQuarantine=yes
SuspiciousQuarantine=yes
CorruptedQuarantine=yes
ErrorQuarantine=yes
ProtectedQuarantine=yes
AdminAddress=postmaster@example.com
AdminNotify=yes
AdminAction=unchanged
SenderNotify=yes
RecipientNotify=yes
RecipientAttachReport=yes
RecipientAction=remove
CuredRecipientNotify=yes
CuredRecipientAttachReport=yes
CuredRecipientAction=cured
`

func TestExample522DeliverAllToUrgent(t *testing.T) {
	p := loadPolicy(t, example522)
	want := DefaultMailPolicy()
	urgent := DefaultMailGroup("urgent")
	urgent.Recipients = patterns(t, `^urgent@example\.com$`, `@lab\.example\.com$`)
	urgent.Quarantine = false
	urgent.AdminAddress = "postmaster@example.com"
	def := &want.Groups[0]
	def.QuarantinePath = "/var/db/Quarantine"
	def.AdminAddress = "postmaster@example.com"
	for s := range NumPolicyStatus {
		r := mainRules(s)
		r.RecipientAction = ActionUnchanged
		urgent.Rules[s] = r
		def.Rules[s] = mainRules(s)
		def.Rules[s].Quarantine = true // every <Status>Quarantine=yes but Filtered, on by default
	}
	want.Groups = []MailGroup{urgent, *def}
	diffPolicy(t, p, want)

	u := &p.Groups[0]
	if u.Rules[StatusCured].RecipientAction != ActionUnchanged || u.Rules[StatusInfected].RecipientAction != ActionUnchanged {
		t.Error("urgent gets every message unchanged")
	}
	for _, tc := range []struct {
		rcpt string
		in   bool
	}{
		{"urgent@example.com", true}, {"URGENT@Example.COM", true}, {"joe@lab.example.com", true}, {"JOE@LAB.EXAMPLE.COM", true},
		{"joe@example.com", false}, {"urgent@example.com.evil.org", false}, {"xurgent@example.com", false}, {"joe@lab-example.com", false},
	} {
		if got := u.Matches("anyone@example.org", tc.rcpt); got != tc.in {
			t.Errorf("urgent.Matches(%s) = %v", tc.rcpt, got)
		}
		if got := u.Matches("", tc.rcpt); got != tc.in {
			t.Errorf("urgent.Matches(<>, %s) = %v", tc.rcpt, got)
		}
	}
}

const example523 = `
[smtpscan.group:default]
AdminAddress=postmaster@example.com
AdminNotify=yes
RecipientAttachReport=yes
ProtectedRecipientAction=unchanged
ProtectedRecipientAttachReport=no
ProtectedAdminNotify=no
`

func TestExample523ProtectedArchives(t *testing.T) {
	p := loadPolicy(t, example523)
	want := DefaultMailPolicy()
	g := &want.Groups[0]
	g.AdminAddress = "postmaster@example.com"
	for s := range NumPolicyStatus {
		g.Rules[s].AdminNotify = s != StatusProtected
		g.Rules[s].RecipientAttachReport = s != StatusProtected
	}
	diffPolicy(t, p, want)
	r := p.Groups[0].Rules
	if r[StatusProtected].AdminNotify || !r[StatusInfected].AdminNotify || r[StatusProtected].RecipientAction != ActionUnchanged ||
		r[StatusInfected].RecipientAction != ActionRemove {
		t.Errorf("rules %+v", r)
	}
}

// example524 is the default group of example522.
var example524 = example522[strings.Index(example522, "[smtpscan.group:default]"):]

func TestExample524BlockDelivery(t *testing.T) {
	p := loadPolicy(t, example524)
	want := DefaultMailPolicy()
	def := &want.Groups[0]
	def.QuarantinePath = "/var/db/Quarantine"
	def.AdminAddress = "postmaster@example.com"
	for s := range NumPolicyStatus {
		def.Rules[s] = mainRules(s)
		def.Rules[s].Quarantine = true
	}
	diffPolicy(t, p, want)
}

const example525 = `
[smtpscan.group:users]
Recipients=@example\.com$
Check=yes
QuarantinePath=/var/db/Quarantine
Quarantine=yes
AdminAddress=postmaster@example.com
AdminNotify=yes
AdminAction=unchanged
SenderNotify=yes
RecipientNotify=yes
RecipientAttachReport=yes
RecipientAction=remove
FilterByName=.*\.exe$
FilteredQuarantine=yes
CorruptedQuarantine=yes
ErrorQuarantine=yes
FilteredRecipientNotify=yes
CuredRecipientNotify=yes
CuredRecipientAttachReport=yes
CuredRecipientAction=cured
ProtectedRecipientNotify=yes
ProtectedRecipientAction=unchanged
ProtectedRecipientAttachReport=no
ProtectedSenderNotify=no
ProtectedAdminNotify=no

[smtpscan.group:default]
Check=yes
QuarantinePath=/var/db/Quarantine
Quarantine=yes
InfectedQuarantine=yes
SuspiciousQuarantine=yes
CorruptedQuarantine=yes
ErrorQuarantine=yes
AdminAddress=postmaster@example.com
AdminNotify=yes
AdminAction=unchanged
SenderNotify=yes
RecipientNotify=yes
RecipientAttachReport=no
RecipientAction=remove
ProtectedRecipientNotify=yes
ProtectedRecipientAttachReport=yes
ProtectedRecipientAction=unchanged
CuredRecipientNotify=yes
CuredRecipientAttachReport=yes
CuredRecipientAction=cured
`

func TestExample525FilterAttachments(t *testing.T) {
	p := loadPolicy(t, example525)
	want := DefaultMailPolicy()
	users := DefaultMailGroup("users")
	users.Recipients = patterns(t, `@example\.com$`)
	users.FilterByName = patterns(t, `.*\.exe$`)
	users.QuarantinePath = "/var/db/Quarantine"
	users.AdminAddress = "postmaster@example.com"
	def := &want.Groups[0]
	def.QuarantinePath = "/var/db/Quarantine"
	def.AdminAddress = "postmaster@example.com"
	for s := range NumPolicyStatus {
		r := mainRules(s)
		if s == StatusProtected {
			r.RecipientAction, r.RecipientAttachReport, r.SenderNotify, r.AdminNotify = ActionUnchanged, false, false, false
		}
		r.Quarantine = r.Quarantine || s == StatusCorrupted || s == StatusError
		users.Rules[s] = r

		d := mainRules(s)
		d.RecipientAttachReport = s == StatusProtected || s == StatusCured
		if s == StatusProtected {
			d.RecipientAction = ActionUnchanged
		}
		d.Quarantine = s != StatusProtected
		def.Rules[s] = d
	}
	want.Groups = []MailGroup{users, *def}
	diffPolicy(t, p, want)

	u := &p.Groups[0]
	if !u.Rules[StatusFiltered].Quarantine || u.Rules[StatusProtected].AdminNotify || !u.Rules[StatusInfected].AdminNotify ||
		u.Rules[StatusProtected].RecipientAction != ActionUnchanged || u.Rules[StatusFiltered].RecipientAction != ActionRemove {
		t.Errorf("users rules %+v", u.Rules)
	}
	for name, filtered := range map[string]bool{"setup.exe": true, "SETUP.EXE": true, "a.b.Exe": true, "exe.txt": false, "setup.exe.txt": false, "setupexe": false} {
		if got := matchAny(u.FilterByName, name) && len(u.FilterByName) > 0; got != filtered {
			t.Errorf("FilterByName on %s = %v", name, got)
		}
	}
	if !u.Matches("", "Joe@Example.COM") || u.Matches("", "joe@example.org") {
		t.Error("users Matches")
	}
}

// The shipped examples load without error and give the same policies as
// the texts above.
func TestShippedExamplesLoad(t *testing.T) {
	for file, text := range map[string]string{
		"5.2.1-clean-and-cured.conf":       example521,
		"5.2.2-deliver-all-to-urgent.conf": example522,
		"5.2.3-protected-archives.conf":    example523,
		"5.2.4-block-delivery.conf":        example524,
		"5.2.5-filter-attachments.conf":    example525,
	} {
		t.Run(file, func(t *testing.T) {
			got, err := LoadMailPolicy(filepath.Join("../../etc/examples", file))
			if err != nil {
				t.Fatal(err)
			}
			diffPolicy(t, got, loadPolicy(t, text))
		})
	}
}

func TestGroupsInFileOrderWithDefaultLast(t *testing.T) {
	p := loadPolicy(t, `
[smtpscan.group:DEFAULT]
SubjectTag=[def]
[smtpscan.group:b_2]
Recipients=b
[smtpscan.general]
Hostname=mx
[smtpscan.group:A-1]
Recipients=a
`)
	if got := groupNames(p); !reflect.DeepEqual(got, []string{"b_2", "A-1", "default"}) {
		t.Fatalf("groups %v", got)
	}
	if p.Groups[2].Rules[StatusInfected].SubjectTag != "[def]" {
		t.Error("the file's default group was not kept")
	}

	// No default group in the file: the built-in one comes last.
	p = loadPolicy(t, "[smtpscan.group:x]\nCheck=no\n")
	if got := groupNames(p); !reflect.DeepEqual(got, []string{"x", "default"}) || p.Groups[0].Check || !p.Groups[1].Check {
		t.Fatalf("groups %v", got)
	}
	diffStruct(t, "default", reflect.ValueOf(p.Groups[1]), reflect.ValueOf(DefaultMailGroup("default")))
}

func TestMatches(t *testing.T) {
	p := loadPolicy(t, `
[smtpscan.group:g]
Senders=^$
Senders=@partner\.org$
Senders=^boss@
Recipients=^sales@example\.com$
Recipients=@SUPPORT\.example\.com$
[smtpscan.group:nullonly]
Senders=^$
[smtpscan.group:anysender]
Recipients=^x@y$
`)
	g, null, any := &p.Groups[0], &p.Groups[1], &p.Groups[2]
	for _, tc := range []struct {
		g            *MailGroup
		sender, rcpt string
		want         bool
	}{
		{g, "", "sales@example.com", true},
		{g, "joe@partner.org", "SALES@EXAMPLE.COM", true},
		{g, "Joe@Partner.ORG", "a@support.example.com", true},
		{g, "BOSS@anywhere.net", "a@Support.Example.Com", true},
		{g, "joe@partner.org.evil", "sales@example.com", false},
		{g, "joe@partner.org", "presales@example.com", false},
		{g, "joe@other.org", "sales@example.com", false},
		{g, "", "a@support.example.com.evil", false},
		{null, "", "anyone@anywhere", true},
		{null, "a@b", "anyone@anywhere", false},
		{any, "", "x@y", true},
		{any, "whoever@wherever", "X@Y", true},
		{any, "whoever@wherever", "x@yz", false},
		{&p.Groups[3], "", "", true}, // default: no patterns, any
	} {
		if got := tc.g.Matches(tc.sender, tc.rcpt); got != tc.want {
			t.Errorf("%s.Matches(%q, %q) = %v, want %v", tc.g.Name, tc.sender, tc.rcpt, got, tc.want)
		}
	}
}

func TestCompilePatternIsPOSIXAndCaseInsensitive(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{`abc`, "xxABCxx", true},
		{`^a$`, "b\na", false}, // anchors at the ends of the text only
		{`^a$`, "A", true},
		{`a.b`, "a\nb", true},
		{`[[:digit:]]+\.exe$`, "123.EXE", true},
		{`(exe|scr)$`, "x.SCR", true},
		{`[a-c]x`, "Bx", true},
		{`ß`, "SS", false},
	} {
		re, err := CompilePattern(tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.p, err)
		}
		if got := re.MatchString(tc.s); got != tc.want {
			t.Errorf("%q on %q = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
	for _, p := range []string{``, `\d+`, `(?i)x`, `*a`, `(`, `[z-a]`, `a{2,1}`, `\bword`} {
		if _, err := CompilePattern(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

func TestRulesResolveStatusOverGroupOverDefault(t *testing.T) {
	p := loadPolicy(t, `
[smtpscan.group:default]
SubjectTag=[virus?]
InfectedSubjectTag=***INFECTED***
CuredSubjectTag=
RecipientAction=reject
CuredRecipientAction=Cured
AdminAction=remove
ErrorAdminAction=unchanged
SenderAttachReport=yes
SuspiciousSenderAttachReport=no
protectedadminnotify=YES
Quarantine=no
ProtectedQuarantine=yes
InfectedQuarantine=no
`)
	g := p.Groups[0]
	if g.Quarantine {
		t.Error("master switch")
	}
	for _, tc := range []struct {
		s                      PolicyStatus
		tag                    string
		rcpt, admin            RuleAction
		senderReport, adminNot bool
		quarantine             bool
	}{
		{StatusInfected, "***INFECTED***", ActionReject, ActionRemove, true, false, false},
		{StatusSuspicious, "[virus?]", ActionReject, ActionRemove, false, false, true},
		{StatusCured, "", ActionCured, ActionRemove, true, false, true},
		{StatusFiltered, "[virus?]", ActionReject, ActionRemove, true, false, true},
		{StatusCorrupted, "[virus?]", ActionReject, ActionRemove, true, false, false},
		{StatusProtected, "[virus?]", ActionReject, ActionRemove, true, true, true},
		{StatusError, "[virus?]", ActionReject, ActionUnchanged, true, false, false},
	} {
		r := g.Rules[tc.s]
		w := MailRules{RecipientAction: tc.rcpt, AdminAction: tc.admin, SenderAttachReport: tc.senderReport, AdminNotify: tc.adminNot, Quarantine: tc.quarantine, SubjectTag: tc.tag}
		if r != w {
			t.Errorf("%v: got  %+v\nwant %+v", tc.s, r, w)
		}
	}
}

func TestLoadMailPolicyReportAndNotify(t *testing.T) {
	p := loadPolicy(t, `
[smtpscan.report]
ReportFileName=/var/log/ave/mail.log
ShowOk=yes
ReportFilePermission=0600
Syslog=yes
[smtpscan.notify]
TemplatePath=
MaxNotifications=0
`)
	if p.Report != (MailReport{ReportFileName: "/var/log/ave/mail.log", ShowOk: true, ReportFilePermission: 0o600, Syslog: true}) {
		t.Errorf("report %+v", p.Report)
	}
	if p.Notify != (MailNotify{TemplatePath: "", MaxNotifications: 0}) {
		t.Errorf("notify %+v", p.Notify)
	}
}

func TestLoadMailPolicyReportsEveryProblemWithFileSectionAndKey(t *testing.T) {
	p := writeConf(t, `
[smtpscan.group:a]
Bogus=1
Check=maybe
AdminAction=reject
InfectedAdminAction=Reject
RecipientAction=bounce
CuredRecipientAction=deliver
Senders=(
Senders=\d+@x
Recipients=
FilterByType=
AdminAddress=postmaster
NotifyFromAddress=<mailer-daemon@example.com>
QuarantinePath=quarantine
SubjectTag=a	b
InfectedQuarantinePath=/q
Quarantine=maybe
FilteredQuarantine=2
ProtectedSenderNotify=si
SenderNotify=yes
sendernotify=yes
CuredSubjectTag=x
CuredSubjectTag=y

[smtpscan.group:b.c]
Check=yes
[smtpscan.group:]
Check=yes
[smtpscan.group:A]
Check=no
[smtpscan.grup:x]
Check=no
[smtpscan.report]
ReportFileName=report.log
ShowOk=perhaps
ReportFilePermission=999
Syslog=yes
Syslog=no
[smtpscan.notify]
TemplatePath=templates
MaxNotifications=1001
Extra=1
[smtpscan.general]
NotOurs=1
`)
	_, err := LoadMailPolicy(p)
	if err == nil {
		t.Fatal("expected errors")
	}
	msg := err.Error()
	for _, want := range []string{
		"[smtpscan.group:a] Bogus: unknown key",
		"[smtpscan.group:a] Check=maybe: expected yes or no",
		"[smtpscan.group:a] AdminAction=reject: reject is only for RecipientAction",
		"[smtpscan.group:a] InfectedAdminAction=Reject: reject is only for RecipientAction",
		"[smtpscan.group:a] RecipientAction=bounce: expected one of unchanged, cured, remove, reject",
		"[smtpscan.group:a] CuredRecipientAction=deliver: expected one of unchanged, cured, remove, reject",
		"[smtpscan.group:a] Senders=(: expected a POSIX extended regular expression",
		`[smtpscan.group:a] Senders=\d+@x: expected a POSIX extended regular expression`,
		"[smtpscan.group:a] Recipients=: empty pattern",
		"[smtpscan.group:a] FilterByType=: empty pattern",
		"[smtpscan.group:a] AdminAddress=postmaster: expected an address",
		"[smtpscan.group:a] NotifyFromAddress=<mailer-daemon@example.com>: expected an address",
		"[smtpscan.group:a] QuarantinePath=quarantine: expected an absolute path",
		"[smtpscan.group:a] SubjectTag=a\tb: expected text without control characters",
		"[smtpscan.group:a] InfectedQuarantinePath: unknown key",
		"[smtpscan.group:a] Quarantine=maybe: expected yes or no",
		"[smtpscan.group:a] FilteredQuarantine=2: expected yes or no",
		"[smtpscan.group:a] ProtectedSenderNotify=si: expected yes or no",
		"[smtpscan.group:a] sendernotify: given more than once",
		"[smtpscan.group:a] CuredSubjectTag: given more than once",
		"[smtpscan.group:b.c]: bad group name",
		"[smtpscan.group:]: bad group name",
		"[smtpscan.group:A]: section given more than once",
		"[smtpscan.grup:x]: unknown section",
		"[smtpscan.report] ReportFileName=report.log: expected an absolute path",
		"[smtpscan.report] ShowOk=perhaps: expected yes or no",
		"[smtpscan.report] ReportFilePermission=999: expected an octal permission",
		"[smtpscan.report] Syslog: given more than once",
		"[smtpscan.notify] TemplatePath=templates: expected an absolute path",
		"[smtpscan.notify] MaxNotifications=1001: expected an integer from 0 to 1000",
		"[smtpscan.notify] Extra: unknown key",
	} {
		if !strings.Contains(msg, p+": "+want) {
			t.Errorf("error lacks %q; got:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "NotOurs") {
		t.Errorf("[smtpscan.general] is LoadSMTPScan's:\n%s", msg)
	}
}

func TestDuplicateGroupSectionIsAnError(t *testing.T) {
	for _, text := range []string{
		"[smtpscan.group:x]\nCheck=yes\n[smtpscan.group:x]\nCheck=no\n",
		"[smtpscan.group:default]\n[smtpscan.group:Default]\n",
		"[smtpscan.report]\nShowOk=yes\n[smtpscan.report]\nSyslog=yes\n",
	} {
		p := writeConf(t, text)
		_, err := LoadMailPolicy(p)
		if err == nil || !strings.Contains(err.Error(), p+": [") || !strings.Contains(err.Error(), "]: section given more than once") {
			t.Errorf("%q: err = %v", text, err)
		}
	}
}

func TestShadowsOfANonListKeyAreRejected(t *testing.T) {
	// The same value twice is given twice too.
	p := writeConf(t, "[smtpscan.group:x]\nCheck=yes\nCheck=yes\nRecipients=a\nRecipients=a\n")
	_, err := LoadMailPolicy(p)
	if err == nil || !strings.Contains(err.Error(), p+": [smtpscan.group:x] Check: given more than once") || strings.Contains(err.Error(), "Recipients") {
		t.Fatalf("err = %v", err)
	}
	// Every binary's sections.
	p = writeConf(t, "[aveserver.general]\nWorkers=2\nWorkers=3\n")
	if _, err := LoadAVEServer(p); err == nil || !strings.Contains(err.Error(), p+": [aveserver.general] Workers: given more than once") {
		t.Fatalf("err = %v", err)
	}
	p = writeConf(t, "[smtpscan.limits]\nMaxSessions=2\nmaxsessions=3\n")
	if _, err := LoadSMTPScan(p); err == nil || !strings.Contains(err.Error(), p+": [smtpscan.limits] maxsessions: given more than once") {
		t.Fatalf("err = %v", err)
	}
	p = writeConf(t, "[scanner.options]\nExcludeDir=/proc\nExcludeDir=/sys\n")
	if _, err := LoadScanner(p); err == nil || !strings.Contains(err.Error(), p+": [scanner.options] ExcludeDir: given more than once") {
		t.Fatalf("err = %v", err)
	}
}

func TestListKeysKeepEveryValueInOrder(t *testing.T) {
	p := loadPolicy(t, `
[smtpscan.group:x]
FilterByName=\.exe$
filterbyname=\.scr$
FILTERBYNAME=\.pif$
FilterByMIME=^application/x-msdownload$
FilterByType=^pe$
FilterByType=^elf$
`)
	g := p.Groups[0]
	for field, got := range map[string][]*regexp.Regexp{"name": g.FilterByName, "mime": g.FilterByMIME, "type": g.FilterByType} {
		want := map[string][]*regexp.Regexp{
			"name": patterns(t, `\.exe$`, `\.scr$`, `\.pif$`),
			"mime": patterns(t, `^application/x-msdownload$`),
			"type": patterns(t, `^(^pe$)$`, `^(^elf$)$`),
		}[field]
		if !reflect.DeepEqual(patternStrings(got), patternStrings(want)) {
			t.Errorf("%s: got %q want %q", field, patternStrings(got), patternStrings(want))
		}
	}
}

// LoadSMTPScan and LoadMailPolicy share the smtpscan. family: each leaves
// the other's sections alone, and each checks its own.
func TestSMTPScanAndMailPolicySectionsAreSeparate(t *testing.T) {
	p := writeConf(t, `
[smtpscan.general]
QuarantineKeyFile=/etc/ave/q.key
[smtpscan.limits]
MaxSessions=5
[smtpscan.group:x]
Recipients=x
[smtpscan.group:default]
Check=yes
[smtpscan.report]
ShowOk=yes
[smtpscan.notify]
MaxNotifications=3
`)
	c, err := LoadSMTPScan(p)
	if err != nil || c.QuarantineKeyFile != "/etc/ave/q.key" || c.MaxSessions != 5 {
		t.Fatalf("LoadSMTPScan: %+v, %v", c, err)
	}
	mp, err := LoadMailPolicy(p)
	if err != nil || len(mp.Groups) != 2 || !mp.Report.ShowOk || mp.Notify.MaxNotifications != 3 {
		t.Fatalf("LoadMailPolicy: %+v, %v", mp, err)
	}

	p = writeConf(t, "[smtpscan.general]\nQuarantineKeyFile=q.key\n[smtpscan.group:bad name]\nBogus=1\n")
	if _, err := LoadSMTPScan(p); err == nil || !strings.Contains(err.Error(), p+": [smtpscan.general] QuarantineKeyFile=q.key: expected an absolute path") ||
		strings.Contains(err.Error(), "bad name") {
		t.Fatalf("LoadSMTPScan: %v", err)
	}
	if _, err := LoadMailPolicy(p); err == nil || !strings.Contains(err.Error(), p+": [smtpscan.group:bad name]: bad group name") ||
		strings.Contains(err.Error(), "QuarantineKeyFile") {
		t.Fatalf("LoadMailPolicy: %v", err)
	}
}

// TestFilterByTypeMatchesWholeTypeNames: "pe" takes pe only (not jpeg),
// "zip" not gzip; alternatives and anchors written by hand still work.
func TestFilterByTypeMatchesWholeTypeNames(t *testing.T) {
	p := loadPolicy(t, "[smtpscan.group:x]\nFilterByType=pe\nFilterByType=zip|rar\nFilterByType=^elf$\n")
	match := func(typ string) bool {
		for _, re := range p.Groups[0].FilterByType {
			if re.MatchString(typ) {
				return true
			}
		}
		return false
	}
	for typ, want := range map[string]bool{"pe": true, "PE": true, "jpeg": false, "zip": true, "gzip": false, "rar": true, "elf": true, "self": false} {
		if match(typ) != want {
			t.Errorf("%s: matched %v, want %v", typ, !want, want)
		}
	}
}
