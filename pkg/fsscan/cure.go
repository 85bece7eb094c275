package fsscan

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/google/renameio/v2"
)

// ErrNotCurable: the object cannot be cured (a plain file, a format that
// cannot be rebuilt, or the container itself is what was detected).
var ErrNotCurable = errors.New("fsscan: cannot be cured")

// cureArchive rebuilds the zip, tar or gzip-compressed tar at path without
// the members named in bad (paths relative to the archive, as the scan
// reported them: "docs/a.exe", or for a .tar.gz "x.tar/docs/a.exe"). A
// member is dropped when a bad path is the member itself or lies inside
// it (an infected file in a zip inside the archive drops that inner zip).
// The new archive is written next to the old one and renamed over it
// atomically, with the old one's permissions and owner. It returns the
// names of the dropped members. src is the open original. verify, when
// not nil, checks the rebuilt archive before it replaces the original.
func cureArchive(path string, src *os.File, bad []string, verify func(*os.File) error) ([]string, error) {
	if len(bad) == 0 {
		return nil, fmt.Errorf("%w: no member to remove", ErrNotCurable)
	}
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	head := make([]byte, 512)
	n, _ := src.ReadAt(head, 0)
	head = head[:n]
	pf, err := renameio.NewPendingFile(path, renameio.WithStaticPermissions(st.Mode().Perm()))
	if err != nil {
		return nil, fmt.Errorf("fsscan: cure: %w", err)
	}
	defer pf.Cleanup()
	var dropped []string
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		dropped, err = cureZip(src, st.Size(), bad, pf)
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		dropped, err = cureTarGz(io.NewSectionReader(src, 0, st.Size()), bad, pf)
	case isTar(head):
		dropped, err = cureTar(io.NewSectionReader(src, 0, st.Size()), bad, pf)
	default:
		return nil, fmt.Errorf("%w: not a zip or tar archive", ErrNotCurable)
	}
	if err != nil {
		return nil, err
	}
	if len(dropped) == 0 {
		return nil, fmt.Errorf("%w: the detected objects are not members of the archive", ErrNotCurable)
	}
	if verify != nil {
		if err := pf.Sync(); err != nil {
			return nil, fmt.Errorf("fsscan: cure: %w", err)
		}
		if _, err := pf.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("fsscan: cure: %w", err)
		}
		if err := verify(pf.File); err != nil {
			return nil, err
		}
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := pf.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
			return nil, fmt.Errorf("fsscan: cure: %w", err)
		}
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return nil, fmt.Errorf("fsscan: cure: %w", err)
	}
	return dropped, nil
}

func isTar(head []byte) bool {
	return len(head) >= 262 && (bytes.Equal(head[257:262], []byte("ustar")))
}

// dropMember reports whether the archive member name holds a bad path.
func dropMember(name string, isDir bool, bad []string) bool {
	c := cleanName(name)
	if c == "" {
		return false
	}
	for _, b := range bad {
		if b == c || !isDir && strings.HasPrefix(b, c+"/") {
			return true
		}
	}
	return false
}

func cureZip(src io.ReaderAt, size int64, bad []string, w io.Writer) ([]string, error) {
	zr, err := zip.NewReader(src, size)
	if err != nil {
		return nil, fmt.Errorf("%w: zip: %v", ErrNotCurable, err)
	}
	zw := zip.NewWriter(w)
	zw.SetComment(zr.Comment)
	var dropped []string
	for _, f := range zr.File {
		if dropMember(f.Name, f.FileInfo().IsDir(), bad) {
			dropped = append(dropped, f.Name)
			continue
		}
		r, err := f.OpenRaw()
		if err != nil {
			return nil, fmt.Errorf("fsscan: cure: zip %s: %w", f.Name, err)
		}
		fh := f.FileHeader
		cw, err := zw.CreateRaw(&fh)
		if err != nil {
			return nil, fmt.Errorf("fsscan: cure: zip %s: %w", f.Name, err)
		}
		if _, err := io.Copy(cw, r); err != nil {
			return nil, fmt.Errorf("fsscan: cure: zip %s: %w", f.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("fsscan: cure: %w", err)
	}
	return dropped, nil
}

func cureTar(src io.Reader, bad []string, w io.Writer) ([]string, error) {
	tr := tar.NewReader(bufio.NewReader(src))
	tw := tar.NewWriter(w)
	var dropped []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: tar: %v", ErrNotCurable, err)
		}
		if dropMember(h.Name, h.Typeflag == tar.TypeDir, bad) {
			dropped = append(dropped, h.Name)
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("fsscan: cure: tar %s: %w", h.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, fmt.Errorf("fsscan: cure: tar %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("fsscan: cure: %w", err)
	}
	return dropped, nil
}

// cureTarGz cures a gzip-compressed tar. The scan names the tar inside
// the gzip layer (its header name or the file name without .gz): that
// first element of the bad paths is stripped.
func cureTarGz(src io.Reader, bad []string, w io.Writer) ([]string, error) {
	zr, err := gzip.NewReader(bufio.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrNotCurable, err)
	}
	var inner []string
	for _, b := range bad {
		if i := strings.IndexByte(b, '/'); i >= 0 {
			inner = append(inner, b[i+1:])
		} else {
			return nil, fmt.Errorf("%w: the whole compressed content is detected", ErrNotCurable)
		}
	}
	zw := gzip.NewWriter(w)
	zw.Header = zr.Header
	dropped, err := cureTar(zr, inner, zw)
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("fsscan: cure: %w", err)
	}
	return dropped, nil
}

// cleanName turns a member name into the path element the scan reports,
// as pkg/unpack does: leading "/" and "./" and empty or "." segments are
// dropped, control characters become "_".
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
	var out []string
	for _, e := range strings.Split(s, "/") {
		if e != "" && e != "." {
			out = append(out, e)
		}
	}
	return strings.Join(out, "/")
}
