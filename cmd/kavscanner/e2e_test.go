package main_test

// End-to-end tests: the real aveserver, kavscanner and avectl binaries,
// built by TestMain, over a real unix socket, on the shipped DB.

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"ave/internal/testkit"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kav-e2e-bin")
	if err != nil {
		panic(err)
	}
	for _, c := range []string{"aveserver", "kavscanner", "avectl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c), "ave/cmd/"+c)
		if c != "aveserver" {
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

const shippedDB = "../../etc/db"

// startDaemon runs aveserver on the shipped DB and waits until it answers.
func startDaemon(t *testing.T) string {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "kav")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s.sock")
	var log bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "aveserver"), "--db", shippedDB, "--socket", sock)
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("aveserver log:\n%s", log.String())
		}
	})
	if _, stderr, code := runBin(t, "avectl", "--socket", sock, "status", "--wait", "30s"); code != 0 {
		t.Fatalf("aveserver did not come up: %s\n%s", stderr, log.String())
	}
	return sock
}

func runBin(t *testing.T, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), "AVE_SOCKET=")
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

// env is one test's private configuration: a config file with stores and
// cache in a temp dir.
type env struct {
	sock, dir, conf, backup, quar, key, cache string
}

func newEnv(t *testing.T, sock string, extra string) *env {
	t.Helper()
	d := t.TempDir()
	e := &env{sock: sock, dir: d, conf: filepath.Join(d, "ave.conf"), backup: filepath.Join(d, "backup"),
		quar: filepath.Join(d, "quarantine"), key: filepath.Join(d, "store.key"), cache: filepath.Join(d, "scan.cache")}
	conf := fmt.Sprintf("[scanner.path]\nQuarantinePath=%s\nKeyFile=%s\nCachePath=%s\n%s\n", e.quar, e.key, e.cache, extra)
	if err := os.WriteFile(e.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) kav(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runBin(t, "kavscanner", append([]string{"-c", e.conf, "--socket", e.sock}, args...)...)
}

func (e *env) avectl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runBin(t, "avectl", append([]string{"-c", e.conf, "quarantine", "--key", e.key}, args...)...)
}

type line struct {
	Path, Status, Name, Reason, Engine, Type string
	Depth                                    int
}

func parseJSON(t *testing.T, out string) []line {
	t.Helper()
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func write(t *testing.T, p string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

var eicar = []byte(testkit.EICAR)

// buildTree makes a tree with one file of every status, hostile names,
// special files and symlinks; it returns the tree and a directory outside
// it that holds EICAR (reachable only through an escaping symlink).
func buildTree(t *testing.T) (string, string) {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tree, outside := filepath.Join(root, "tree"), filepath.Join(root, "outside")
	write(t, filepath.Join(outside, "secret-eicar.com"), eicar, 0o644)
	write(t, filepath.Join(tree, "clean.txt"), []byte("just text\n"), 0o644)
	write(t, filepath.Join(tree, "eicar.com"), eicar, 0o644)
	write(t, filepath.Join(tree, "sub", "in.zip"), testkit.Zip(t, testkit.File{Name: "eicar.com", Data: eicar}, testkit.File{Name: "ok.txt", Data: []byte("ok")}), 0o644)
	write(t, filepath.Join(tree, "sub", "susp.zip"), testkit.Zip(t, testkit.File{Name: "x.pdf.exe", Data: testkit.FakePE}), 0o644)
	write(t, filepath.Join(tree, "enc.zip"), testkit.EncryptedZip(t, "secret.doc", []byte("hidden")), 0o644)
	full := testkit.Zip(t, testkit.File{Name: "a.txt", Data: bytes.Repeat([]byte("a"), 5000)})
	write(t, filepath.Join(tree, "trunc.zip"), full[:len(full)/2], 0o644)
	write(t, filepath.Join(tree, "clean.zip"), testkit.Zip(t, testkit.File{Name: "readme.txt", Data: []byte("hello")}), 0o644)
	write(t, filepath.Join(tree, "a; rm -rf ~"), eicar, 0o644)
	write(t, filepath.Join(tree, "new\nline.com"), eicar, 0o644)
	write(t, filepath.Join(tree, "bad-\xff\xfe.com"), eicar, 0o644)
	if err := syscall.Mkfifo(filepath.Join(tree, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(tree, filepath.Join(tree, "sub", "loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(tree, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret-eicar.com"), filepath.Join(tree, "escape-file")); err != nil {
		t.Fatal(err)
	}
	return tree, outside
}

func TestScanTreeGivesEveryStatusAndExitCodeOne(t *testing.T) {
	sock := startDaemon(t)
	tree, _ := buildTree(t)
	e := newEnv(t, sock, "")
	report := filepath.Join(e.dir, "report.log")
	out, errOut, code := e.kav(t, "--json", "-o", report, "--no-cache", tree)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	got := map[string]string{}
	for _, l := range parseJSON(t, out) {
		rel := strings.TrimPrefix(l.Path, tree+"/")
		if old, ok := got[rel]; !ok || old < l.Status {
			got[rel] = l.Status
		}
		if strings.Contains(l.Path, "/outside/") || strings.Contains(l.Path, "secret-eicar") {
			t.Errorf("followed a symlink out of the tree: %+v", l)
		}
	}
	want := map[string]string{
		"eicar.com":              "INFECTED",
		"sub/in.zip/eicar.com":   "INFECTED",
		"sub/susp.zip/x.pdf.exe": "SUSPICIOUS",
		"enc.zip/secret.doc":     "PROTECTED",
		"a; rm -rf ~":            "INFECTED",
		"new\nline.com":          "INFECTED",
		"bad-\xff\xfe.com":       "INFECTED",
	}
	for p, st := range want {
		gotSt := got[p]
		if p == "bad-\xff\xfe.com" {
			// JSON carries UTF-8: the invalid bytes read as U+FFFD.
			gotSt = got["bad-\uFFFD\uFFFD.com"]
		}
		if gotSt != st {
			t.Errorf("%q: status %q, want %q (all: %q)", p, gotSt, st, got)
		}
	}
	var corrupted bool
	for p, st := range got {
		if strings.HasPrefix(p, "trunc.zip") && st == "CORRUPTED" {
			corrupted = true
		}
		if strings.HasPrefix(p, "clean") {
			t.Errorf("clean file reported: %s %s", p, st)
		}
	}
	if !corrupted {
		t.Errorf("truncated zip not CORRUPTED: %q", got)
	}
	if strings.Contains(errOut, "ERROR") {
		t.Errorf("errors on stderr:\n%s", errOut)
	}
	rep, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"kavscanner started", tree + "/eicar.com: INFECTED EICAR-Test-File", `new\nline.com: INFECTED`,
		"x.pdf.exe: SUSPICIOUS AVE.Suspicious.DoubleExtension.Executable", "infected 5", "suspicious 1", "protected 1"} {
		if !strings.Contains(string(rep), w) {
			t.Errorf("report lacks %q:\n%s", w, rep)
		}
	}
	if strings.Contains(string(rep), "clean.txt") {
		t.Errorf("report at level found lists clean files:\n%s", rep)
	}
	// The special file, the loop and the escapes are skipped and said so.
	out, _, _ = e.kav(t, "-v", "--no-cache", tree)
	for _, w := range []string{"fifo: SKIPPED (special file)", "sub/loop: SKIPPED (symlink)", "escape: SKIPPED (symlink)", "clean.txt: CLEAN"} {
		if !strings.Contains(out, w) {
			t.Errorf("verbose output lacks %q:\n%s", w, out)
		}
	}
}

// TestSymlinksNamedOnTheCommandLineAreResolvedOnce: a symlink given as a
// target, to a file or to a directory, is scanned as what it points to
// (reported under the real path), while links met inside a walk are not.
func TestSymlinksNamedOnTheCommandLineAreResolvedOnce(t *testing.T) {
	sock := startDaemon(t)
	tree, outside := buildTree(t)
	e := newEnv(t, sock, "")
	real := filepath.Join(outside, "secret-eicar.com")
	for _, target := range []string{filepath.Join(tree, "escape-file"), filepath.Join(tree, "escape")} {
		out, errOut, code := e.kav(t, "--json", "--no-cache", target)
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s%s", target, code, out, errOut)
		}
		lines := parseJSON(t, out)
		if len(lines) != 1 || lines[0].Path != real || lines[0].Status != "INFECTED" {
			t.Fatalf("%s: got %+v, want %s INFECTED", target, lines, real)
		}
	}
}

func TestQuietCronRunPrintsNothingAndSecondRunHitsTheCache(t *testing.T) {
	sock := startDaemon(t)
	tree := t.TempDir()
	for i := 0; i < 40; i++ {
		write(t, filepath.Join(tree, fmt.Sprintf("d%d", i%4), fmt.Sprintf("f%d.txt", i)), []byte(fmt.Sprintf("file %d\n", i)), 0o644)
	}
	write(t, filepath.Join(tree, "c.zip"), testkit.Zip(t, testkit.File{Name: "r.txt", Data: []byte("r")}), 0o644)
	e := newEnv(t, sock, "")
	out, errOut, code := e.kav(t, "-q", tree)
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("quiet run on a clean tree: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = e.kav(t, tree)
	if code != 0 || !strings.Contains(out, "files 41 (scanned 0, unchanged since the last scan 41)") {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errOut)
	}
	// A changed file is scanned again; a new infected file is found.
	write(t, filepath.Join(tree, "d0", "f0.txt"), []byte("changed\n"), 0o644)
	write(t, filepath.Join(tree, "new.com"), eicar, 0o644)
	out, _, code = e.kav(t, tree)
	if code != 1 || !strings.Contains(out, "files 42 (scanned 2, unchanged since the last scan 40)") {
		t.Fatalf("third run: exit %d\n%s", code, out)
	}
	// Another DB version invalidates the cache.
	data, err := os.ReadFile(e.cache)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("AVE-KAVSCANNER-CACHE")) {
		t.Fatalf("cache file format: %q", data[:min(len(data), 40)])
	}
	st, _ := os.Stat(e.cache)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("cache mode %v", st.Mode().Perm())
	}
}

func TestActionsAreReversibleThroughBackupAndQuarantine(t *testing.T) {
	sock := startDaemon(t)
	tree := t.TempDir()
	e := newEnv(t, sock, "BackupPath="+filepath.Join(t.TempDir(), "backup"))
	victim := write(t, filepath.Join(tree, "victim.com"), eicar, 0o640)

	// remove, with a backup; restore through avectl.
	out, errOut, code := e.kav(t, "--on-infected", "remove", tree)
	if code != 1 || !strings.Contains(out, "removed (backup ") {
		t.Fatalf("remove: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(victim); !os.IsNotExist(err) {
		t.Fatalf("not removed: %v", err)
	}
	restoreOnly(t, e, "--backup", victim, 0o640)

	// quarantine; restore.
	out, errOut, code = e.kav(t, "--on-infected", "quarantine", tree)
	if code != 1 || !strings.Contains(out, "quarantined as ") {
		t.Fatalf("quarantine: exit %d\n%s%s", code, out, errOut)
	}
	if enc, err := os.ReadDir(e.quar); err != nil || len(enc) != 2 {
		t.Fatalf("quarantine store: %v %v", enc, err)
	}
	restoreOnly(t, e, "", victim, 0o640)

	// movePath keeps the full path below the directory.
	moveDir := filepath.Join(t.TempDir(), "infected")
	out, errOut, code = e.kav(t, "--on-infected", "movePath "+moveDir, tree)
	moved := filepath.Join(moveDir, victim)
	if code != 1 || !strings.Contains(out, "moved to "+moved) {
		t.Fatalf("movePath: exit %d\n%s%s", code, out, errOut)
	}
	if got, err := os.ReadFile(moved); err != nil || !bytes.Equal(got, eicar) {
		t.Fatalf("moved file: %v", err)
	}
	// The backup store now holds the removed and the moved copy.
	list, _, code := e.avectl(t, "--backup", "list")
	if code != 0 || strings.Count(list, "INFECTED") != 2 {
		t.Fatalf("backup list: exit %d\n%s", code, list)
	}
}

// restoreOnly restores the single (newest) entry of a store and checks
// the file.
func restoreOnly(t *testing.T, e *env, store, victim string, mode os.FileMode) {
	t.Helper()
	args := []string{"list", "--json"}
	if store != "" {
		args = append([]string{store}, args...)
	}
	out, errOut, code := e.avectl(t, args...)
	if code != 0 {
		t.Fatalf("avectl quarantine list: %d %s", code, errOut)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ent struct {
			ID, Path string
			Names    []string
		}
		if err := json.Unmarshal([]byte(l), &ent); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if ent.Path != victim || len(ent.Names) == 0 {
			t.Fatalf("entry %+v", ent)
		}
		ids = append(ids, ent.ID)
	}
	sort.Strings(ids)
	id := ids[len(ids)-1]
	show, _, code := e.avectl(t, append(argsFor(store), "show", id)...)
	if code != 0 || show != string(eicar) {
		t.Fatalf("show: %d %q", code, show)
	}
	if out, errOut, code := e.avectl(t, append(argsFor(store), "restore", id)...); code != 0 {
		t.Fatalf("restore: %d %s %s", code, out, errOut)
	}
	st, err := os.Stat(victim)
	if err != nil || st.Mode().Perm() != mode {
		t.Fatalf("restored file: %v %v", st, err)
	}
}

func argsFor(store string) []string {
	if store == "" {
		return nil
	}
	return []string{store}
}

func zipNames(t *testing.T, p string) []string {
	t.Helper()
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var n []string
	for _, f := range zr.File {
		n = append(n, f.Name)
	}
	return n
}

func tarNames(t *testing.T, p string, gz bool) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	tr := tar.NewReader(r)
	var n []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n = append(n, h.Name)
	}
}

func TestCureRebuildsZipAndTarAndFallsBackForPlainFiles(t *testing.T) {
	sock := startDaemon(t)
	tree := t.TempDir()
	e := newEnv(t, sock, "BackupPath="+e2eBackup(t))
	good := testkit.File{Name: "docs/good.txt", Data: []byte("keep me")}
	bad := testkit.File{Name: "docs/eicar.com", Data: eicar}
	z := write(t, filepath.Join(tree, "a.zip"), testkit.Zip(t, good, bad), 0o640)
	tg := write(t, filepath.Join(tree, "b.tar.gz"), testkit.TarGz(t, good, bad), 0o600)
	tp := write(t, filepath.Join(tree, "c.tar"), testkit.Tar(t, bad, good), 0o644)
	plain := write(t, filepath.Join(tree, "plain.com"), eicar, 0o644)
	out, errOut, code := e.kav(t, "--on-infected", "cure; quarantine", "--no-cache", tree)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{"a.zip: cured: removed docs/eicar.com", "b.tar.gz: cured: removed docs/eicar.com",
		"c.tar: cured: removed docs/eicar.com", "plain.com: cannot cure", "plain.com: quarantined as "} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s\n%s", w, out, errOut)
		}
	}
	if n := zipNames(t, z); len(n) != 1 || n[0] != "docs/good.txt" {
		t.Errorf("cured zip holds %q", n)
	}
	if n := tarNames(t, tg, true); len(n) != 1 || n[0] != "docs/good.txt" {
		t.Errorf("cured tar.gz holds %q", n)
	}
	if n := tarNames(t, tp, false); len(n) != 1 || n[0] != "docs/good.txt" {
		t.Errorf("cured tar holds %q", n)
	}
	for p, mode := range map[string]os.FileMode{z: 0o640, tg: 0o600, tp: 0o644} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", p, st.Mode().Perm(), mode, err)
		}
	}
	if _, err := os.Stat(plain); !os.IsNotExist(err) {
		t.Errorf("plain infected file still there: %v", err)
	}
	// The cured tree is clean now.
	if out, errOut, code := e.kav(t, "--no-cache", tree); code != 0 {
		t.Errorf("rescan after cure: exit %d\n%s%s", code, out, errOut)
	}
	// The originals are in the backup store and restore over the cure.
	list, _, _ := e.avectl(t, "--backup", "list", "--json")
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		var ent struct{ ID, Path string }
		json.Unmarshal([]byte(l), &ent)
		if ent.Path == z {
			if _, errOut, code := e.avectl(t, "--backup", "restore", "--force", ent.ID); code != 0 {
				t.Fatalf("restore: %s", errOut)
			}
		}
	}
	if n := zipNames(t, z); len(n) != 2 {
		t.Errorf("restored zip holds %q", n)
	}
}

func e2eBackup(t *testing.T) string { return filepath.Join(t.TempDir(), "backup") }

func TestExecPassesHostileNamesAsOneArgumentWithoutAShell(t *testing.T) {
	sock := startDaemon(t)
	tree := t.TempDir()
	canary := filepath.Join(t.TempDir(), "PWNED")
	name := "a; touch " + canary + " #.com"
	write(t, filepath.Join(tree, name), eicar, 0o644)
	write(t, filepath.Join(tree, "x$(touch "+canary+").com"), eicar, 0o644)
	logf := filepath.Join(t.TempDir(), "exec.log")
	e := newEnv(t, sock, fmt.Sprintf("[scanner.object]\nOnInfected=exec /bin/sh -c 'printf \"%%s|%%s|%%s\\n\" \"$1\" \"$2\" \"$(cat \"$3\")\" >> %s' sh %%FULLPATH%%/%%FILENAME%% %%VIRUSNAME%% %%LIST%%\n", logf))
	out, errOut, code := e.kav(t, "--no-cache", tree)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(canary); err == nil {
		t.Fatal("a file name was run by a shell")
	}
	log, err := os.ReadFile(logf)
	if err != nil {
		t.Fatalf("exec did not run: %v\n%s%s", err, out, errOut)
	}
	want := filepath.Join(tree, name) + "|EICAR-Test-File|" + filepath.Join(tree, name) + ": INFECTED"
	if !strings.Contains(string(log), want) {
		t.Errorf("exec log lacks %q:\n%s", want, log)
	}
}

func TestErrorsVanishingFilesAndListTargets(t *testing.T) {
	sock := startDaemon(t)
	tree := t.TempDir()
	e := newEnv(t, sock, "")
	// A missing target is an error: exit 2.
	_, errOut, code := e.kav(t, filepath.Join(tree, "missing"))
	if code != 2 || !strings.Contains(errOut, "ERROR") {
		t.Fatalf("missing target: exit %d %s", code, errOut)
	}
	// A list on standard input, with a non-recursive directory.
	write(t, filepath.Join(tree, "top.com"), eicar, 0o644)
	write(t, filepath.Join(tree, "deep", "deep.com"), eicar, 0o644)
	cmd := exec.Command(filepath.Join(binDir, "kavscanner"), "-c", e.conf, "--socket", sock, "-r", "--json", "-@", "-")
	cmd.Stdin = strings.NewReader(tree + "\n")
	outB, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("list run: %v", err)
	}
	if !strings.Contains(string(outB), "top.com") || strings.Contains(string(outB), "deep.com") {
		t.Errorf("non-recursive list run:\n%s", outB)
	}
	// Exclusions.
	out, _, code := e.kav(t, "--exclude-dir", "deep", "--exclude-mask", "*.com", "-v", tree)
	if code != 0 || !strings.Contains(out, "top.com: SKIPPED (excluded)") || !strings.Contains(out, "deep: SKIPPED (excluded)") {
		t.Errorf("exclusions: exit %d\n%s", code, out)
	}
	// Files deleted while the scan runs are not errors.
	many := filepath.Join(tree, "many")
	for i := 0; i < 1500; i++ {
		write(t, filepath.Join(many, fmt.Sprintf("f%04d", i)), []byte(fmt.Sprintf("data %d", i)), 0o644)
	}
	kav := exec.Command(filepath.Join(binDir, "kavscanner"), "-c", e.conf, "--socket", sock, "--no-cache", "-q", many)
	var kout bytes.Buffer
	kav.Stdout, kav.Stderr = &kout, &kout
	if err := kav.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 1499; i >= 0; i-- {
		os.Remove(filepath.Join(many, fmt.Sprintf("f%04d", i)))
	}
	if err := kav.Wait(); err != nil {
		t.Fatalf("scan with vanishing files: %v\n%s", err, kout.String())
	}
}

func TestLocalStartsAPrivateAveserver(t *testing.T) {
	tree := t.TempDir()
	write(t, filepath.Join(tree, "e.com"), eicar, 0o644)
	e := newEnv(t, filepath.Join(t.TempDir(), "nobody-listens.sock"), "")
	out, errOut, code := e.kav(t, "--local", "--db", shippedDB, "--no-cache", tree)
	if code != 1 || !strings.Contains(out, "e.com: INFECTED EICAR-Test-File") {
		t.Fatalf("--local: exit %d\n%s%s", code, out, errOut)
	}
	// Without --local, no daemon is an error.
	if _, _, code := e.kav(t, tree); code != 2 {
		t.Fatalf("no daemon: exit %d, want 2", code)
	}
}

// TestProgressBarOnlyOnATerminal: with its output on a terminal (a pty made
// by script(1) from util-linux), kavscanner shows a progress bar with the
// rate and the time elapsed and left; with its output on a pipe, and with
// --no-progress, it shows none.
func TestProgressBarOnlyOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) not installed")
	}
	sock := startDaemon(t)
	e := newEnv(t, sock, "")
	tree := t.TempDir()
	for i := range 20 {
		write(t, filepath.Join(tree, fmt.Sprintf("f%02d.txt", i)), bytes.Repeat([]byte("clean text line\n"), 16<<10), 0o644)
	}
	args := []string{filepath.Join(binDir, "kavscanner"), "-c", e.conf, "--socket", sock, "--no-cache", tree}
	onTTY := func(extra ...string) string {
		t.Helper()
		cmdline := strings.Join(append(append([]string{}, args...), extra...), "' '")
		cmd := exec.Command("script", "-q", "-e", "-c", "'"+cmdline+"'", "/dev/null")
		cmd.Env = append(os.Environ(), "AVE_SOCKET=", "TERM=xterm")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kavscanner on a terminal: %v\n%q", err, out)
		}
		return string(out)
	}
	out := onTTY()
	bar := regexp.MustCompile(`scanning +\d+% \|[^|]*\| \([0-9.]+ [kMGT]?B/s\) \[\d+[a-z0-9]*:\d+[a-z0-9]*\]`)
	if !bar.MatchString(out) {
		t.Fatalf("no progress bar with rate and times on a terminal:\n%q", out)
	}
	if !strings.Contains(out, "statuses: clean 20") {
		t.Fatalf("no summary on a terminal:\n%q", out)
	}
	if out := onTTY("--no-progress"); strings.Contains(out, "scanning") {
		t.Fatalf("--no-progress on a terminal shows a bar:\n%q", out)
	}
	stdout, stderr, code := e.kav(t, "--no-cache", tree)
	if code != 0 || strings.Contains(stdout+stderr, "scanning") || strings.Contains(stdout+stderr, "\r") {
		t.Fatalf("on a pipe: exit %d, a bar or carriage returns:\n%q\n%q", code, stdout, stderr)
	}
}
