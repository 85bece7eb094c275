package main_test

// End-to-end tests: the real aveserver and avectl binaries, built by
// TestMain, talking over a real unix socket.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ave/internal/testkit"
	"ave/internal/timerslack"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ave-e2e-bin")
	if err != nil {
		panic(err)
	}
	for _, c := range []string{"aveserver", "avectl"} {
		cmd := exec.Command("go", "build", "-race", "-o", filepath.Join(dir, c), "ave/cmd/"+c)
		if c == "avectl" {
			cmd = exec.Command("go", "build", "-o", filepath.Join(dir, c), "ave/cmd/"+c)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", c, ":", err)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type daemon struct {
	cmd    *exec.Cmd
	socket string
	log    *bytes.Buffer
}

// startDaemon runs aveserver with the given DB dir and extra arguments and
// waits until it answers.
func startDaemon(t *testing.T, db string, args ...string) *daemon {
	t.Helper()
	return startDaemonOn(t, db, filepath.Join(shortTempDir(t), "aveserver.sock"), args...)
}

// shortTempDir is a temporary directory with a path short enough for a
// unix socket (t.TempDir's can pass the 108-byte limit).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ave")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startDaemonOn is startDaemon on a given socket path.
func startDaemonOn(t *testing.T, db, socket string, args ...string) *daemon {
	t.Helper()
	d := &daemon{socket: socket, log: &bytes.Buffer{}}
	d.cmd = exec.Command(filepath.Join(binDir, "aveserver"), append([]string{"--db", db, "--socket", d.socket}, args...)...)
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
		if t.Failed() {
			t.Logf("aveserver log:\n%s", d.log.String())
		}
	})
	if _, stderr, code := d.avectl(t, "status", "--wait", "30s"); code != 0 {
		t.Fatalf("aveserver did not come up: %s\nlog:\n%s", stderr, d.log.String())
	}
	return d
}

func (d *daemon) avectl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "avectl"), append([]string{"--socket", d.socket}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

type line struct {
	Path, Status, Name, Reason, Engine, Type string
	Depth                                    int
}

// scanJSON runs `avectl scan --json` and parses its lines.
func (d *daemon) scanJSON(t *testing.T, args ...string) ([]line, int) {
	t.Helper()
	out, errOut, code := d.avectl(t, append([]string{"scan", "--json"}, args...)...)
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if code == 2 {
		t.Logf("avectl stderr: %s", errOut)
	}
	return lines, code
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestShippedDatabaseDetectsEICARInEveryWrapper(t *testing.T) {
	d := startDaemon(t, "../../etc/db")
	dir := t.TempDir()
	eicar := []byte(testkit.EICAR)
	zipped := testkit.Zip(t, testkit.File{Name: "eicar.com", Data: eicar})
	deep := testkit.Mail("bundle.tar.gz", testkit.TarGz(t, testkit.File{Name: "inner.zip", Data: zipped}))
	cases := []struct {
		file     string
		data     []byte
		wantPath string
	}{
		{"plain.com", eicar, "plain.com"},
		{"in.zip", zipped, "in.zip/eicar.com"},
		{"mail.eml", testkit.Mail("eicar.com", eicar), "mail.eml/eicar.com"},
		{"deep.eml", deep, "deep.eml/bundle.tar.gz/bundle.tar/inner.zip/eicar.com"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			p := write(t, dir, tc.file, tc.data)
			lines, code := d.scanJSON(t, p)
			if code != 1 {
				t.Fatalf("exit %d, want 1; lines %+v", code, lines)
			}
			found := false
			for _, l := range lines {
				if l.Status == "INFECTED" && l.Name == "EICAR-Test-File" && l.Path == filepath.Join(dir, tc.wantPath) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no INFECTED EICAR-Test-File at %s in %+v", tc.wantPath, lines)
			}
		})
	}
}

// The daemon runs with the 1 ms timer slack on every thread
// (internal/timerslack re-executes it once: same PID), and
// AVE_TIMER_SLACK=off leaves the inherited one.
func TestDaemonThreadsRunWithTheTimerSlack(t *testing.T) {
	if _, err := os.Stat("/proc/self/timerslack_ns"); err != nil {
		t.Skip("no /proc/PID/timerslack_ns on this kernel")
	}
	d := startDaemon(t, "../../etc/db")
	got, err := timerslack.OfProcess(d.cmd.Process.Pid)
	if err != nil || len(got) < 2 {
		t.Fatalf("thread slacks %v, %v", got, err)
	}
	// Re-executed, it keeps its name for ps, top and pkill.
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", d.cmd.Process.Pid)); err != nil || strings.TrimSpace(string(comm)) != "aveserver" {
		t.Fatalf("process name %q (%v), want aveserver", comm, err)
	}
	for _, s := range got {
		if s != time.Millisecond {
			t.Fatalf("thread slacks %v, want 1ms on every thread", got)
		}
	}
	t.Setenv("AVE_TIMER_SLACK", "off")
	d = startDaemon(t, "../../etc/db")
	parent, _ := timerslack.OfProcess(os.Getpid())
	got, _ = timerslack.OfProcess(d.cmd.Process.Pid)
	for _, s := range got {
		if s != parent[0] {
			t.Fatalf("AVE_TIMER_SLACK=off: thread slacks %v, inherited %v", got, parent[0])
		}
	}
}

func TestCleanFilesAreCleanAndExitZero(t *testing.T) {
	d := startDaemon(t, "../../etc/db")
	dir := t.TempDir()
	write(t, dir, "a.txt", []byte("just text\n"))
	write(t, dir, "b.zip", testkit.Zip(t, testkit.File{Name: "x.txt", Data: []byte("fine")}))
	write(t, dir, "c.eml", testkit.Mail("report.pdf", []byte("%PDF-1.4 harmless")))
	out, errOut, code := d.avectl(t, "scan", dir)
	if code != 0 {
		t.Fatalf("exit %d; stdout %q stderr %q", code, out, errOut)
	}
	for _, f := range []string{"a.txt", "b.zip", "c.eml"} {
		if !strings.Contains(out, filepath.Join(dir, f)+": CLEAN\n") {
			t.Errorf("missing CLEAN line for %s in %q", f, out)
		}
	}
	_, _, code = d.avectl(t, "scan", filepath.Join(dir, "does-not-exist"))
	if code != 2 {
		t.Fatalf("missing file: exit %d, want 2", code)
	}
}

func TestDoubleExtensionExecutableInArchiveIsSuspicious(t *testing.T) {
	d := startDaemon(t, "../../etc/db")
	dir := t.TempDir()
	exe := append([]byte("MZ\x90\x00"), bytes.Repeat([]byte{0}, 100)...)
	p := write(t, dir, "invoice.zip", testkit.Zip(t, testkit.File{Name: "invoice.pdf.exe", Data: exe}))
	plain := write(t, dir, "invoice.pdf.exe", exe) // not inside a container: not this rule's business
	lines, code := d.scanJSON(t, p, plain)
	if code != 1 || len(lines) != 2 {
		t.Fatalf("exit %d lines %+v", code, lines)
	}
	for _, l := range lines {
		switch l.Path {
		case p + "/invoice.pdf.exe":
			if l.Status != "SUSPICIOUS" || l.Name != "AVE.Suspicious.DoubleExtension.Executable" || l.Depth != 1 || l.Type != "pe" {
				t.Errorf("member: %+v", l)
			}
		case plain:
			if l.Status != "CLEAN" {
				t.Errorf("top-level file: %+v", l)
			}
		default:
			t.Errorf("unexpected line %+v", l)
		}
	}
}

// zipBomb streams size bytes of zeros into one deflated member.
func zipBomb(t *testing.T, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	w, err := zw.Create("zeros.bin")
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(block)) {
		if _, err := w.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// nested wraps data in n zips.
func nested(t *testing.T, data []byte, n int) []byte {
	for i := 0; i < n; i++ {
		data = testkit.Zip(t, testkit.File{Name: fmt.Sprintf("level%d.zip", n-i), Data: data})
	}
	return data
}

// manyEntries makes a zip with n tiny stored entries.
func manyEntries(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < n; i++ {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: strconv.Itoa(i), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte{'x'})
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func vmHWM(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

func TestLimitsGiveUncheckedWithReasonInBoundedMemory(t *testing.T) {
	d := startDaemon(t, "../../etc/db")
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.zip")
	zipBomb(t, bomb, 1<<30)
	deep := write(t, dir, "deep.zip", nested(t, []byte(testkit.EICAR), 20))
	many := write(t, dir, "many.zip", manyEntries(t, 100000))
	cases := []struct {
		path, wantReason string
	}{
		{bomb, "limit: "},
		{deep, "MaxDepth 16"},
		{many, "MaxFiles 10000"},
	}
	for _, tc := range cases {
		lines, code := d.scanJSON(t, "--server-path", tc.path)
		if code != 1 {
			t.Fatalf("%s: exit %d lines %+v", tc.path, code, lines)
		}
		ok := false
		for _, l := range lines {
			if l.Status == "UNCHECKED" && strings.Contains(l.Reason, tc.wantReason) {
				ok = true
			}
			if l.Status == "INFECTED" || l.Status == "CLEAN" {
				t.Errorf("%s: unexpected %+v", tc.path, l)
			}
		}
		if !ok {
			t.Errorf("%s: no UNCHECKED with %q in %+v", tc.path, tc.wantReason, lines)
		}
	}
	// The daemon (built with -race, which roughly doubles memory) must stay
	// far below the 1 GiB the bomb expands to.
	if hwm := vmHWM(t, d.cmd.Process.Pid); hwm > 700<<20 {
		t.Errorf("aveserver peak RSS %d MiB after the limit tests", hwm>>20)
	}
}

func TestSIGHUPReloadsAndAvectlReloadReportsErrors(t *testing.T) {
	db := t.TempDir()
	testkit.WriteDB(t, db, nil)
	d := startDaemon(t, db)
	dir := t.TempDir()
	marker := write(t, dir, "marker.txt", []byte("RELOAD-MARKER-42"))
	if _, code := d.scanJSON(t, marker); code != 0 {
		t.Fatalf("before reload: exit %d", code)
	}
	write(t, db, "new.yar", []byte(`rule Reload_Marker { meta: name = "Test.Reload.Marker" strings: $m = "RELOAD-MARKER-42" condition: $m }`))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var lines []line
	for i := 0; i < 100; i++ {
		var code int
		if lines, code = d.scanJSON(t, marker); code == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(lines) != 1 || lines[0].Name != "Test.Reload.Marker" {
		t.Fatalf("after SIGHUP: %+v", lines)
	}
	write(t, db, "bad.ndb", []byte("Only:Two\n"))
	_, errOut, code := d.avectl(t, "reload")
	if code != 2 || !strings.Contains(errOut, "bad.ndb:1") {
		t.Fatalf("reload of a broken DB: exit %d stderr %q", code, errOut)
	}
	if lines, code := d.scanJSON(t, marker); code != 1 || lines[0].Name != "Test.Reload.Marker" {
		t.Fatalf("old DB must keep serving: %d %+v", code, lines)
	}
	out, _, code := d.avectl(t, "status")
	if code != 0 || !strings.Contains(out, "reloads:      1, 1 rejected") || !strings.Contains(out, "bad.ndb:1") {
		t.Fatalf("status: %s", out)
	}
}

func TestBadConfigurationIsRefusedNamingFileSectionAndKey(t *testing.T) {
	conf := write(t, t.TempDir(), "ave.conf", []byte("[aveserver.limits]\nMaxDepth=lots\nMaxFoo=1\n"))
	out, err := exec.Command(filepath.Join(binDir, "aveserver"), "-c", conf, "--db", "../../etc/db").CombinedOutput()
	if err == nil {
		t.Fatal("aveserver started with a bad configuration")
	}
	for _, want := range []string{conf + ": [aveserver.limits] MaxDepth=lots: expected an integer", conf + ": [aveserver.limits] MaxFoo: unknown key"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSocketModeAndOptionalLoopbackTCPListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d := startDaemon(t, "../../etc/db", "--tcp", addr)
	st, err := os.Stat(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, want socket 0660", st.Mode())
	}
	tcp := &daemon{socket: "tcp:" + addr}
	out, _, code := tcp.avectl(t, "status")
	if code != 0 || !strings.Contains(out, "ave-default-") {
		t.Fatalf("status over TCP: exit %d: %s", code, out)
	}

	// A non-loopback address is refused unless TCPAllowRemote=yes.
	out2, err := exec.Command(filepath.Join(binDir, "aveserver"), "--db", "../../etc/db",
		"--socket", filepath.Join(t.TempDir(), "s"), "--tcp", "0.0.0.0:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "not a loopback address") {
		t.Fatalf("want refusal of 0.0.0.0, got %v: %s", err, out2)
	}
}

func TestSecondDaemonOnALiveSocketIsRefused(t *testing.T) {
	d := startDaemon(t, "../../etc/db")
	out, err := exec.Command(filepath.Join(binDir, "aveserver"), "--db", "../../etc/db", "--socket", d.socket).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another aveserver is listening") {
		t.Fatalf("want refusal, got %v: %s", err, out)
	}
	if _, _, code := d.avectl(t, "status"); code != 0 {
		t.Fatal("the first daemon must keep serving")
	}
}

// TestStatusWaitGivesUpNamingItsDuration: `avectl status --wait` with no
// daemon on the socket ends after the given time with exit 2 and says why;
// started beside a daemon that is still loading, it waits for it (every
// startDaemon above goes through it).
func TestStatusWaitGivesUpNamingItsDuration(t *testing.T) {
	d := &daemon{socket: filepath.Join(t.TempDir(), "none.sock")}
	start := time.Now()
	_, stderr, code := d.avectl(t, "status", "--wait", "700ms")
	if code != 2 || !strings.Contains(stderr, "no answer within 700ms") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Fatalf("gave up after %s", took)
	}
	if _, stderr, code := d.avectl(t, "status", "--wait", "-1s"); code != 2 || !strings.Contains(stderr, "negative") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestTCPOnlyDaemonAndItsClients: ListenAddress empty and a TCP listener
// gives a daemon without a unix socket, which avectl reaches through the
// same configuration file (AVEServer.ClientAddress); both empty is refused.
func TestTCPOnlyDaemonAndItsClients(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	conf := write(t, dir, "ave.conf", []byte("[aveserver.general]\nListenAddress=\nTCPListenAddress="+addr+"\n"))
	cmd := exec.Command(filepath.Join(binDir, "aveserver"), "-c", conf, "--db", "../../etc/db")
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	c := exec.Command(filepath.Join(binDir, "avectl"), "-c", conf, "status", "--wait", "30s")
	if out, err := c.CombinedOutput(); err != nil || !strings.Contains(string(out), "ave-default-") {
		t.Fatalf("avectl -c over TCP: %v: %s\naveserver log:\n%s", err, out, log.String())
	}

	none := write(t, dir, "none.conf", []byte("[aveserver.general]\nListenAddress=\n"))
	out, err := exec.Command(filepath.Join(binDir, "aveserver"), "-c", none, "--db", "../../etc/db").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no listener") {
		t.Fatalf("want a refusal without listeners, got %v: %s", err, out)
	}
}

// TestSocketPathThatIsNotASocketIsLeftAlone: a stale socket of a dead
// daemon is replaced, but a regular file at the socket path (a typo in
// ListenAddress or --socket) is refused and kept.
func TestSocketPathThatIsNotASocketIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "important.txt", []byte("keep me"))
	out, err := exec.Command(filepath.Join(binDir, "aveserver"), "--db", "../../etc/db", "--socket", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a socket") {
		t.Fatalf("want a refusal, got %v: %s", err, out)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Fatalf("the file was touched: %q, %v", b, err)
	}

	// A socket nobody listens on any more (its daemon was killed).
	sock := filepath.Join(shortTempDir(t), "stale.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatal(err)
	}
	d := startDaemonOn(t, "../../etc/db", sock)
	if _, _, code := d.avectl(t, "status"); code != 0 {
		t.Fatal("the daemon did not replace the stale socket")
	}
}
