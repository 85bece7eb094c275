package main_test

// Getting a Debian Exim beside an installed Postfix. The exim4 daemon
// packages conflict with postfix (both are the mail-transport-agent), so
// the Exim test does not install them: it fetches the .debs with
// `apt-get download` into a cache directory under os.TempDir() (reruns
// are quick and need no network), unpacks them with `dpkg -x` into the
// test's own directory and runs that binary with a private configuration
// (-C). Nothing on the machine changes.
//
// Two things a real installation provides are supplied privately:
//
//   - the Debian-exim user: Debian compiles it in (EXIM_USER) and Exim
//     looks it up before reading any configuration, so the user must be
//     known to getpwnam. nss_wrapper (libnss-wrapper, the NSS test
//     shim) answers from a private passwd/group file through LD_PRELOAD;
//   - libidn12, which exim4 links and a Postfix machine may lack: it is
//     unpacked too and found through LD_LIBRARY_PATH.
//
// Both variables reach Exim's re-executions of itself (deliveries after
// reception, the queue runner) through keep_environment, and stay
// effective because the test's configuration says exim_user = root: with
// the default, a reception process running as Debian-exim re-executes
// the setuid binary, the loader runs it in secure-execution mode and
// drops LD_PRELOAD, and the delivery fails to find Debian-exim.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// eximPackages are fetched and unpacked; the libraries are harmless when
// the system has them already.
var eximPackages = []string{"exim4-daemon-light", "exim4-base", "exim4-config", "libidn12", "libnss-wrapper"}

// eximUID is the uid the private passwd gives Debian-exim: an unused
// number, so nothing of the machine's users is touched.
const eximUID = "64911"

// eximDist is an unpacked Exim with what it needs to run.
type eximDist struct {
	bin string   // usr/sbin/exim4
	env []string // LD_PRELOAD, LD_LIBRARY_PATH, NSS_WRAPPER_*
}

// eximDebCache is where the downloaded .debs are kept between runs.
func eximDebCache() string {
	return filepath.Join(os.TempDir(), "ave-exim-debs")
}

// fetchEximDebs returns the cached .deb of every package, downloading the
// missing ones; it skips the test when apt-get cannot download.
func fetchEximDebs(t *testing.T) []string {
	t.Helper()
	dir := eximDebCache()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	find := func(pkg string) string {
		m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
		if len(m) == 0 {
			return ""
		}
		return m[len(m)-1]
	}
	var missing []string
	for _, p := range eximPackages {
		if find(p) == "" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		if _, err := exec.LookPath("apt-get"); err != nil {
			t.Skip("no apt-get to download Exim")
		}
		// apt-get download writes into the current directory: a private
		// one, so that a concurrent run never sees a partial file.
		tmp, err := os.MkdirTemp(dir, "dl")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command("apt-get", append([]string{"download", "-q"}, missing...)...)
		cmd.Dir = tmp
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Skipf("apt-get download %s failed (no Debian mirror?): %v\n%s", strings.Join(missing, " "), err, out)
		}
		debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
		for _, f := range debs {
			if err := os.Rename(f, filepath.Join(dir, filepath.Base(f))); err != nil {
				t.Fatal(err)
			}
		}
	}
	var debs []string
	for _, p := range eximPackages {
		f := find(p)
		if f == "" {
			t.Skipf("apt-get download left no %s .deb in %s", p, dir)
		}
		debs = append(debs, f)
	}
	return debs
}

// unpackExim unpacks the packages under root/dist and writes the private
// passwd and group files under root; it fails naming any library the
// binary still cannot find.
func unpackExim(t *testing.T, root string) *eximDist {
	t.Helper()
	dist := filepath.Join(root, "dist")
	for _, deb := range fetchEximDebs(t) {
		if out, err := exec.Command("dpkg", "-x", deb, dist).CombinedOutput(); err != nil {
			t.Fatalf("dpkg -x %s: %v\n%s", deb, err, out)
		}
	}
	libDir := filepath.Join(dist, "usr/lib/x86_64-linux-gnu")
	if m, _ := filepath.Glob(filepath.Join(dist, "usr/lib/*/libnss_wrapper.so")); len(m) > 0 {
		libDir = filepath.Dir(m[0])
	}
	passwd, group := filepath.Join(root, "passwd"), filepath.Join(root, "group")
	files := map[string]string{
		passwd: "root:x:0:0:root:/root:/bin/sh\nDebian-exim:x:" + eximUID + ":" + eximUID + ":Exim:/:/usr/sbin/nologin\n",
		group:  "root:x:0:\nDebian-exim:x:" + eximUID + ":\n",
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := &eximDist{
		bin: filepath.Join(dist, "usr/sbin/exim4"),
		env: []string{
			"LD_PRELOAD=" + filepath.Join(libDir, "libnss_wrapper.so"),
			"LD_LIBRARY_PATH=" + libDir,
			"NSS_WRAPPER_PASSWD=" + passwd,
			"NSS_WRAPPER_GROUP=" + group,
		},
	}
	ldd := exec.Command("ldd", d.bin)
	ldd.Env = append(os.Environ(), d.env[1])
	out, _ := ldd.CombinedOutput()
	if strings.Contains(string(out), "not found") {
		var libs []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "not found") {
				libs = append(libs, strings.TrimSpace(l))
			}
		}
		t.Fatalf("exim4 lacks libraries (install their Debian packages): %s", strings.Join(libs, "; "))
	}
	return d
}

// command is an exim4 invocation with the private configuration.
func (d *eximDist) command(conf string, args ...string) *exec.Cmd {
	cmd := exec.Command(d.bin, append([]string{"-C", conf}, args...)...)
	cmd.Env = append(os.Environ(), d.env...)
	return cmd
}
