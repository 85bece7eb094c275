package timerslack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a daemon: Apply, start a few
// threads' worth of work, then print every thread's slack.
const helperEnv = "TIMERSLACK_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		if os.Getenv(helperEnv+"_RM") == "1" {
			// The binary was replaced or removed since the start.
			os.Remove(os.Args[0])
		}
		if err := Apply(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		done := make(chan bool)
		for i := 0; i < 4; i++ { // make the runtime start more threads
			go func() {
				time.Sleep(10 * time.Millisecond)
				done <- true
			}()
		}
		for i := 0; i < 4; i++ {
			<-done
		}
		slacks, err := OfProcess(os.Getpid())
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for _, d := range slacks {
			fmt.Println(int64(d))
		}
		comm, err := os.ReadFile("/proc/self/comm")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("comm=" + strings.TrimSpace(string(comm)))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// slacks runs the helper with AVE_TIMER_SLACK=v and returns the slack of
// each of its threads.
func slacks(t *testing.T, v string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", Env+"="+v)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper with %s=%q: %v\n%s", Env, v, err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) < 3 {
		t.Fatalf("helper printed %q: want one line per thread and its name", out)
	}
	// The re-executed process keeps its name (the kernel's comm, what ps
	// and pkill show: at most 15 bytes of the file name), not "exe".
	want := filepath.Base(os.Args[0])
	if len(want) > 15 {
		want = want[:15]
	}
	if got := lines[len(lines)-1]; got != "comm="+want {
		t.Fatalf("helper with %s=%q: process named %q, want %q", Env, v, strings.TrimPrefix(got, "comm="), want)
	}
	return lines[:len(lines)-1]
}

func TestEveryThreadGetsTheSlack(t *testing.T) {
	if _, err := os.Stat("/proc/self/timerslack_ns"); err != nil {
		t.Skip("no /proc/PID/timerslack_ns on this kernel")
	}
	for v, want := range map[string]string{"": "1000000", "200us": "200000"} {
		for _, s := range slacks(t, v) {
			if s != want {
				t.Fatalf("%s=%q: thread slacks %v, want all %s (sysmon included)", Env, v, slacks(t, v), want)
			}
		}
	}
	// off: the threads keep what the parent gave them.
	parent, err := os.ReadFile("/proc/self/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slacks(t, "off") {
		if s != strings.TrimSpace(string(parent)) {
			t.Fatalf("off: a thread has %s, the parent %s", s, parent)
		}
	}
}

func TestWanted(t *testing.T) {
	for v, want := range map[string]time.Duration{"": time.Millisecond, "off": 0, "0": 0, "200us": 200 * time.Microsecond, "1s": time.Second} {
		if got, err := wanted(v); err != nil || got != want {
			t.Errorf("wanted(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"1000", "-1ms", "2s", "soon"} {
		if _, err := wanted(v); err == nil || !strings.Contains(err.Error(), Env) {
			t.Errorf("wanted(%q): error %v, want one naming %s", v, err, Env)
		}
	}
}

// TestReexecWhenTheBinaryIsGone: when the program's file was removed
// since it started (an upgrade in progress), Apply re-executes through
// /proc/self/exe: every thread still gets the slack (the process is then
// named "exe").
func TestReexecWhenTheBinaryIsGone(t *testing.T) {
	if _, err := os.Stat("/proc/self/timerslack_ns"); err != nil {
		t.Skip("no /proc/PID/timerslack_ns on this kernel")
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "helper.test")
	if err := os.WriteFile(copyPath, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyPath, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperEnv+"_RM=1", Env+"=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if _, err := os.Stat(copyPath); !os.IsNotExist(err) {
		t.Fatalf("the helper's binary is still there (%v)", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) < 3 || lines[len(lines)-1] != "comm=exe" {
		t.Fatalf("helper printed %q: want thread slacks, then comm=exe (re-executed through /proc/self/exe)", out)
	}
	for _, s := range lines[:len(lines)-1] {
		if s != "1000000" {
			t.Fatalf("thread slacks %v, want all 1ms", lines[:len(lines)-1])
		}
	}
}
