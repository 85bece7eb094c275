package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestShippedConfigSMTPScanSectionsEqualDefaults(t *testing.T) {
	c, err := LoadSMTPScan("../../etc/ave.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultSMTPScan()) {
		t.Fatalf("etc/ave.conf [smtpscan.*] differs from the defaults:\n got %+v\nwant %+v", c, DefaultSMTPScan())
	}
}

func TestLoadSMTPScanParsesValues(t *testing.T) {
	p := writeConf(t, `
[smtpscan.general]
ListenAddress = /run/ave/smtpscanner.sock
Protocol = LMTP
ForwardMailer = lmtp:(/usr/sbin/dovecot-lda -d "some user")
SpoolDir = /tmp/spool/
ServerAddress = /run/x.sock
Hostname = mx.example.org
ScannedHeader = X-Scanned: yes
TagHeader = X-Virus

[smtpscan.limits]
MaxCheckTime = 2m
MaxMessageSize = 0
MaxSessions = 7
MaxRecipients = 0
ReadTimeout = 30
WriteTimeout = 5s
ForwardTimeout = 45

[aveserver.general]
Whatever = not ours
`)
	c, err := LoadSMTPScan(p)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultSMTPScan()
	want.ListenAddress = "/run/ave/smtpscanner.sock"
	want.Protocol = "lmtp"
	want.ForwardMailer = Mailer{Protocol: "lmtp", Network: "exec", Argv: []string{"/usr/sbin/dovecot-lda", "-d", "some user"}}
	want.SpoolDir = "/tmp/spool"
	want.ServerAddress = "/run/x.sock"
	want.Hostname = "mx.example.org"
	want.ScannedHeader = "X-Scanned: yes"
	want.TagHeader = "X-Virus"
	want.MaxCheckTime = 2 * time.Minute
	want.MaxMessageSize = 0
	want.MaxSessions = 7
	want.MaxRecipients = 0
	want.ReadTimeout = 30 * time.Second
	want.WriteTimeout = 5 * time.Second
	want.ForwardTimeout = 45 * time.Second
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	if c.ListenNetwork() != "unix" || DefaultSMTPScan().ListenNetwork() != "tcp" {
		t.Fatal("ListenNetwork")
	}
}

func TestLoadSMTPScanReportsEveryBadKey(t *testing.T) {
	p := writeConf(t, `
[smtpscan.general]
ListenAddress = localhost
Protocol = esmtp
ForwardMailer = qmail:/var/qmail/bin/qmail-queue
SpoolDir = spool
ScannedHeader = no colon here
TagHeader = X Bad
InfectedAction = bounce
Listen = x

[smtpscan.limits]
MaxCheckTime = soon
MaxMessageSize = 10
MaxSessions = 0
`)
	_, err := LoadSMTPScan(p)
	if err == nil {
		t.Fatal("expected errors")
	}
	for _, want := range []string{
		"[smtpscan.general] ListenAddress=localhost: expected host:port or an absolute unix socket path",
		"[smtpscan.general] Protocol=esmtp: expected one of smtp, lmtp",
		"[smtpscan.general] ForwardMailer=qmail:/var/qmail/bin/qmail-queue: expected qmail:(path of a qmail-queue program)",
		"[smtpscan.general] SpoolDir=spool: expected an absolute path",
		"[smtpscan.general] ScannedHeader=no colon here: expected a header line",
		"[smtpscan.general] TagHeader=X Bad: bad header name",
		"[smtpscan.general] InfectedAction: unknown key (the basic actions became the [smtpscan.group:NAME] rules",
		"[smtpscan.general] Listen: unknown key",
		"[smtpscan.limits] MaxCheckTime=soon: expected seconds",
		"[smtpscan.limits] MaxMessageSize=10: expected a size",
		"[smtpscan.limits] MaxSessions=0: expected an integer from 1",
	} {
		if !strings.Contains(err.Error(), p+": "+want) {
			t.Errorf("error lacks %q; got:\n%v", want, err)
		}
	}
}

func TestParseMailer(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Mailer
		err      string
	}{
		{"smtp tcp", "smtp:127.0.0.1:10026", Mailer{Protocol: "smtp", Network: "tcp", Address: "127.0.0.1:10026"}, ""},
		{"lmtp tcp ipv6", "lmtp:[::1]:24", Mailer{Protocol: "lmtp", Network: "tcp", Address: "[::1]:24"}, ""},
		{"lmtp unix", "lmtp:/var/run/dovecot/lmtp", Mailer{Protocol: "lmtp", Network: "unix", Address: "/var/run/dovecot/lmtp"}, ""},
		{"smtp command", "smtp:(/usr/sbin/sendmail -bs -C /etc/mail/sendmail.cf)", Mailer{Protocol: "smtp", Network: "exec", Argv: []string{"/usr/sbin/sendmail", "-bs", "-C", "/etc/mail/sendmail.cf"}}, ""},
		{"command with semicolon stays one word", "lmtp:(prog 'a;b')", Mailer{Protocol: "lmtp", Network: "exec", Argv: []string{"prog", "a;b"}}, ""},
		{"upper-case protocol", "SMTP:localhost:25", Mailer{Protocol: "smtp", Network: "tcp", Address: "localhost:25"}, ""},
		{"no port", "smtp:localhost", Mailer{}, "expected host:port"},
		{"unknown protocol", "uucp:host:1", Mailer{}, "expected smtp:host:port"},
		{"unclosed command", "smtp:(sendmail -bs", Mailer{}, "closing parenthesis"},
		{"empty command", "lmtp:()", Mailer{}, "empty command"},
		{"qmail", "qmail:(/var/qmail/bin/qmail-queue)", Mailer{Protocol: "qmail", Network: "exec", Argv: []string{"/var/qmail/bin/qmail-queue"}}, ""},
		{"qmail without parentheses", "qmail:/var/qmail/bin/qmail-queue", Mailer{}, "expected qmail:(path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMailer(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if back, err := ParseMailer(got.String()); err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("String() %q does not parse back: %+v %v", got.String(), back, err)
			}
		})
	}
}

// TestCompleteFillsServerAddressAndHostname: an empty ServerAddress is
// aveserver's own listener from the same file, an empty Hostname the
// system's; values the file gives are kept; a broken [aveserver.general]
// is the error.
func TestCompleteFillsServerAddressAndHostname(t *testing.T) {
	host, _ := os.Hostname()
	p := writeConf(t, "[aveserver.general]\nListenAddress=\nTCPListenAddress=127.0.0.1:3311\n")
	c, err := LoadSMTPScan(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Complete(p); err != nil {
		t.Fatal(err)
	}
	if c.ServerAddress != "tcp:127.0.0.1:3311" || c.Hostname != host {
		t.Fatalf("ServerAddress %q, Hostname %q (host %q)", c.ServerAddress, c.Hostname, host)
	}

	p = writeConf(t, "[aveserver.general]\nTCPListenAddress=127.0.0.1:3311\n[smtpscan.general]\nServerAddress=/x/ave.sock\nHostname=mx.test\n")
	if c, err = LoadSMTPScan(p); err != nil {
		t.Fatal(err)
	}
	if err := c.Complete(p); err != nil || c.ServerAddress != "/x/ave.sock" || c.Hostname != "mx.test" {
		t.Fatalf("%v: ServerAddress %q, Hostname %q", err, c.ServerAddress, c.Hostname)
	}

	p = writeConf(t, "[aveserver.general]\nTCPListenAddress=not an address\n")
	if c, err = LoadSMTPScan(p); err != nil {
		t.Fatal(err)
	}
	if err := c.Complete(p); err == nil || !strings.Contains(err.Error(), "TCPListenAddress") {
		t.Fatalf("want an error naming TCPListenAddress, got %v", err)
	}
}
