package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ave/internal/testkit"
)

// TestForwardToQmailQueue: ForwardMailer=qmail:(path) hands clean mail to
// a qmail-queue program (message with LF line ends on fd 0, envelope on
// fd 1) and a 250 follows its exit 0; EICAR is rejected before it runs;
// its temporary and permanent exits become 451 and 554.
func TestForwardToQmailQueue(t *testing.T) {
	sock, _ := startAVEServer(t)
	d := shortDir(t)
	prog := filepath.Join(d, "qmail-queue")
	if err := os.WriteFile(prog, []byte(testkit.FakeQmailQueue), 0o755); err != nil {
		t.Fatal(err)
	}
	exitFile := filepath.Join(d, "exit")
	// A wrapper reads the exit status to give from a file, so one
	// smtpscanner serves every case.
	wrapper := filepath.Join(d, "qq")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+prog+" "+d+" \"$(cat "+exitFile+")\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	setExit := func(code string) {
		os.Remove(filepath.Join(d, "queued"))
		os.Remove(filepath.Join(d, "msg"))
		if err := os.WriteFile(exitFile, []byte(code), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setExit("0")
	r := startScanner(t, sock, "qmail:("+wrapper+")", "smtp", "")

	if err := send(t, r.addr, []string{"a@example.net", "b@example.net"}, cleanBody); err != nil {
		t.Fatalf("clean: %v", err)
	}
	msg, _ := os.ReadFile(filepath.Join(d, "msg"))
	if want := strings.ReplaceAll("X-Virus-Scanned: AVE smtpscanner\r\n"+cleanBody, "\r\n", "\n"); string(msg) != want {
		t.Fatalf("qmail-queue got:\n%q\nwant\n%q", msg, want)
	}
	env, _ := os.ReadFile(filepath.Join(d, "env"))
	if want := "Fsender@example.org\x00Ta@example.net\x00Tb@example.net\x00\x00"; string(env) != want {
		t.Fatalf("envelope %q, want %q", env, want)
	}

	setExit("0")
	eicar := string(testkit.Mail("eicar.com", []byte(testkit.EICAR)))
	if err := send(t, r.addr, []string{"a@example.net"}, eicar); smtpCode(err) != 554 {
		t.Fatalf("EICAR: got %v", err)
	}
	if _, err := os.Stat(filepath.Join(d, "msg")); err == nil {
		t.Fatal("EICAR mail reached qmail-queue")
	}

	for code, want := range map[string]int{"71": 451, "53": 451, "31": 554} {
		setExit(code)
		if err := send(t, r.addr, []string{"a@example.net"}, cleanBody); smtpCode(err) != want {
			t.Fatalf("qmail-queue exit %s: got %v, want %d", code, err, want)
		}
	}
	if files := r.spoolFiles(t); len(files) != 0 {
		t.Fatalf("spool not emptied: %v", files)
	}
}
