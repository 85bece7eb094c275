package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckAcceptsTheShippedConfigurations: etc/ave.conf and every example
// of etc/examples are good files.
func TestCheckAcceptsTheShippedConfigurations(t *testing.T) {
	files, err := filepath.Glob("../../etc/examples/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range append(files, "../../etc/ave.conf") {
		var out, errOut bytes.Buffer
		if code := run([]string{"-c", f, "check"}, &out, &errOut); code != 0 || out.String() != f+": ok\n" {
			t.Errorf("%s: exit %d, %q %q", f, code, out.String(), errOut.String())
		}
	}
}

// TestCheckListsEveryProblemOnceNamingFileSectionAndKey: a file with
// problems in the sections of several programs gets one line per problem
// (the loaders share the checks of unknown sections and keys) and exit 1.
func TestCheckListsEveryProblemOnceNamingFileSectionAndKey(t *testing.T) {
	d := t.TempDir()
	f := filepath.Join(d, "ave.conf")
	conf := "[aveserver.general]\nWorkers=many\n[smtpscan.general]\nForwardMailer=bogus\nFoo=1\n" +
		"[smtpscan.notify]\nTemplatePath=" + filepath.Join(d, "missing") + "\n" +
		"[smtpscan.group:default]\nInfectedRecipientAction=explode\n[nonsense]\n" +
		"[qmail.general]\nOriginalQueue=relative\n[updater.options]\nUpdateServerUrl=ftp://x/\n"
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-c", f, "check"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1: %q %q", code, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	wants := []string{"[aveserver.general] Workers", "[smtpscan.general] ForwardMailer", "[smtpscan.general] Foo: unknown key",
		"[smtpscan.group:default] InfectedRecipientAction", "[nonsense]: unknown section",
		"[qmail.general] OriginalQueue", "[updater.options] UpdateServerUrl"}
	for _, w := range wants {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, w) {
				n++
				if !strings.HasPrefix(l, f+": ") {
					t.Errorf("line does not start with the file: %q", l)
				}
			}
		}
		if n != 1 {
			t.Errorf("%q printed %d times, want once:\n%s", w, n, out.String())
		}
	}
	// A key file that is not a key.
	os.WriteFile(filepath.Join(d, "bad.pub"), []byte("not a key\n"), 0o644)
	os.WriteFile(f, []byte("[updater.options]\nPublicKeyFile="+filepath.Join(d, "bad.pub")+"\n"), 0o600)
	out.Reset()
	if code := run([]string{"-c", f, "check"}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "[updater.options] PublicKeyFile") {
		t.Fatalf("bad key file: exit %d, %q", code, out.String())
	}
	// The templates are read only when the policy itself is good.
	os.WriteFile(f, []byte("[smtpscan.notify]\nTemplatePath="+filepath.Join(d, "missing")+"\n"), 0o600)
	out.Reset()
	if code := run([]string{"-c", f, "check"}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "TemplatePath") {
		t.Fatalf("missing template directory: exit %d, %q", code, out.String())
	}
	// Programs the mail front-ends would run: a forwarder command that is
	// not there, and an original qmail-queue missing from a directory
	// that exists (qmail installed). Where the directory does not exist
	// (no qmail), OriginalQueue is not looked at.
	checkOut := func(conf string) (int, string) {
		os.WriteFile(f, []byte(conf), 0o600)
		out.Reset()
		return run([]string{"-c", f, "check"}, &out, &errOut), out.String()
	}
	if code, o := checkOut("[smtpscan.general]\nForwardMailer=smtp:(" + filepath.Join(d, "no-sendmail") + " -bs)\n"); code != 1 || !strings.Contains(o, "[smtpscan.general] ForwardMailer") {
		t.Fatalf("missing forwarder command: exit %d, %q", code, o)
	}
	if code, o := checkOut("[qmail.general]\nOriginalQueue=" + filepath.Join(d, "qmail-queue.orig") + "\n"); code != 1 || !strings.Contains(o, "[qmail.general] OriginalQueue") {
		t.Fatalf("missing original qmail-queue: exit %d, %q", code, o)
	}
	os.WriteFile(filepath.Join(d, "qmail-queue.orig"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	if code, o := checkOut("[qmail.general]\nOriginalQueue=" + filepath.Join(d, "qmail-queue.orig") + "\n[smtpscan.general]\nForwardMailer=lmtp:(" + filepath.Join(d, "qmail-queue.orig") + ")\n"); code != 0 {
		t.Fatalf("existing programs: exit %d, %q", code, o)
	}
	if code, o := checkOut("[qmail.general]\nOriginalQueue=" + filepath.Join(d, "no-qmail", "bin", "qmail-queue.orig") + "\n"); code != 0 {
		t.Fatalf("host without qmail: exit %d, %q", code, o)
	}
	if code := run([]string{"-c", filepath.Join(d, "nope.conf"), "check"}, &out, &errOut); code != 2 {
		t.Fatalf("missing file: exit %d, want 2", code)
	}
}
