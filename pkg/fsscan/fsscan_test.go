package fsscan

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMacrosExpandOnceAndStayOneWord(t *testing.T) {
	m := Macros{FullPath: "/home/u", FileName: "a; rm -rf ~ %VIRUSNAME%", VirusName: "EICAR", Status: "INFECTED", List: "/tmp/l"}
	cases := []struct{ name, in, want string }{
		{"full path", "%FULLPATH%/%FILENAME%", "/home/u/a; rm -rf ~ %VIRUSNAME%"},
		{"name is not re-expanded", "%FILENAME%", "a; rm -rf ~ %VIRUSNAME%"},
		{"virus and status", "%VIRUSNAME% (%STATUS%)", "EICAR (INFECTED)"},
		{"list", "-a%LIST%", "-a/tmp/l"},
		{"unknown macro kept", "%NOPE%", "%NOPE%"},
		{"plain", "echo", "echo"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.Expand(tc.in); got != tc.want {
				t.Fatalf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestExclusionMasks(t *testing.T) {
	cases := []struct {
		name     string
		masks    []string
		path     string
		dir, hit bool
	}{
		{"mask on name", []string{"*.iso"}, "/x/a.iso", false, true},
		{"mask misses", []string{"*.iso"}, "/x/a.img", false, false},
		{"class", []string{"core.[0-9]*"}, "/x/core.123", false, true},
		{"dir by name", []string{"tmp"}, "/home/u/tmp", true, true},
		{"dir by path", []string{"/proc"}, "/proc", true, true},
		{"dir path is not a prefix match", []string{"/pro"}, "/proc", true, false},
		{"dir path mask", []string{"/home/*/cache"}, "/home/u/cache", true, true},
		{"dir trailing slash", []string{"/var/spool/"}, "/var/spool", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got bool
			if tc.dir {
				got = excludedDir(tc.masks, tc.path)
			} else {
				got = MatchMask(tc.masks, filepath.Base(tc.path))
			}
			if got != tc.hit {
				t.Fatalf("%v on %s: %v", tc.masks, tc.path, got)
			}
		})
	}
}

func TestPrintableEscapesControlAndInvalidBytes(t *testing.T) {
	for in, want := range map[string]string{
		"plain name.txt": "plain name.txt",
		"a; rm -rf ~":    "a; rm -rf ~",
		"new\nline":      `new\nline`,
		"bad\xff":        `bad\xff`,
		"ünïcode":        "ünïcode",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCacheRemembersCleanFilesPerDBVersion(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c")
	st := fileStat{Dev: 1, Ino: 2, Size: 3, Mtime: 4, Ctim: 5}
	c, err := OpenCache(file, "db-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hit("/a", st) {
		t.Fatal("hit in an empty cache")
	}
	c.Add("/a", st)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c, _ = OpenCache(file, "db-1", 10)
	if !c.Hit("/a", st) {
		t.Fatal("no hit after reload")
	}
	changed := st
	changed.Ctim++
	c, _ = OpenCache(file, "db-1", 10)
	if c.Hit("/a", changed) {
		t.Fatal("hit for a changed ctime")
	}
	c, _ = OpenCache(file, "db-2", 10)
	if c.Hit("/a", st) {
		t.Fatal("hit under another DB version")
	}
	// A truncated file loses entries, never breaks.
	data, _ := os.ReadFile(file)
	os.WriteFile(file, data[:len(data)-3], 0o600)
	if _, err := OpenCache(file, "db-1", 10); err != nil {
		t.Fatal(err)
	}
	// Bounded.
	c, _ = OpenCache(file, "db-1", 2)
	for _, p := range []string{"/x", "/y", "/z"} {
		c.Add(p, st)
	}
	if c.Len() != 2 {
		t.Fatalf("Len %d, want 2", c.Len())
	}
}

func TestDropMember(t *testing.T) {
	bad := []string{"docs/eicar.com", "inner.zip/x/y.exe"}
	cases := []struct {
		name  string
		isDir bool
		drop  bool
	}{
		{"docs/eicar.com", false, true},
		{"./docs//eicar.com", false, true},
		{"docs/", true, false},
		{"inner.zip", false, true},
		{"docs/good.txt", false, false},
	}
	for _, tc := range cases {
		if got := dropMember(tc.name, tc.isDir, bad); got != tc.drop {
			t.Errorf("dropMember(%q) = %v", tc.name, got)
		}
	}
}
