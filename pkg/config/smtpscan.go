package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SMTPScan holds the [smtpscan.general] and [smtpscan.limits] sections
// read by smtpscanner. Zero values never reach smtpscanner: LoadSMTPScan
// starts from DefaultSMTPScan. The mail policy sections
// ([smtpscan.group:NAME], [smtpscan.report], [smtpscan.notify]) are read by
// LoadMailPolicy.
type SMTPScan struct {
	// [smtpscan.general]
	ListenAddress string // host:port (TCP) or an absolute unix socket path
	Protocol      string // "smtp" or "lmtp": what smtpscanner speaks to the MTA
	ForwardMailer Mailer // where accepted mail goes
	SpoolDir      string // messages in flight, synced before they are scanned
	ServerAddress string // aveserver socket ("" = [aveserver.general] ListenAddress)
	Hostname      string // name in the greeting and in EHLO/LHLO downstream ("" = the host name)
	ScannedHeader string // header line added to every forwarded message ("" = none)
	TagHeader     string // header name carrying the status and names on non-clean copies ("" = none)
	// age X25519 identity of the mail quarantine stores (QuarantinePath
	// of the groups); created with mode 0600 on first use.
	QuarantineKeyFile string

	// [smtpscan.limits]
	MaxCheckTime   time.Duration // time allowed to scan one message before 451
	MaxMessageSize int64         // SIZE advertised and enforced (0 = no limit)
	MaxSessions    int           // concurrent sessions; more are answered 421
	MaxRecipients  int           // recipients per message (0 = no limit)
	ReadTimeout    time.Duration // one command, or a whole DATA transfer, from the MTA
	WriteTimeout   time.Duration // one reply to the MTA
	ForwardTimeout time.Duration // one whole downstream transaction
}

// Mailer is a parsed ForwardMailer value:
//
//	smtp:host:port   lmtp:host:port   lmtp:/path/to/socket
//	smtp:(command args)   lmtp:(command args)
//
// Network is "tcp", "unix" or "exec"; Address is host:port or the socket
// path; Argv is the command of "exec", split like shell words but never
// run through a shell.
type Mailer struct {
	Protocol string // "smtp" or "lmtp"
	Network  string
	Address  string
	Argv     []string
}

func (m Mailer) String() string {
	if m.Network == "exec" {
		words := make([]string, len(m.Argv))
		for i, w := range m.Argv {
			words[i] = w
			if w == "" || strings.ContainsAny(w, " \t;'\"\\()") {
				words[i] = "'" + strings.ReplaceAll(w, "'", `'"'"'`) + "'"
			}
		}
		return m.Protocol + ":(" + strings.Join(words, " ") + ")"
	}
	return m.Protocol + ":" + m.Address
}

// ParseMailer parses a ForwardMailer value.
func ParseMailer(v string) (Mailer, error) {
	proto, rest, ok := strings.Cut(strings.TrimSpace(v), ":")
	proto = strings.ToLower(proto)
	if !ok || (proto != "smtp" && proto != "lmtp" && proto != "qmail") {
		return Mailer{}, errors.New("expected smtp:host:port, lmtp:host:port, lmtp:/path, smtp:(command), lmtp:(command) or qmail:(path)")
	}
	if proto == "qmail" && !strings.HasPrefix(rest, "(") {
		return Mailer{}, errors.New("expected qmail:(path of a qmail-queue program)")
	}
	m := Mailer{Protocol: proto}
	switch {
	case strings.HasPrefix(rest, "("):
		if !strings.HasSuffix(rest, ")") {
			return Mailer{}, errors.New("command lacks its closing parenthesis")
		}
		chains, err := splitChain(rest[1 : len(rest)-1])
		if err != nil {
			return Mailer{}, err
		}
		if len(chains) != 1 {
			return Mailer{}, errors.New(`unquoted ";" in the command: quote it`)
		}
		if len(chains[0]) == 0 {
			return Mailer{}, errors.New("empty command")
		}
		m.Network, m.Argv = "exec", chains[0]
	case strings.HasPrefix(rest, "/"):
		m.Network, m.Address = "unix", filepath.Clean(rest)
	default:
		if err := checkHostPort(rest); err != nil {
			return Mailer{}, err
		}
		m.Network, m.Address = "tcp", rest
	}
	return m, nil
}

func checkHostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("expected host:port, got %q", v)
	}
	return nil
}

// ListenNetwork returns "unix" for an absolute path and "tcp" otherwise.
func (c SMTPScan) ListenNetwork() string {
	if strings.HasPrefix(c.ListenAddress, "/") {
		return "unix"
	}
	return "tcp"
}

// DefaultSMTPScan is the configuration used with no file: a Postfix
// content_filter on 127.0.0.1:10025 re-injecting on 127.0.0.1:10026.
func DefaultSMTPScan() SMTPScan {
	return SMTPScan{
		ListenAddress:     "127.0.0.1:10025",
		Protocol:          "smtp",
		ForwardMailer:     Mailer{Protocol: "smtp", Network: "tcp", Address: "127.0.0.1:10026"},
		SpoolDir:          "/var/spool/ave/smtpscanner",
		ScannedHeader:     "X-Virus-Scanned: AVE smtpscanner",
		TagHeader:         "X-AVE-Status",
		QuarantineKeyFile: "/var/lib/ave/mail-quarantine.key",
		MaxCheckTime:      60 * time.Second,
		MaxMessageSize:    64 << 20,
		MaxSessions:       100,
		MaxRecipients:     1000,
		ReadTimeout:       10 * time.Minute,
		WriteTimeout:      time.Minute,
		ForwardTimeout:    10 * time.Minute,
	}
}

// LoadSMTPScan reads the [smtpscan.general] and [smtpscan.limits] sections
// of file over the defaults. An empty file name gives the defaults.
// The mail policy sections are LoadMailPolicy's and left alone here.
func LoadSMTPScan(file string) (SMTPScan, error) {
	c := DefaultSMTPScan()
	s := schema{prefix: "smtpscan.", foreign: mailPolicySections, owned: map[string]section{
		"smtpscan.general": {
			"listenaddress":     listenAddr(&c.ListenAddress),
			"protocol":          oneOf(&c.Protocol, "smtp", "lmtp"),
			"forwardmailer":     mailer(&c.ForwardMailer),
			"spooldir":          absPath(&c.SpoolDir),
			"serveraddress":     str(&c.ServerAddress),
			"hostname":          str(&c.Hostname),
			"scannedheader":     headerLine(&c.ScannedHeader),
			"tagheader":         headerName(&c.TagHeader),
			"quarantinekeyfile": absPath(&c.QuarantineKeyFile),
		},
		"smtpscan.limits": {
			"maxchecktime":   duration(&c.MaxCheckTime, time.Second),
			"maxmessagesize": sizeOrZero(&c.MaxMessageSize, 1024),
			"maxsessions":    integer(&c.MaxSessions, 1, 100_000),
			"maxrecipients":  integer(&c.MaxRecipients, 0, 1_000_000),
			"readtimeout":    duration(&c.ReadTimeout, time.Second),
			"writetimeout":   duration(&c.WriteTimeout, time.Second),
			"forwardtimeout": duration(&c.ForwardTimeout, time.Second),
		},
	}}
	if err := s.apply(file); err != nil {
		return c, err
	}
	return c, nil
}

func listenAddr(dst *string) func(string) error {
	return func(v string) error {
		if strings.HasPrefix(v, "/") {
			*dst = filepath.Clean(v)
			return nil
		}
		if err := checkHostPort(v); err != nil {
			return errors.New("expected host:port or an absolute unix socket path")
		}
		*dst = v
		return nil
	}
}

func mailer(dst *Mailer) func(string) error {
	return func(v string) error {
		m, err := ParseMailer(v)
		if err != nil {
			return err
		}
		*dst = m
		return nil
	}
}

func absPath(dst *string) func(string) error {
	return func(v string) error {
		if !filepath.IsAbs(v) {
			return errors.New("expected an absolute path")
		}
		*dst = filepath.Clean(v)
		return nil
	}
}

func sizeOrZero(dst *int64, min int64) func(string) error {
	return func(v string) error {
		if strings.TrimSpace(v) == "0" {
			*dst = 0
			return nil
		}
		return size(dst, min)(v)
	}
}

// headerLine checks "Name: value" (or empty): a field name of printable
// ASCII without colon, and a value without line breaks.
func headerLine(dst *string) func(string) error {
	return func(v string) error {
		if v == "" {
			*dst = ""
			return nil
		}
		name, value, ok := strings.Cut(v, ":")
		if !ok || validHeaderName(name) != nil || strings.ContainsAny(value, "\r\n") {
			return errors.New(`expected a header line "Name: value" or nothing`)
		}
		*dst = v
		return nil
	}
}

func headerName(dst *string) func(string) error {
	return func(v string) error {
		if v != "" {
			if err := validHeaderName(v); err != nil {
				return err
			}
		}
		*dst = v
		return nil
	}
}

// validHeaderName follows RFC 5322 section 2.2: printable ASCII except colon.
func validHeaderName(n string) error {
	if n == "" {
		return errors.New("empty header name")
	}
	for _, r := range n {
		if r < 33 || r > 126 || r == ':' {
			return fmt.Errorf("bad header name %q: printable ASCII without colon or space expected", n)
		}
	}
	return nil
}

// Complete fills in what the file may leave to the host, as both mail
// front-ends (smtpscanner, qmail-queue) do after LoadSMTPScan: an empty
// ServerAddress becomes the client address of aveserver's own listeners
// ([aveserver.general] of the same file, AVEServer.ClientAddress), an empty
// Hostname the system's host name. An error is LoadAVEServer's.
func (c *SMTPScan) Complete(file string) error {
	if c.ServerAddress == "" {
		av, err := LoadAVEServer(file)
		if err != nil {
			return err
		}
		c.ServerAddress = av.ClientAddress()
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	return nil
}
