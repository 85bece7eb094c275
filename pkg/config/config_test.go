package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ave.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadAVEServerWithoutFileGivesDefaults(t *testing.T) {
	c, err := LoadAVEServer("")
	if err != nil {
		t.Fatal(err)
	}
	if c != DefaultAVEServer() {
		t.Fatalf("got %+v, want defaults", c)
	}
	if c.ListenAddress != DefaultSocket || c.MaxDepth != 16 || !c.CacheEnabled {
		t.Fatalf("unexpected defaults %+v", c)
	}
}

func TestShippedConfigLoadsAndEqualsDefaults(t *testing.T) {
	c, err := LoadAVEServer("../../etc/ave.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c != DefaultAVEServer() {
		t.Fatalf("etc/ave.conf differs from the built-in defaults:\n got %+v\nwant %+v", c, DefaultAVEServer())
	}
}

func TestLoadAVEServerParsesValues(t *testing.T) {
	p := writeConf(t, `
[aveserver.general]
ListenAddress = /tmp/x.sock
SocketMode = 0600
Workers = 3
QueueLength = 7
TCPListenAddress = 127.0.0.1:7350

[aveserver.limits]
MaxObjectSize = 10M
MaxScanSize = 1G
MaxDepth = 5
MaxFilesInContainer = 99
MaxCompressionRatio = 40
MaxScanTime = 90s

[aveserver.cache]
Enabled = no
CacheSize = 12

[smtpscan.general]
AnythingAtAll = is not ours to check
`)
	c, err := LoadAVEServer(p)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultAVEServer()
	want.ListenAddress = "/tmp/x.sock"
	want.SocketMode = 0o600
	want.Workers = 3
	want.QueueLength = 7
	want.TCPListenAddress = "127.0.0.1:7350"
	want.MaxObjectSize = 10 << 20
	want.MaxScanSize = 1 << 30
	want.MaxDepth = 5
	want.MaxFilesInContainer = 99
	want.MaxCompressionRatio = 40
	want.MaxScanTime = 90 * time.Second
	want.CacheEnabled = false
	want.CacheSize = 12
	if c != want {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestLoadAVEServerReportsEveryProblemWithFileSectionAndKey(t *testing.T) {
	p := writeConf(t, `
[aveserver.general]
Workrs = 2
SocketMode = rw-rw----

[aveserver.limits]
MaxDepth = deep
MaxObjectSize = 12Q
MaxScanTime = -4

[aveserver.bogus]
X = 1

[smtpscn.general]
ListenAddress = x

[avectl.general]
Foo = bar
`)
	_, err := LoadAVEServer(p)
	if err == nil {
		t.Fatal("expected errors")
	}
	msg := err.Error()
	for _, want := range []string{
		p + ": [aveserver.general] Workrs: unknown key",
		p + ": [aveserver.general] SocketMode=rw-rw----: expected an octal permission",
		p + ": [aveserver.limits] MaxDepth=deep: expected an integer from 1 to 64",
		p + ": [aveserver.limits] MaxObjectSize=12Q: expected a size",
		p + ": [aveserver.limits] MaxScanTime=-4: expected seconds",
		p + ": [aveserver.bogus]: unknown section",
		p + ": [smtpscn.general]: unknown section",
		p + ": [avectl.general]: unknown section", // no program reads one
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q; got:\n%s", want, msg)
		}
	}
}

func TestLoadAVEServerMissingFileIsAnError(t *testing.T) {
	_, err := LoadAVEServer(filepath.Join(t.TempDir(), "nope.conf"))
	if err == nil || !strings.Contains(err.Error(), "nope.conf") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true}, {"4K", 4096, true}, {"3m", 3 << 20, true}, {"2G", 2 << 30, true},
		{"", 0, false}, {"-1", 0, false}, {"1T", 0, false}, {"K", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestClientAddress: clients reach the unix socket, or the TCP listener
// when the daemon has no socket.
func TestClientAddress(t *testing.T) {
	for _, tc := range []struct{ unix, tcp, want string }{
		{"/run/ave/aveserver.sock", "", "/run/ave/aveserver.sock"},
		{"/run/ave/aveserver.sock", "127.0.0.1:3310", "/run/ave/aveserver.sock"},
		{"", "127.0.0.1:3310", "tcp:127.0.0.1:3310"},
	} {
		if got := (AVEServer{ListenAddress: tc.unix, TCPListenAddress: tc.tcp}).ClientAddress(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc, got, tc.want)
		}
	}
}

// TestAVEServerListenersAreCheckedOnLoad: a relative socket path or a
// TCP listener that is not host:port is refused naming the key (so
// avectl check finds it, not only aveserver's start); empty turns either
// off.
func TestAVEServerListenersAreCheckedOnLoad(t *testing.T) {
	for _, tc := range []struct{ conf, key string }{
		{"ListenAddress = run/ave.sock", "ListenAddress"},
		{"TCPListenAddress = 3310", "TCPListenAddress"},
		{"TCPListenAddress = localhost:", "TCPListenAddress"},
	} {
		_, err := LoadAVEServer(writeConf(t, "[aveserver.general]\n"+tc.conf+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: want an error naming %s, got %v", tc.conf, tc.key, err)
		}
	}
	c, err := LoadAVEServer(writeConf(t, "[aveserver.general]\nListenAddress =\nTCPListenAddress = :3310\n"))
	if err != nil || c.ListenAddress != "" || c.TCPListenAddress != ":3310" {
		t.Fatalf("%v: %+v", err, c)
	}
}
