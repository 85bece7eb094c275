package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
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
