package main_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"ave/internal/testkit"
)

// TestSIGHUPReloadsTheConfigurationWithoutDroppingTheListener: SIGHUP
// re-reads the file. A good one takes over for the next message (new
// header, new action for infected mail) with the same process and
// listener; a change that needs a restart is logged with its key; a
// broken file is refused with its file and key named and the running
// configuration stays.
func TestSIGHUPReloadsTheConfigurationWithoutDroppingTheListener(t *testing.T) {
	sock, _ := startAVEServer(t)
	mta := testkit.StartMTA(t, "tcp", false)
	report := filepath.Join(t.TempDir(), "report.log")
	r := startScanner(t, sock, "smtp:"+mta.Addr, "smtp", "MaxCheckTime=20\n[smtpscan.report]\nReportFileName="+report+"\n")
	pid := r.p.cmd.Process.Pid
	eicar := string(testkit.Mail("eicar.com", []byte(testkit.EICAR)))
	if err := send(t, r.addr, []string{"a@example.net"}, eicar); smtpCode(err) != 554 {
		t.Fatalf("before the reload: EICAR got %v, want 554", err)
	}

	// logrotate moves the report file away before its postrotate HUP.
	if err := os.Rename(report, report+".1"); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(r.conf)
	if err != nil {
		t.Fatal(err)
	}
	// A new header, infected parts removed instead of a reject, and a
	// session limit (needs a restart).
	edited := strings.Replace(string(conf), "InfectedRecipientAction=reject\nCuredRecipientAction=reject", "InfectedRecipientAction=remove\nCuredRecipientAction=cured", 1)
	edited = strings.Replace(edited, "[smtpscan.general]\n", "[smtpscan.general]\nScannedHeader=X-Virus-Scanned: AVE reloaded\n", 1)
	edited = strings.Replace(edited, "[smtpscan.limits]\n", "[smtpscan.limits]\nMaxSessions=7\n", 1)
	if err := os.WriteFile(r.conf, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload log line", func() bool { return strings.Contains(r.p.log.String(), "msg=reloaded") })
	if log := r.p.log.String(); !strings.Contains(log, "key=MaxSessions") || !strings.Contains(log, "restarted") {
		t.Fatalf("no warning naming MaxSessions:\n%s", log)
	}
	if err := send(t, r.addr, []string{"a@example.net"}, eicar); err != nil {
		t.Fatalf("after the reload: EICAR got %v, want its infected part removed and a 250", err)
	}
	if err := send(t, r.addr, []string{"a@example.net"}, cleanBody); err != nil {
		t.Fatal(err)
	}
	msgs := mta.Messages()
	if len(msgs) != 2 {
		t.Fatalf("downstream got %d messages, want 2", len(msgs))
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), "EICAR-Test-File") {
		t.Fatalf("the reload did not reopen the report file: %q, %v", b, err)
	}
	if bytes.Contains(msgs[0].Data, []byte(testkit.EICAR)) || !bytes.HasPrefix(msgs[0].Data, []byte("X-Virus-Scanned: AVE reloaded\r\n")) {
		t.Fatalf("infected mail after the reload:\n%s", msgs[0].Data)
	}
	if want := "X-Virus-Scanned: AVE reloaded\r\n" + cleanBody; string(msgs[1].Data) != want {
		t.Fatalf("clean mail after the reload:\n got %q\nwant %q", msgs[1].Data, want)
	}

	// A broken file: refused, named, and the reloaded configuration stays.
	broken := strings.Replace(edited, "InfectedRecipientAction=remove", "InfectedRecipientAction=explode", 1)
	if err := os.WriteFile(r.conf, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload failure log line", func() bool { return strings.Contains(r.p.log.String(), "reload failed") })
	log := r.p.log.String()
	fail := log[strings.Index(log, "reload failed"):]
	fail = fail[:strings.IndexByte(fail, '\n')]
	if !strings.Contains(fail, r.conf) || !strings.Contains(fail, "InfectedRecipientAction") {
		t.Fatalf("the failure does not name the file and the key: %s", fail)
	}
	if err := send(t, r.addr, []string{"a@example.net"}, cleanBody); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
	if msgs := mta.Messages(); len(msgs) != 3 || !bytes.HasPrefix(msgs[2].Data, []byte("X-Virus-Scanned: AVE reloaded\r\n")) {
		t.Fatalf("after a failed reload the running configuration did not stay (%d messages)", len(msgs))
	}
	// A file that parses but cannot be built (no such template
	// directory): refused the same way, and the daemon lives on.
	missing := edited + "[smtpscan.notify]\nTemplatePath=" + filepath.Join(t.TempDir(), "missing") + "\n"
	if err := os.WriteFile(r.conf, []byte(missing), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second reload failure", func() bool { return strings.Count(r.p.log.String(), "reload failed") == 2 })
	if err := send(t, r.addr, []string{"a@example.net"}, cleanBody); err != nil {
		t.Fatalf("after a reload that could not build: %v", err)
	}
	if r.p.cmd.ProcessState != nil {
		t.Fatal("smtpscanner exited")
	}
	if files := r.spoolFiles(t); len(files) != 0 {
		t.Fatalf("spool not emptied: %v", files)
	}
}
