package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestInstallStagesEverythingAndKeepsWhatTheAdminOwns: scripts/install.sh
// (make install) into a DESTDIR with PREFIX=/opt/ave puts the programs,
// configuration, DB, units (rewritten to PREFIX), sysusers, tmpfiles and
// logrotate files in place; a second run keeps an edited ave.conf (the new
// one goes to ave.conf.dist) and an installed DB; the staged sysusers and
// tmpfiles files then make the user and hand the DB to it; the staged
// avectl accepts the staged configuration.
func TestInstallStagesEverythingAndKeepsWhatTheAdminOwns(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"aveserver", "avectl", "smtpscanner", "kavscanner", "keepup2date", "qmail-queue"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), "ave/cmd/"+name).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
	}
	root := t.TempDir()
	install := func() string {
		cmd := exec.Command("../../scripts/install.sh")
		cmd.Env = append(os.Environ(), "DESTDIR="+root, "PREFIX=/opt/ave", "BINDIR="+bin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	install()
	for path, mode := range map[string]os.FileMode{
		"opt/ave/bin/aveserver": 0o755, "opt/ave/bin/smtpscanner": 0o755, "opt/ave/bin/avectl": 0o755,
		"opt/ave/bin/kavscanner": 0o755, "opt/ave/bin/keepup2date": 0o755, "opt/ave/lib/ave/qmail-queue": 0o755,
		"etc/ave/ave.conf": 0o644, "var/lib/ave/bases/manifest": 0o644, "var/lib/ave/bases/ave-main.yar": 0o644,
		"opt/ave/share/ave/templates/admin.txt": 0o644, "opt/ave/share/ave/db/manifest": 0o644,
		"etc/systemd/system/aveserver.service": 0o644, "etc/systemd/system/keepup2date.timer": 0o644,
		"etc/sysusers.d/ave.conf": 0o644, "etc/tmpfiles.d/ave.conf": 0o644, "etc/logrotate.d/ave": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %o", path, fi, err, mode)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system/aveserver.service"))
	if !strings.Contains(string(unit), "\nExecStart=/opt/ave/bin/aveserver ") || strings.Contains(string(unit), "/usr/local/bin") {
		t.Errorf("aveserver.service not rewritten to PREFIX:\n%s", unit)
	}

	// The administrator edits the configuration and keepup2date updates
	// the DB; a reinstall keeps both.
	conf := filepath.Join(root, "etc/ave/ave.conf")
	os.WriteFile(conf, []byte("[aveserver.general]\nWorkers=3\n"), 0o644)
	rule := filepath.Join(root, "var/lib/ave/bases/ave-main.yar")
	os.WriteFile(rule, []byte("rule updated { condition: false }\n"), 0o644)
	out := install()
	if b, _ := os.ReadFile(conf); string(b) != "[aveserver.general]\nWorkers=3\n" || !strings.Contains(out, "kept /etc/ave/ave.conf") {
		t.Errorf("edited ave.conf not kept: %q\n%s", b, out)
	}
	if _, err := os.Stat(conf + ".dist"); err != nil {
		t.Errorf("no ave.conf.dist: %v", err)
	}
	if b, _ := os.ReadFile(rule); string(b) != "rule updated { condition: false }\n" {
		t.Errorf("installed DB replaced: %q", b)
	}

	// On the target: the user, then the directories (the DB becomes ave's).
	su, err1 := exec.LookPath("systemd-sysusers")
	st, err2 := exec.LookPath("systemd-tmpfiles")
	if err1 == nil && err2 == nil {
		os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
		os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nadm:x:4:\n"), 0o644)
		if out, err := exec.Command(su, "--root="+root, filepath.Join(root, "etc/sysusers.d/ave.conf")).CombinedOutput(); err != nil {
			t.Fatalf("systemd-sysusers: %v\n%s", err, out)
		}
		if out, err := exec.Command(st, "--create", "--root="+root, filepath.Join(root, "etc/tmpfiles.d/ave.conf")).CombinedOutput(); err != nil {
			t.Fatalf("systemd-tmpfiles: %v\n%s", err, out)
		}
		uid, _ := lookupIDs(t, root, "ave")
		fi, err := os.Stat(rule)
		if err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != uid {
			t.Errorf("the installed DB is not ave's (uid %d): %v", uid, err)
		}
	}

	os.WriteFile(conf, mustRead(t, conf+".dist"), 0o644)
	if out, err := exec.Command(filepath.Join(root, "opt/ave/bin/avectl"), "-c", conf, "check").CombinedOutput(); err != nil {
		t.Errorf("avectl check of the installed ave.conf: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
