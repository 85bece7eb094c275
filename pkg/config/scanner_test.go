package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestShippedConfigScannerSectionsEqualDefaults(t *testing.T) {
	c, err := LoadScanner("../../etc/ave.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultScanner()) {
		t.Fatalf("etc/ave.conf [scanner.*] differs from the defaults:\n got %+v\nwant %+v", c, DefaultScanner())
	}
}

func TestLoadScannerParsesValues(t *testing.T) {
	p := writeConf(t, `
[scanner.path]
BackupPath = /var/backup/ave
QuarantinePath = /q
KeyFile = /k.key
CachePath =

[scanner.options]
Recursion = no
OneFileSystem = yes
ExcludeDir = /proc, /sys  /home/*/tmp
ExcludeMask = *.iso,*.vmdk
Jobs = 8
ScanTimeout = 30s

[scanner.report]
ReportFileName = /var/log/kav.log
Append = yes
ReportLevel = all

[scanner.object]
OnInfected = cure; quarantine
OnError = exec /usr/bin/logger -t kav "cannot scan %FULLPATH%/%FILENAME%"

[scanner.container]
OnInfected = movePath /var/infected
OnSuspicious = remove

[aveserver.general]
Workers = 3
`)
	c, err := LoadScanner(p)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultScanner()
	want.BackupPath, want.QuarantinePath, want.KeyFile, want.CachePath = "/var/backup/ave", "/q", "/k.key", ""
	want.Recursion, want.OneFileSystem = false, true
	want.ExcludeDir = []string{"/proc", "/sys", "/home/*/tmp"}
	want.ExcludeMask = []string{"*.iso", "*.vmdk"}
	want.Jobs = 8
	want.ScanTimeout = 30 * time.Second
	want.ReportFileName, want.ReportAppend, want.ReportLevel = "/var/log/kav.log", true, "all"
	want.Object.OnInfected = []Action{{Kind: ActCure}, {Kind: ActQuarantine}}
	want.Object.OnError = []Action{{Kind: ActExec, Argv: []string{"/usr/bin/logger", "-t", "kav", "cannot scan %FULLPATH%/%FILENAME%"}}}
	want.Container.OnInfected = []Action{{Kind: ActMovePath, Arg: "/var/infected"}}
	want.Container.OnSuspicious = []Action{{Kind: ActRemove}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestLoadScannerReportsEveryBadKey(t *testing.T) {
	p := writeConf(t, `
[scanner.options]
Recursion = maybe
ExcludeMask = [a-
Colour = blue

[scanner.object]
OnInfected = burn

[scanner.container]
OnCorrupted = movePath relative/dir

[scanner.nonsense]
X = 1
`)
	_, err := LoadScanner(p)
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{
		"[scanner.options] Recursion=maybe: expected yes or no",
		"[scanner.options] ExcludeMask=[a-: bad mask",
		"[scanner.options] Colour: unknown key",
		`[scanner.object] OnInfected=burn: unknown action "burn"`,
		"[scanner.container] OnCorrupted=movePath relative/dir: movePath takes one absolute directory",
		"[scanner.nonsense]: unknown section",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestParseActions(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []Action
		err  string
	}{
		{"empty is report", "", []Action{{Kind: ActReport}}, ""},
		{"single", "remove", []Action{{Kind: ActRemove}}, ""},
		{"case-insensitive", "Quarantine ; MOVEPATH /x", []Action{{Kind: ActQuarantine}, {Kind: ActMovePath, Arg: "/x"}}, ""},
		{"cure with fallback", "cure;remove", []Action{{Kind: ActCure}, {Kind: ActRemove}}, ""},
		{"empty steps skipped", ";report;;", []Action{{Kind: ActReport}}, ""},
		{"exec words", `exec /bin/echo found %VIRUSNAME% in %FULLPATH%/%FILENAME%`,
			[]Action{{Kind: ActExec, Argv: []string{"/bin/echo", "found", "%VIRUSNAME%", "in", "%FULLPATH%/%FILENAME%"}}}, ""},
		{"exec quotes keep ; and spaces", `exec /bin/sh -c 'echo "$1"; true' sh %FILENAME%; remove`,
			[]Action{{Kind: ActExec, Argv: []string{"/bin/sh", "-c", `echo "$1"; true`, "sh", "%FILENAME%"}}, {Kind: ActRemove}}, ""},
		{"exec double quotes and escapes", `exec a "b \"c\" d" e\ f`,
			[]Action{{Kind: ActExec, Argv: []string{"a", `b "c" d`, "e f"}}}, ""},
		{"exec without command", "exec", nil, "exec needs a command"},
		{"movePath without dir", "movePath", nil, "movePath takes one absolute directory"},
		{"movePath two dirs", "movePath /a /b", nil, "movePath takes one absolute directory"},
		{"argument to remove", "remove now", nil, "remove takes no argument"},
		{"unknown", "delete", nil, `unknown action "delete"`},
		{"unterminated quote", `exec a 'b`, nil, "unterminated ' quote"},
		{"trailing backslash", `exec a \`, nil, "trailing backslash"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseActions(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}
