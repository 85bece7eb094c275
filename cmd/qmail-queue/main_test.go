package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ave/internal/testkit"
	"ave/pkg/mailflow"
	"ave/pkg/scanclient"
)

func TestReadEnvelope(t *testing.T) {
	env, err := readEnvelope(strings.NewReader("Fs@example.org\x00Ta@example.net\x00Tb@example.net\x00\x00trailing"))
	if err != nil || env.From != "s@example.org" || len(env.Rcpts) != 2 || env.Rcpts[1].Addr != "b@example.net" {
		t.Fatalf("got %+v, %v", env, err)
	}
	if env, err := readEnvelope(strings.NewReader("F\x00Ta@example.net\x00\x00")); err != nil || env.From != "" {
		t.Fatalf("null sender: %+v, %v", env, err)
	}
	for _, bad := range []string{"", "F", "Fs\x00", "Fs\x00Ta", "Fs\x00Ta\x00", "Fs\x00\x00", "Xs\x00Ta\x00\x00", "Fs\x00Xa\x00\x00", "Fs\x00Ta\nb\x00\x00"} {
		_, err := readEnvelope(strings.NewReader(bad))
		if _, ok := err.(formatError); !ok {
			t.Errorf("%q: got %v, want a format error", bad, err)
		}
	}
}

func FuzzReadEnvelope(f *testing.F) {
	for _, s := range []string{"Fs@x\x00Ta@y\x00\x00", "F\x00T\x00\x00", "", "T\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := readEnvelope(bytes.NewReader(b))
		if err != nil {
			return
		}
		// What was read renders back to a prefix of the input.
		var w bytes.Buffer
		w.WriteString("F" + env.From + "\x00")
		for _, r := range env.Rcpts {
			w.WriteString("T" + r.Addr + "\x00")
		}
		w.WriteByte(0)
		if len(env.Rcpts) == 0 || !bytes.HasPrefix(b, w.Bytes()) {
			t.Fatalf("%q read as %+v", b, env)
		}
	})
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		r    mailflow.Reply
		want int
	}{
		{mailflow.Reply{Code: 250}, 0},
		{mailflow.Reply{Code: 554, Enhanced: "5.7.1"}, 31},
		{mailflow.Reply{Code: 451, Enhanced: "4.3.0"}, 71},
		{mailflow.Reply{Code: 300}, 81},
	} {
		if got := exitStatus(tc.r); got != tc.want {
			t.Errorf("%+v: exit %d, want %d", tc.r, got, tc.want)
		}
	}
}

// rig: the real aveserver on the shipped DB, this command built, a
// stand-in for the original qmail-queue (testkit.FakeQmailQueue) whose
// exit status is read from a file.
type rig struct {
	bin, conf, fakeDir, exitFile, tmp string
	ave                               *exec.Cmd
}

func newRig(t *testing.T) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	d, err := os.MkdirTemp("", "qq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	r := &rig{bin: filepath.Join(d, "qmail-queue"), conf: filepath.Join(d, "ave.conf"), fakeDir: filepath.Join(d, "fake"), exitFile: filepath.Join(d, "exit"), tmp: filepath.Join(d, "tmp")}
	os.Mkdir(r.fakeDir, 0o700)
	os.Mkdir(r.tmp, 0o700)
	for name, pkg := range map[string]string{r.bin: "ave/cmd/qmail-queue", filepath.Join(d, "aveserver"): "ave/cmd/aveserver"} {
		if out, err := exec.Command("go", "build", "-o", name, pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	fake := filepath.Join(d, "qmail-queue.orig")
	wrapper := filepath.Join(d, "qmail-queue.wrapper")
	os.WriteFile(fake, []byte(testkit.FakeQmailQueue), 0o755)
	os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+fake+" "+r.fakeDir+" \"$(cat "+r.exitFile+")\"\n"), 0o755)
	r.setExit(t, "0")
	sock := filepath.Join(d, "ave.sock")
	conf := fmt.Sprintf("[smtpscan.general]\nServerAddress=%s\nHostname=qq.test\n"+
		"[qmail.general]\nOriginalQueue=%s\nMaxCheckTime=20\n"+
		"[smtpscan.group:default]\nInfectedRecipientAction=reject\nCuredRecipientAction=reject\nSuspiciousRecipientAction=reject\nQuarantine=no\n", sock, wrapper)
	os.WriteFile(r.conf, []byte(conf), 0o600)
	r.ave = exec.Command(filepath.Join(d, "aveserver"), "--db", "../../etc/db", "--socket", sock)
	if err := r.ave.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ave.Process.Signal(syscall.SIGTERM); r.ave.Wait() })
	c, _ := scanclient.Dial(sock)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) setExit(t *testing.T, code string) {
	t.Helper()
	for _, f := range []string{"msg", "env", "queued"} {
		os.Remove(filepath.Join(r.fakeDir, f))
	}
	if err := os.WriteFile(r.exitFile, []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
}

// queue runs qmail-queue as qmail does: the message on fd 0, the envelope
// on fd 1; it returns the exit status and what it logged.
func (r *rig) queue(t *testing.T, message, envelope string) (int, string) {
	t.Helper()
	er, ew, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { ew.Write([]byte(envelope)); ew.Close() }()
	defer er.Close()
	return r.queueFrom(t, strings.NewReader(message), er)
}

// queueFrom runs qmail-queue with the message read from stdin and the
// envelope from the file given as its fd 1.
func (r *rig) queueFrom(t *testing.T, stdin io.Reader, envelope *os.File) (int, string) {
	t.Helper()
	cmd := exec.Command(r.bin)
	cmd.Env = append(os.Environ(), "AVE_CONFIG="+r.conf, "TMPDIR="+r.tmp)
	cmd.Stdin = stdin
	cmd.Stdout = envelope
	var logs bytes.Buffer
	cmd.Stderr = &logs
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), logs.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, logs.String()
}

const envAB = "Fsender@example.org\x00Ta@example.net\x00Tb@example.net\x00\x00"

// TestQmailQueueScansAndHandsCleanMailToTheOriginal: clean mail goes to
// the original qmail-queue with the scanned header and its envelope, and
// exit 0 follows its exit 0; EICAR exits 31 and never reaches it; its
// temporary failure, a stopped aveserver, a bad envelope and a bad
// configuration give the temporary statuses qmail retries on.
func TestQmailQueueScansAndHandsCleanMailToTheOriginal(t *testing.T) {
	r := newRig(t)
	clean := "Message-ID: <q1@example.org>\nSubject: hello\n\nline\n.dot\n"
	code, logs := r.queue(t, clean, envAB)
	if code != 0 {
		t.Fatalf("clean: exit %d\n%s", code, logs)
	}
	got, _ := os.ReadFile(filepath.Join(r.fakeDir, "msg"))
	if want := "X-Virus-Scanned: AVE qmail-queue\n" + clean; string(got) != want {
		t.Fatalf("the original got %q, want %q", got, want)
	}
	if env, _ := os.ReadFile(filepath.Join(r.fakeDir, "env")); string(env) != envAB {
		t.Fatalf("envelope %q", env)
	}
	if !strings.Contains(logs, "message_id=<q1@example.org>") || !strings.Contains(logs, "status=CLEAN") {
		t.Fatalf("no log line:\n%s", logs)
	}

	r.setExit(t, "0")
	eicar := strings.ReplaceAll(string(testkit.Mail("eicar.com", []byte(testkit.EICAR))), "\r\n", "\n")
	if code, logs := r.queue(t, eicar, envAB); code != 31 || !strings.Contains(logs, "EICAR-Test-File") {
		t.Fatalf("EICAR: exit %d\n%s", code, logs)
	}
	if _, err := os.Stat(filepath.Join(r.fakeDir, "msg")); err == nil {
		t.Fatal("EICAR mail reached the original qmail-queue")
	}

	r.setExit(t, "53")
	if code, _ := r.queue(t, clean, envAB); code != 71 {
		t.Fatalf("original exits 53: exit %d, want 71", code)
	}
	r.setExit(t, "31")
	if code, _ := r.queue(t, clean, envAB); code != 31 {
		t.Fatalf("original exits 31: exit %d, want 31", code)
	}
	r.setExit(t, "0")
	if code, _ := r.queue(t, clean, "Ta@example.net\x00\x00"); code != 91 {
		t.Fatalf("bad envelope: exit %d, want 91", code)
	}
	if code, _ := r.queue(t, clean, "Fs@example.org\x00Ta@example.net\x00"); code != 91 {
		t.Fatalf("envelope without its closing NUL: exit %d, want 91", code)
	}
	good, _ := os.ReadFile(r.conf)
	os.WriteFile(r.conf, []byte(strings.Replace(string(good), "[qmail.general]\n", "[qmail.general]\nSpoolDir=relative\n", 1)), 0o600)
	if code, logs := r.queue(t, clean, envAB); code != 55 || !strings.Contains(logs, "[qmail.general] SpoolDir=relative") {
		t.Fatalf("bad configuration: exit %d\n%s", code, logs)
	}
	// A configured SpoolDir is used and left empty; one that cannot be
	// written gives 53.
	spool := filepath.Join(r.tmp, "..", "spool")
	os.WriteFile(r.conf, []byte(strings.Replace(string(good), "[qmail.general]\n", "[qmail.general]\nSpoolDir="+spool+"\n", 1)), 0o600)
	r.setExit(t, "0")
	if code, logs := r.queue(t, clean, envAB); code != 0 {
		t.Fatalf("with SpoolDir: exit %d\n%s", code, logs)
	}
	if held, err := mailflow.Held(spool); err != nil || len(held) != 0 {
		t.Fatalf("SpoolDir holds %v, %v", held, err)
	}
	os.RemoveAll(spool)
	os.WriteFile(spool, nil, 0o600) // a file where the directory should be
	r.setExit(t, "0")
	if code, logs := r.queue(t, clean, envAB); code != 53 || !strings.Contains(logs, "spool") {
		t.Fatalf("unwritable SpoolDir: exit %d\n%s", code, logs)
	}
	os.WriteFile(r.conf, good, 0o600)
	if _, err := os.Stat(filepath.Join(r.fakeDir, "queued")); err == nil {
		t.Fatal("queued on a failure path")
	}

	// Each run's private spool directory is gone with it.
	if left, _ := os.ReadDir(r.tmp); len(left) != 0 {
		t.Fatalf("left in TMPDIR: %v", left)
	}

	r.ave.Process.Signal(syscall.SIGTERM)
	r.ave.Wait()
	if code, logs := r.queue(t, clean, envAB); code != 71 || !strings.Contains(logs, "unavailable") {
		t.Fatalf("aveserver stopped: exit %d\n%s", code, logs)
	}
}

// TestUnreadableMessageOrEnvelopeExits54: fd 0 or fd 1 that cannot be
// read (here a directory: read(2) fails with EISDIR) is qmail's "unable
// to read the message or envelope", a temporary 54; nothing reaches the
// original qmail-queue and the spool is left empty.
func TestUnreadableMessageOrEnvelopeExits54(t *testing.T) {
	r := newRig(t)
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()

	code, logs := r.queueFrom(t, dir, nil)
	if code != 54 || !strings.Contains(logs, "reading the message") {
		t.Fatalf("unreadable message: exit %d, log:\n%s", code, logs)
	}

	code, logs = r.queueFrom(t, strings.NewReader("Subject: x\n\nbody\n"), dir)
	if code != 54 || !strings.Contains(logs, "envelope") {
		t.Fatalf("unreadable envelope: exit %d, log:\n%s", code, logs)
	}
	if _, err := os.Stat(filepath.Join(r.fakeDir, "queued")); err == nil {
		t.Fatal("queued although nothing could be read")
	}
	left, _ := filepath.Glob(filepath.Join(r.tmp, "*"))
	if len(left) != 0 {
		t.Fatalf("spool left behind: %v", left)
	}
}

// TestSetuidIgnoresTheCallersEnvironment: run set-user-ID, qmail-queue
// takes neither AVE_CONFIG nor TMPDIR from whoever injects the mail.
func TestSetuidIgnoresTheCallersEnvironment(t *testing.T) {
	env := map[string]string{"AVE_CONFIG": "/home/mallory/ave.conf", "TMPDIR": "/home/mallory/tmp"}
	if c, d := trusted(func(k string) string { return env[k] }, false); c != env["AVE_CONFIG"] || d != env["TMPDIR"] {
		t.Fatalf("not setuid: %q %q", c, d)
	}
	if c, d := trusted(func(k string) string { return env[k] }, true); c != "" || d != "/tmp" {
		t.Fatalf("setuid: %q %q", c, d)
	}
}
