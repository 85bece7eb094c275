package fsscan

import (
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
)

// walkAll runs the walker and returns the files and the skip events.
func walkAll(t Targets) (files []string, skipped map[string]string) {
	stop := make(chan struct{})
	defer close(stop)
	fc := make(chan fileRef)
	ec := make(chan walkEvent)
	go func() {
		t.walk(stop, fc, ec)
		close(fc)
	}()
	skipped = map[string]string{}
	for {
		select {
		case f, ok := <-fc:
			if !ok {
				sort.Strings(files)
				return files, skipped
			}
			files = append(files, f.path)
		case e := <-ec:
			skipped[e.path] = e.reason
		}
	}
}

// TestOneFileSystemStaysOnTheTargetsDevice: a directory mounted inside the
// tree (a tmpfs here) is walked, or with OneFileSystem (-l) skipped as
// "other file system". Needs the right to mount (root in CI).
func TestOneFileSystemStaysOnTheTargetsDevice(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "top.txt"), []byte("x"), 0o644)
	mnt := filepath.Join(root, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := syscall.Mount("ave-test", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	defer syscall.Unmount(mnt, syscall.MNT_DETACH)
	os.WriteFile(filepath.Join(mnt, "inner.txt"), []byte("y"), 0o644)

	files, _ := walkAll(Targets{Paths: []string{root}, Recursion: true})
	if len(files) != 2 || files[0] != filepath.Join(mnt, "inner.txt") || files[1] != filepath.Join(root, "top.txt") {
		t.Fatalf("without OneFileSystem: %v", files)
	}
	files, skipped := walkAll(Targets{Paths: []string{root}, Recursion: true, OneFileSystem: true})
	if len(files) != 1 || files[0] != filepath.Join(root, "top.txt") || skipped[mnt] != "other file system" {
		t.Fatalf("with OneFileSystem: files %v, skipped %v", files, skipped)
	}
}
