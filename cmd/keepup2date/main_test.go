package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ave/pkg/scanclient"
	"ave/pkg/verdict"
)

// copyDB copies the shipped DB's signature files (not its manifest) to dir.
func copyDB(t *testing.T, dir string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	ents, err := os.ReadDir("../../etc/db")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "manifest" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("../../etc/db", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
}

func runCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String() + errOut.String()
}

const marker = "AVE-UPDATE-MARKER-7f3a19"

// TestKeepup2dateUpdatesReloadsAndRollsBack: the real aveserver on a copy
// of the shipped DB. A signed new version from a mirror directory is
// installed and reloaded (its new rule detects); a signed version
// aveserver refuses (a rule that does not compile) is put aside and the
// previous one restored, on disk and in the daemon; --rollback goes back
// one more version.
func TestKeepup2dateUpdatesReloadsAndRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	d, err := os.MkdirTemp("", "k2d")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(d)
	if code, out := runCmd(t, "--genkey", filepath.Join(d, "signer")); code != 0 {
		t.Fatalf("genkey: %s", out)
	}
	bases := filepath.Join(d, "bases")
	copyDB(t, bases)
	if code, out := runCmd(t, "--sign", filepath.Join(d, "signer.key"), "--version", "v1", bases); code != 0 {
		t.Fatalf("sign v1: %s", out)
	}
	mirror := filepath.Join(d, "mirror")
	copyDB(t, mirror)
	os.WriteFile(filepath.Join(mirror, "update.yar"), []byte("rule AVE_Test_Update_Marker { strings: $a = \""+marker+"\" condition: $a }\n"), 0o644)
	if code, out := runCmd(t, "--sign", filepath.Join(d, "signer.key"), "--version", "v2", mirror); code != 0 {
		t.Fatalf("sign v2: %s", out)
	}

	bin := filepath.Join(d, "aveserver")
	if out, err := exec.Command("go", "build", "-o", bin, "ave/cmd/aveserver").CombinedOutput(); err != nil {
		t.Fatalf("building aveserver: %v\n%s", err, out)
	}
	sock := filepath.Join(d, "ave.sock")
	conf := filepath.Join(d, "ave.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[aveserver.general]\nListenAddress=%s\n[aveserver.path]\nBasesPath=%s\n"+
		"[updater.options]\nUpdateServerUrl=%s\nPublicKeyFile=%s\n", sock, bases, mirror, filepath.Join(d, "signer.pub"))), 0o600)
	ave := exec.Command(bin, "-c", conf)
	var aveLog bytes.Buffer
	ave.Stderr = &aveLog
	if err := ave.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ave.Process.Signal(syscall.SIGTERM); ave.Wait() }()
	c, _ := scanclient.Dial(sock)
	defer c.Close()
	version := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := c.WaitReady(ctx)
		if err != nil {
			t.Fatalf("%v\n%s", err, aveLog.String())
		}
		return st.GetDbVersion()
	}
	detects := func() bool {
		r, err := c.ScanBytes(context.Background(), "sample.txt", "", []byte("text "+marker+" text"))
		if err != nil {
			t.Fatal(err)
		}
		return r.Status == verdict.Infected
	}
	if v := version(); v != "v1" || detects() {
		t.Fatalf("before: version %q", v)
	}

	if code, out := runCmd(t, "-c", conf); code != 0 || !strings.Contains(out, "aveserver reloaded") {
		t.Fatalf("update: exit %d\n%s", code, out)
	}
	if v := version(); v != "v2" || !detects() {
		t.Fatalf("after the update: version %q, detects %v", v, detects())
	}
	if code, out := runCmd(t, "-c", conf); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}

	// v3 is signed but does not compile: aveserver keeps v2, and so
	// does the disk.
	os.WriteFile(filepath.Join(mirror, "broken.yar"), []byte("rule broken { condition: nosuchthing }\n"), 0o644)
	if code, out := runCmd(t, "--sign", filepath.Join(d, "signer.key"), "--version", "v3", mirror); code != 0 {
		t.Fatalf("sign v3: %s", out)
	}
	if code, out := runCmd(t, "-c", conf); code != 1 || !strings.Contains(out, "refused the new DB: rolled back") {
		t.Fatalf("refused update: exit %d\n%s", code, out)
	}
	if v := version(); v != "v2" || !detects() {
		t.Fatalf("after the refused update: version %q", v)
	}
	if b, err := os.ReadFile(filepath.Join(bases, "manifest")); err != nil || !strings.Contains(string(b), "version = v2") {
		t.Fatalf("disk not rolled back: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(bases+".bad", "broken.yar")); err != nil {
		t.Fatalf("refused DB not kept aside: %v", err)
	}

	// The refused version is not fetched again.
	if code, out := runCmd(t, "-c", conf); code != 1 || !strings.Contains(out, "refused before") {
		t.Fatalf("refused version offered again: exit %d\n%s", code, out)
	}
	// A tampered mirror is refused without touching the DB; --rollback
	// needs a previous DB (the refused update's rollback used it up).
	os.Remove(filepath.Join(mirror, "broken.yar"))
	if code, out := runCmd(t, "--sign", filepath.Join(d, "signer.key"), "--version", "v3b", mirror); code != 0 {
		t.Fatalf("sign v3b: %s", out)
	}
	os.WriteFile(filepath.Join(mirror, "update.yar"), []byte("rule tampered { condition: true }\n"), 0o644)
	if code, out := runCmd(t, "-c", conf); code != 1 || !strings.Contains(out, "the manifest says") {
		t.Fatalf("tampered mirror: exit %d\n%s", code, out)
	}
	if v := version(); v != "v2" {
		t.Fatalf("after the tampered mirror: version %q", v)
	}
	if code, out := runCmd(t, "-c", conf, "--rollback"); code != 1 || !strings.Contains(out, "no previous DB") {
		t.Fatalf("rollback without a backup: exit %d\n%s", code, out)
	}

	// v4 installs; --rollback brings v2 back, on disk and in the daemon.
	os.WriteFile(filepath.Join(mirror, "update.yar"), []byte("rule AVE_Test_Update_Marker { strings: $a = \""+marker+"\" condition: $a }\n"), 0o644)
	if code, out := runCmd(t, "--sign", filepath.Join(d, "signer.key"), "--version", "v4", mirror); code != 0 {
		t.Fatalf("sign v4: %s", out)
	}
	if code, out := runCmd(t, "-c", conf); code != 0 || version() != "v4" {
		t.Fatalf("update to v4: exit %d\n%s", code, out)
	}
	if code, out := runCmd(t, "-c", conf, "--rollback"); code != 0 || version() != "v2" {
		t.Fatalf("rollback: exit %d, version %q\n%s", code, version(), out)
	}
}

// TestKeepup2dateWithoutADaemon: with aveserver not running the new DB
// stays installed (it loads at start) and PostUpdateCmd runs; with
// ReloadServer=no no daemon is asked at all.
func TestKeepup2dateWithoutADaemon(t *testing.T) {
	d := t.TempDir()
	if code, out := runCmd(t, "--genkey", filepath.Join(d, "signer")); code != 0 {
		t.Fatalf("genkey: %s", out)
	}
	mirror := filepath.Join(d, "mirror")
	copyDB(t, mirror)
	if code, out := runCmd(t, "--sign", filepath.Join(d, "signer.key"), "--version", "v2", mirror); code != 0 {
		t.Fatalf("sign: %s", out)
	}
	for _, tc := range []struct{ reload, want string }{
		{"yes", "aveserver not reachable"},
		{"no", ""},
	} {
		bases := filepath.Join(d, "bases-"+tc.reload)
		marker := filepath.Join(d, "post-"+tc.reload)
		conf := filepath.Join(d, "ave-"+tc.reload+".conf")
		os.WriteFile(conf, []byte(fmt.Sprintf("[aveserver.general]\nListenAddress=%s\n[aveserver.path]\nBasesPath=%s\n"+
			"[updater.options]\nUpdateServerUrl=%s\nPublicKeyFile=%s\nReloadServer=%s\nPostUpdateCmd=/usr/bin/touch %s\n",
			filepath.Join(d, "none.sock"), bases, mirror, filepath.Join(d, "signer.pub"), tc.reload, marker)), 0o600)
		code, out := runCmd(t, "-c", conf)
		if code != 0 || (tc.want != "") != strings.Contains(out, "aveserver not reachable") || strings.Contains(out, "aveserver reloaded") {
			t.Fatalf("ReloadServer=%s: exit %d\n%s", tc.reload, code, out)
		}
		if b, err := os.ReadFile(filepath.Join(bases, "manifest")); err != nil || !strings.Contains(string(b), "version = v2") {
			t.Fatalf("ReloadServer=%s: DB not installed: %v", tc.reload, err)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Fatalf("ReloadServer=%s: PostUpdateCmd did not run: %v", tc.reload, err)
		}
	}
}

// TestConfigurationErrorsExitTwo: no update source, or no key while
// unsigned manifests are not allowed, is a configuration error (exit 2,
// naming file, section and key), not a failed update (exit 1); so is a
// bad value. --rollback needs neither.
func TestConfigurationErrorsExitTwo(t *testing.T) {
	d := t.TempDir()
	for _, tc := range []struct{ conf, want string }{
		{"[updater.options]\nPublicKeyFile=\nAllowUnsigned=yes\n", "[updater.options] UpdateServerUrl"},
		{"[updater.options]\nUpdateServerUrl=" + d + "\n", "[updater.options] PublicKeyFile"},
		{"[updater.options]\nUpdateServerUrl=ftp://x/\n", "[updater.options] UpdateServerUrl=ftp://x/"},
	} {
		conf := filepath.Join(d, "ave.conf")
		os.WriteFile(conf, []byte("[aveserver.path]\nBasesPath="+filepath.Join(d, "bases")+"\n"+tc.conf), 0o600)
		code, out := runCmd(t, "-c", conf)
		if code != 2 || !strings.Contains(out, conf+": "+tc.want) {
			t.Errorf("%q: exit %d, want 2 naming %s:\n%s", tc.conf, code, tc.want, out)
		}
	}
	// --rollback with nothing to go back to is a failed run, not a
	// configuration error.
	conf := filepath.Join(d, "ave.conf")
	os.WriteFile(conf, []byte("[aveserver.path]\nBasesPath="+filepath.Join(d, "bases")+"\n"), 0o600)
	if code, out := runCmd(t, "-c", conf, "--rollback"); code != 1 || !strings.Contains(out, "no previous DB") {
		t.Errorf("--rollback: exit %d:\n%s", code, out)
	}
}
