package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"ave/pkg/config"
	"ave/pkg/mailer"
	"ave/pkg/mailflow"
	"ave/pkg/quarantine"
)

const quarantineUsage = `usage: avectl [-c FILE] quarantine [--backup|--mail [--group NAME]] [--store DIR] [--key FILE] COMMAND
  list [--json]                 entries, oldest first: ID, time, status, names, then
                                path (files) or sender, recipients, Message-ID (mail)
  show ID [--meta|--content]    file entries: the decrypted content on standard output;
                                message and part entries: every metadata field
  restore ID [--to PATH] [--force]  put the object back (default: where it was; a
                                message or part needs --to)
  release ID [--to ADDR]... [--mailer MAILER] [--delete] [--force]
                                re-inject a quarantined message through ForwardMailer
                                of [smtpscan.general] (or MAILER, e.g. smtp:host:port)
                                with its stored envelope (or to the --to addresses
                                instead); prints the downstream reply per recipient
                                and marks the entry released; --delete removes it
                                once every recipient accepted; --force releases an
                                entry released before
  delete ID                     remove the entry
The store is [scanner.path] QuarantinePath (BackupPath with --backup) with
KeyFile; --mail is smtpscanner's mail quarantine: QuarantinePath of
[smtpscan.group:default] (or of --group NAME) with [smtpscan.general]
QuarantineKeyFile; --store DIR (or --dir) and --key FILE pick a store
explicitly. Store flags may also follow COMMAND.
exit status: 0 done (release: every recipient accepted), 1 no such entry or
a recipient refused (the entry stays), 2 other errors
`

// storeFlags pick the store; they are accepted before and after COMMAND.
type storeFlags struct {
	backup, mail bool
	dir, store   string
	key, group   string
}

func (o *storeFlags) add(fl *flag.FlagSet) {
	fl.BoolVar(&o.backup, "backup", o.backup, "the backup store ([scanner.path] BackupPath)")
	fl.BoolVar(&o.mail, "mail", o.mail, "the mail quarantine (smtpscanner)")
	fl.StringVar(&o.group, "group", o.group, "with --mail: the store of [smtpscan.group:NAME] (default: default)")
	fl.StringVar(&o.dir, "dir", o.dir, "store directory")
	fl.StringVar(&o.store, "store", o.store, "store directory")
	fl.StringVar(&o.key, "key", o.key, "key file")
}

// resolveConfig is the configuration file to read: -c, else the default
// file when it exists, else none (built-in defaults).
func resolveConfig(cfgFile string) string {
	if cfgFile == "" {
		if _, err := os.Stat(config.DefaultConfigFile); err == nil {
			return config.DefaultConfigFile
		}
	}
	return cfgFile
}

// mailStore is the mail quarantine of group ("" = the default group):
// its QuarantinePath and [smtpscan.general] QuarantineKeyFile.
func mailStore(cfgFile, group string) (dir, key string, err error) {
	pol, err := config.LoadMailPolicy(cfgFile)
	if err != nil {
		return "", "", err
	}
	smtp, err := config.LoadSMTPScan(cfgFile)
	if err != nil {
		return "", "", err
	}
	if group == "" {
		group = config.DefaultGroupName
	}
	for _, g := range pol.Groups {
		if strings.EqualFold(g.Name, group) {
			return g.QuarantinePath, smtp.QuarantineKeyFile, nil
		}
	}
	return "", "", fmt.Errorf("quarantine: no group %q in [smtpscan.group:*]", group)
}

// open opens the store the flags name.
func (o *storeFlags) open(cfgFile string) (*quarantine.Store, error) {
	if o.backup && o.mail {
		return nil, errors.New("quarantine: --backup and --mail exclude each other")
	}
	if o.group != "" && !o.mail {
		return nil, errors.New("quarantine: --group goes with --mail")
	}
	if o.dir != "" && o.store != "" && o.dir != o.store {
		return nil, errors.New("quarantine: --dir and --store name different stores")
	}
	d, k := o.store, o.key
	if d == "" {
		d = o.dir
	}
	if d == "" || k == "" {
		var cd, ck string
		if o.mail {
			var err error
			if cd, ck, err = mailStore(cfgFile, o.group); err != nil {
				return nil, err
			}
		} else {
			cfg, err := config.LoadScanner(cfgFile)
			if err != nil {
				return nil, err
			}
			cd, ck = cfg.QuarantinePath, cfg.KeyFile
			if o.backup {
				cd = cfg.BackupPath
			}
		}
		if d == "" {
			d = cd
		}
		if k == "" {
			k = ck
		}
	}
	if d == "" {
		return nil, errors.New("quarantine: no store directory (BackupPath is not set)")
	}
	// Nothing is created here: as root, a new store or key would lock out
	// the daemon that owns them.
	return quarantine.OpenExisting(d, k)
}

// parseInterspersed parses fl over args, letting flags follow the
// positional arguments, which it returns.
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		args = fl.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// addrList is a repeatable address flag.
type addrList []string

func (a *addrList) String() string     { return strings.Join(*a, ",") }
func (a *addrList) Set(v string) error { *a = append(*a, v); return nil }

// cmdQuarantine manages the quarantine and backup stores (pkg/quarantine).
func cmdQuarantine(cfgFile string, args []string, stdout, stderr io.Writer) int {
	var so storeFlags
	fl := flag.NewFlagSet("quarantine", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, quarantineUsage) }
	so.add(fl)
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return 2
	}
	cfgFile = resolveConfig(cfgFile)
	cmd, rest := fl.Arg(0), fl.Args()[1:]
	sub := flag.NewFlagSet("quarantine "+cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)
	sub.Usage = func() { fmt.Fprint(stderr, quarantineUsage) }
	so.add(sub)
	var (
		asJSON, meta, content, force, del *bool
		to, mailerFlag                    *string
		rcpts                             addrList
	)
	switch cmd {
	case "list":
		asJSON = sub.Bool("json", false, "JSON lines")
	case "show":
		meta = sub.Bool("meta", false, "print the metadata")
		content = sub.Bool("content", false, "write the decrypted content")
	case "restore":
		to = sub.String("to", "", "restore to PATH")
		force = sub.Bool("force", false, "replace an existing file")
	case "release":
		sub.Var(&rcpts, "to", "recipient instead of the stored ones (repeatable)")
		mailerFlag = sub.String("mailer", "", "downstream MTA instead of ForwardMailer (smtp:host:port, lmtp:/path, ...)")
		del = sub.Bool("delete", false, "remove the entry after a successful release")
		force = sub.Bool("force", false, "release an entry released before")
	case "delete":
	case "help":
		fmt.Fprint(stdout, quarantineUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "avectl: quarantine: unknown command %q\n", cmd)
		fl.Usage()
		return 2
	}
	pos, err := parseInterspersed(sub, rest)
	if err != nil {
		return 2
	}
	s, err := so.open(cfgFile)
	if err != nil {
		fmt.Fprintln(stderr, "avectl:", err)
		if cmd == "list" && errors.Is(err, quarantine.ErrNoStore) {
			return 0 // an empty list
		}
		return 2
	}
	needID := func() (string, bool) {
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "avectl: quarantine %s: one ID expected\n", cmd)
			return "", false
		}
		return pos[0], true
	}
	failed := func(err error) int {
		fmt.Fprintln(stderr, "avectl:", err)
		if errors.Is(err, quarantine.ErrNotFound) {
			return 1
		}
		return 2
	}
	switch cmd {
	case "list":
		if len(pos) != 0 {
			fmt.Fprintln(stderr, "avectl: quarantine list: no arguments expected")
			return 2
		}
		entries, err := s.List()
		if err != nil {
			return failed(err)
		}
		for _, e := range entries {
			if *asJSON {
				b, _ := json.Marshal(e)
				fmt.Fprintln(stdout, string(b))
				continue
			}
			fmt.Fprintln(stdout, listLine(e))
		}
		return 0
	case "show":
		id, ok := needID()
		if !ok {
			return 2
		}
		if *meta && *content {
			fmt.Fprintln(stderr, "avectl: quarantine show: --meta or --content, not both")
			return 2
		}
		e, err := s.Get(id)
		if err != nil {
			return failed(err)
		}
		if *meta || e.IsMail() && !*content {
			printMeta(stdout, e)
			return 0
		}
		if _, err := s.WriteTo(id, stdout); err != nil {
			return failed(err)
		}
		return 0
	case "restore":
		id, ok := needID()
		if !ok {
			return 2
		}
		p, err := s.Restore(id, *to, *force)
		if err != nil {
			return failed(err)
		}
		fmt.Fprintf(stdout, "restored %s to %q\n", id, p)
		return 0
	case "release":
		id, ok := needID()
		if !ok {
			return 2
		}
		return cmdRelease(s, id, releaseOpts{cfgFile: cfgFile, mailer: *mailerFlag, to: rcpts, del: *del, force: *force}, stdout, stderr)
	case "delete":
		id, ok := needID()
		if !ok {
			return 2
		}
		if err := s.Delete(id); err != nil {
			return failed(err)
		}
		fmt.Fprintf(stdout, "deleted %s\n", id)
		return 0
	}
	return 2
}

// listLine is one line of `quarantine list`.
func listLine(e quarantine.Entry) string {
	head := fmt.Sprintf("%s  %s  %-10s %-24s", e.ID, e.Stored.Local().Format("2006-01-02 15:04:05"),
		safe(e.Status), safe(strings.Join(e.Names, ",")))
	if !e.IsMail() {
		return fmt.Sprintf("%s %8d  %q", head, e.Size, e.Path)
	}
	line := fmt.Sprintf("%s  <%s> -> %s  %s  %d", head, safe(e.From), safe(strings.Join(e.Rcpts, ",")), orDash(safe(e.MessageID)), e.Size)
	if e.Kind == quarantine.KindPart {
		line += fmt.Sprintf("  part %q", e.PartName)
	}
	if !e.Released.IsZero() {
		line += "  released " + e.Released.Local().Format("2006-01-02 15:04:05")
	}
	return line
}

// printMeta prints every metadata field of e, one per line.
func printMeta(w io.Writer, e quarantine.Entry) {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format(time.RFC3339)
	}
	body := e.Body
	if body == "" {
		body = "7BIT"
	}
	fields := [][2]string{
		{"id", e.ID},
		{"kind", e.Kind},
		{"stored", ts(e.Stored)},
		{"status", e.Status},
		{"names", strings.Join(e.Names, ", ")},
		{"reason", e.Reason},
		{"producer", e.Producer},
		{"size", strconv.FormatInt(e.Size, 10)},
		{"sha256", e.SHA256},
	}
	if e.IsMail() {
		fields = append(fields, [][2]string{
			{"from", "<" + e.From + ">"},
			{"rcpts", strings.Join(e.Rcpts, ", ")},
			{"body", body},
			{"smtputf8", yes(e.SMTPUTF8)},
			{"group", e.Group},
			{"message-id", e.MessageID},
			{"queue-id", e.QueueID},
			{"part-name", e.PartName},
			{"released", ts(e.Released)},
			{"released-to", strings.Join(e.ReleasedTo, ", ")},
		}...)
	} else {
		fields = append(fields, [][2]string{
			{"path", e.Path},
			{"mode", fmt.Sprintf("%#o", e.Mode.Perm())},
			{"uid", strconv.Itoa(e.UID)},
			{"gid", strconv.Itoa(e.GID)},
			{"mtime", ts(e.ModTime)},
		}...)
	}
	for _, f := range fields {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-12s %s", f[0]+":", safe(f[1])), " "))
	}
}

// safe quotes s when it holds characters that should not reach a
// terminal (the metadata comes from mail and is not authenticated).
func safe(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type releaseOpts struct {
	cfgFile string
	mailer  string
	to      []string
	del     bool
	force   bool
}

// cmdRelease re-injects the message entry id through the downstream MTA.
func cmdRelease(s *quarantine.Store, id string, o releaseOpts, stdout, stderr io.Writer) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "avectl: quarantine release %s: %s\n", id, fmt.Sprintf(format, args...))
		return code
	}
	// Held until the outcome is recorded: a second release of the same
	// entry meanwhile is refused, not sent twice.
	unlock, err := s.Lock(id)
	if errors.Is(err, quarantine.ErrNotFound) {
		return fail(1, "no such entry")
	} else if errors.Is(err, quarantine.ErrBusy) {
		return fail(2, "in use by another process (a release under way?): try again later")
	} else if err != nil {
		return fail(2, "%v", err)
	}
	defer unlock()
	e, err := s.Get(id)
	if errors.Is(err, quarantine.ErrNotFound) {
		return fail(1, "no such entry")
	} else if err != nil {
		return fail(2, "%v", err)
	}
	switch e.Kind {
	case quarantine.KindMessage:
	case quarantine.KindPart:
		return fail(2, "a part removed from a message (%q), not a message: write it out with `avectl quarantine restore %s --to PATH`", e.PartName, id)
	default:
		return fail(2, "a %s entry, not a message: use `avectl quarantine restore %s`", e.Kind, id)
	}
	if !e.Released.IsZero() && !o.force {
		return fail(2, "released before (%s to %s): --force releases it again",
			e.Released.Local().Format(time.RFC3339), safe(strings.Join(e.ReleasedTo, ", ")))
	}
	rcpts := e.Rcpts
	if len(o.to) > 0 {
		rcpts = o.to
	}
	if len(rcpts) == 0 {
		return fail(2, "no recipients: give --to ADDR")
	}
	// The metadata is not authenticated: nothing may break the commands.
	if err := checkAddr(e.From, true); err != nil {
		return fail(2, "sender %s", err)
	}
	for _, r := range rcpts {
		if err := checkAddr(r, false); err != nil {
			return fail(2, "recipient %s", err)
		}
	}
	cfg, err := config.LoadSMTPScan(o.cfgFile)
	if err != nil {
		return fail(2, "%v", err)
	}
	dest := cfg.ForwardMailer
	if o.mailer != "" {
		if dest, err = config.ParseMailer(o.mailer); err != nil {
			return fail(2, "--mailer %q: %v", o.mailer, err)
		}
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	_, data, err := s.Load(id)
	if err != nil {
		return fail(2, "%v", err)
	}
	if err := checkDSN(e); err != nil {
		return fail(2, "%v", err)
	}
	// The DSN parameters go with the original recipients (also when --to
	// names one of them again); new recipients get none.
	env := &mailflow.Envelope{From: e.From, Body: e.Body, UTF8: e.SMTPUTF8, Ret: e.Ret, EnvID: e.EnvID}
	for _, r := range rcpts {
		d := e.RcptDSN[r]
		env.Rcpts = append(env.Rcpts, mailflow.Recipient{Addr: r, Notify: d.Notify, ORcptType: d.ORcptType, ORcpt: d.ORcpt})
	}
	m := &mailer.Mailer{Dest: dest, Hostname: cfg.Hostname, Timeout: cfg.ForwardTimeout}
	defer m.Close()
	replies := m.Forward(context.Background(), env, int64(len(data)), func() io.Reader { return bytes.NewReader(data) })
	var accepted, refused []string
	for i, r := range replies {
		note := ""
		if r.Local {
			note = " (avectl)"
		}
		fmt.Fprintf(stdout, "%s: %s%s\n", safe(rcpts[i]), safe(r.String()), note)
		if r.OK() {
			accepted = append(accepted, rcpts[i])
		} else {
			refused = append(refused, rcpts[i])
		}
	}
	if len(refused) > 0 {
		msg := fmt.Sprintf("%d of %d recipients not accepted via %s; the entry stays, not marked released", len(refused), len(rcpts), dest)
		if len(accepted) > 0 {
			msg += fmt.Sprintf("; %s accepted it: release again with --force --to for the others only", strings.Join(accepted, ", "))
		}
		return fail(1, "%s", msg)
	}
	if _, err := s.Update(id, func(x *quarantine.Entry) {
		x.Released, x.ReleasedTo = time.Now().UTC(), rcpts
	}); err != nil {
		return fail(2, "delivered, but not marked released: %v", err)
	}
	fmt.Fprintf(stdout, "released %s to %d recipient(s) via %s\n", id, len(rcpts), dest)
	if o.del {
		if err := s.Delete(id); err != nil {
			return fail(2, "released, but not deleted: %v", err)
		}
		fmt.Fprintf(stdout, "deleted %s\n", id)
	}
	return 0
}

// checkAddr refuses what cannot be an SMTP path: empty (unless the null
// sender is allowed), brackets, spaces, controls, overlong.
func checkAddr(a string, nullOK bool) error {
	if a == "" {
		if nullOK {
			return nil
		}
		return errors.New("address is empty")
	}
	if len(a) > 320 {
		return fmt.Errorf("%.40q...: too long", a)
	}
	for _, r := range a {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || !unicode.IsPrint(r) {
			return fmt.Errorf("%q: not an address", a)
		}
	}
	return nil
}

// checkDSN refuses stored DSN parameters that are not what RFC 3461
// allows (ENVID and ORCPT addresses are xtext-encoded on the way out, so
// any bytes are safe there).
func checkDSN(e quarantine.Entry) error {
	switch e.Ret {
	case "", "FULL", "HDRS":
	default:
		return fmt.Errorf("stored RET %q: not FULL or HDRS", e.Ret)
	}
	for a, d := range e.RcptDSN {
		for _, n := range d.Notify {
			switch n {
			case "NEVER", "SUCCESS", "FAILURE", "DELAY":
			default:
				return fmt.Errorf("stored NOTIFY %q of %s: not NEVER, SUCCESS, FAILURE or DELAY", n, safe(a))
			}
		}
		bad := len(d.ORcptType) > 64
		for _, c := range d.ORcptType {
			bad = bad || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-')
		}
		if bad {
			return fmt.Errorf("stored ORCPT type %q of %s: not an address type", d.ORcptType, safe(a))
		}
	}
	return nil
}
