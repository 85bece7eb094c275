package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
			cmd, ok := strings.CutPrefix(line, "ExecStart=/usr/local/bin/")
			if !ok {
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

// TestTmpfilesCreatesTheDirectories: ave-tmpfiles.conf, applied by
// systemd-tmpfiles to an empty root that knows the "ave" user, creates
// the directories the units give the daemons to write, with their modes.
func TestTmpfilesCreatesTheDirectories(t *testing.T) {
	st, err := exec.LookPath("systemd-tmpfiles")
	if err != nil {
		t.Skip("systemd-tmpfiles not installed (scripts/install-deps.sh installs systemd)")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	uid, gid := strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid())
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("ave:x:"+uid+":"+gid+"::/nonexistent:/usr/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("ave:x:"+gid+":\n"), 0o644)
	conf, _ := filepath.Abs("ave-tmpfiles.conf")
	if out, err := exec.Command(st, "--create", "--root="+root, conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-tmpfiles: %v\n%s", err, out)
	}
	for dir, mode := range map[string]os.FileMode{"var/lib/ave": 0o750, "var/spool/ave": 0o750, "var/spool/ave/smtpscanner": 0o700} {
		fi, err := os.Stat(filepath.Join(root, dir))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want a directory with mode %o", dir, fi, err, mode)
		}
	}
	// The spool the unit makes writable is the one ave.conf names.
	raw, err := os.ReadFile("../ave.conf")
	if err != nil || !strings.Contains(string(raw), "\nSpoolDir=/var/spool/ave/smtpscanner\n") {
		t.Fatalf("etc/ave.conf's SpoolDir is not /var/spool/ave/smtpscanner: %v", err)
	}
}
