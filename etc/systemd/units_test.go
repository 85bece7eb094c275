package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestUnitsVerify: every unit file passes "systemd-analyze verify" (no
// warning either) with its ExecStart pointed at the binary this tree
// builds, and the daemons whose SIGHUP reloads (aveserver: the DB,
// smtpscanner: the configuration) have ExecReload sending it.
func TestUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (scripts/install-deps.sh installs systemd)")
	}
	units, _ := filepath.Glob("*.service")
	timers, _ := filepath.Glob("*.timer")
	if len(units) < 3 || len(timers) < 1 {
		t.Fatalf("units %v, timers %v", units, timers)
	}
	bin := t.TempDir()
	dir := t.TempDir()
	for _, u := range append(units, timers...) {
		raw, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		for _, line := range strings.Split(text, "\n") {
			_, cmd, ok := strings.Cut(line, "=/usr/local/bin/")
			if !ok || !strings.HasPrefix(line, "Exec") {
				continue
			}
			name := strings.Fields(cmd)[0]
			build := exec.Command("go", "build", "-o", filepath.Join(bin, name), "ave/cmd/"+name)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("%s: ExecStart names %s, which does not build: %v\n%s", u, name, err, out)
			}
		}
		if reload := map[string]bool{"aveserver.service": true, "smtpscanner.service": true}[u]; reload != strings.Contains(text, "\nExecReload=/bin/kill -HUP $MAINPID\n") {
			t.Errorf("%s: ExecReload with SIGHUP: want %v", u, reload)
		}
		text = strings.ReplaceAll(text, "/usr/local/bin/", bin+"/")
		if err := os.WriteFile(filepath.Join(dir, u), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"verify"}
	for _, u := range append(units, timers...) {
		args = append(args, filepath.Join(dir, u))
	}
	out, err := exec.Command(sa, args...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSysusersAndTmpfilesMakeTheUserAndDirectories: ave-sysusers.conf,
// applied by systemd-sysusers to an empty root (with Debian's "adm"
// group), makes the "ave" user; ave-tmpfiles.conf then creates the
// directories the units give the daemons to write, with their modes and
// owners, and hands a DB copied in by root to ave (keepup2date renames it).
func TestSysusersAndTmpfilesMakeTheUserAndDirectories(t *testing.T) {
	su, err1 := exec.LookPath("systemd-sysusers")
	st, err2 := exec.LookPath("systemd-tmpfiles")
	if err1 != nil || err2 != nil {
		t.Skip("systemd-sysusers/systemd-tmpfiles not installed (scripts/install-deps.sh installs systemd)")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nadm:x:4:\n"), 0o644)
	sysusers, _ := filepath.Abs("ave-sysusers.conf")
	if out, err := exec.Command(su, "--root="+root, sysusers).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	uid, gid := lookupIDs(t, root, "ave")
	if uid == 0 || gid == 0 {
		t.Fatalf("ave: uid %d gid %d", uid, gid)
	}
	// A DB copied in by root before tmpfiles runs.
	os.MkdirAll(filepath.Join(root, "var/lib/ave/bases"), 0o755)
	os.WriteFile(filepath.Join(root, "var/lib/ave/bases/ave-main.yar"), []byte("rule x { condition: false }\n"), 0o644)
	conf, _ := filepath.Abs("ave-tmpfiles.conf")
	if out, err := exec.Command(st, "--create", "--root="+root, conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-tmpfiles: %v\n%s", err, out)
	}
	for dir, want := range map[string]struct {
		mode     os.FileMode
		uid, gid int
	}{
		"var/lib/ave":                    {0o750, uid, gid},
		"var/lib/ave/bases":              {0o755, uid, gid},
		"var/lib/ave/bases/ave-main.yar": {0o644, uid, gid},
		"var/spool/ave":                  {0o750, uid, gid},
		"var/spool/ave/smtpscanner":      {0o700, uid, gid},
		"var/log/ave":                    {0o750, uid, 4},
	} {
		fi, err := os.Stat(filepath.Join(root, dir))
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		sys := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != want.mode || int(sys.Uid) != want.uid || int(sys.Gid) != want.gid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", dir, fi.Mode().Perm(), sys.Uid, sys.Gid, want.mode, want.uid, want.gid)
		}
	}
	// The spool the unit makes writable is the one ave.conf names.
	raw, err := os.ReadFile("../ave.conf")
	if err != nil || !strings.Contains(string(raw), "\nSpoolDir=/var/spool/ave/smtpscanner\n") {
		t.Fatalf("etc/ave.conf's SpoolDir is not /var/spool/ave/smtpscanner: %v", err)
	}
}

// lookupIDs reads name's uid and gid from root's passwd.
func lookupIDs(t *testing.T, root, name string) (int, int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && f[0] == name {
			uid, _ := strconv.Atoi(f[2])
			gid, _ := strconv.Atoi(f[3])
			return uid, gid
		}
	}
	t.Fatalf("no %s in %s/etc/passwd:\n%s", name, root, raw)
	return 0, 0
}

// TestLogrotateConfiguration: etc/logrotate.d/ave parses and rotates the
// report files (logrotate --debug changes nothing).
func TestLogrotateConfiguration(t *testing.T) {
	lr, err := exec.LookPath("logrotate")
	if err != nil {
		for _, p := range []string{"/usr/sbin/logrotate", "/sbin/logrotate"} {
			if _, err := os.Stat(p); err == nil {
				lr = p
			}
		}
	}
	if lr == "" {
		t.Skip("logrotate not installed (scripts/install-deps.sh installs it)")
	}
	raw, err := os.ReadFile("../logrotate.d/ave")
	if err != nil || !strings.Contains(string(raw), "\n\tsu ave adm\n") {
		t.Fatalf("the file does not rotate as ave (su ave adm): %v", err)
	}
	// This host may have no "ave" user, which logrotate checks: the copy
	// checked rotates as root.
	conf := filepath.Join(t.TempDir(), "ave")
	os.WriteFile(conf, []byte(strings.Replace(string(raw), "su ave adm", "su root root", 1)), 0o644)
	state := filepath.Join(t.TempDir(), "state")
	out, err := exec.Command(lr, "--debug", "--state", state, conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/var/log/ave/*.log") || strings.Contains(strings.ToLower(string(out)), "error") {
		t.Fatalf("logrotate --debug: %v\n%s", err, out)
	}
}
