package unpack

import (
	"archive/tar"
	"bytes"
	"fmt"
	"testing"

	"ave/pkg/verdict"
)

type tarEntry struct {
	name     string
	data     []byte
	typeflag byte
	link     string
}

// makeTar builds a tar archive in the given format (0: archive/tar's choice).
func makeTar(t testing.TB, format tar.Format, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typeflag, Linkname: e.link, Mode: 0o644, Format: format}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTarFindsEICARInEveryHeaderFormat(t *testing.T) {
	long := "a/very/long/directory/name/that/does/not/fit/in/the/hundred/bytes/of/a/ustar/name/field/at/all/eicar.com"
	for _, tc := range []struct {
		name   string
		format tar.Format
		member string
	}{
		{"ustar", tar.FormatUSTAR, "dir/eicar.com"},
		{"gnu", tar.FormatGNU, long},
		{"pax", tar.FormatPAX, long},
		{"pax-utf8", tar.FormatPAX, "répertoire/eicar.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := makeTar(t, tc.format, tarEntry{name: "readme.txt", data: []byte("hi")}, tarEntry{name: tc.member, data: eicar})
			w := &Walker{Inspect: inspectEICAR}
			res := w.Walk(t.Context(), "a.tar", data, "", false)
			wantDetection(t, res, "a.tar/"+tc.member, verdict.Infected, "")
			if res.Objects != 3 {
				t.Errorf("%d objects:\n%s", res.Objects, dump(res))
			}
		})
	}
}

func TestTarSkipsEntriesWithoutContent(t *testing.T) {
	data := makeTar(t, tar.FormatGNU,
		tarEntry{name: "dir/", typeflag: tar.TypeDir},
		tarEntry{name: "link", typeflag: tar.TypeSymlink, link: "dir/a.txt"},
		tarEntry{name: "hard", typeflag: tar.TypeLink, link: "dir/a.txt"},
		tarEntry{name: "fifo", typeflag: tar.TypeFifo},
		tarEntry{name: "dev", typeflag: tar.TypeChar},
		tarEntry{name: "dir/a.txt", data: []byte("a")})
	var got []string
	err := walkTar(t.Context(), &Container{Data: data, Name: "s.tar", MaxDepth: 16}, func(m Member) error {
		got = append(got, m.Name)
		if m.Size != 1 {
			t.Errorf("%s: size %d", m.Name, m.Size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "dir/a.txt" {
		t.Errorf("members %q", got)
	}
}

func TestTarCleanIsClean(t *testing.T) {
	res := walk("c.tar", makeTar(t, 0, tarEntry{name: "a", data: []byte("a")}, tarEntry{name: "b", data: nil}), Limits{})
	if res.Status != verdict.Clean || res.Objects != 3 {
		t.Fatalf("want 3 clean objects:\n%s", dump(res))
	}
}

func TestTarTruncatedIsCorrupted(t *testing.T) {
	data := makeTar(t, 0, tarEntry{name: "eicar.com", data: eicar}, tarEntry{name: "big.bin", data: randomBytes(t, 4096)})
	w := &Walker{Inspect: inspectEICAR}

	// Cut inside the second member's content: the first is found, the
	// second is scanned as far as it goes.
	res := w.Walk(t.Context(), "t.tar", data[:512+512+512+1000], "", false)
	wantDetection(t, res, "t.tar/eicar.com", verdict.Infected, "")
	wantDetection(t, res, "t.tar/big.bin", verdict.Corrupted, "unexpected EOF")
	wantDetection(t, res, "t.tar", verdict.Corrupted, "tar: unexpected EOF")

	// Cut inside the second header.
	res = w.Walk(t.Context(), "h.tar", data[:512+512+300], "", false)
	wantDetection(t, res, "h.tar", verdict.Corrupted, "tar: unexpected EOF")
}

func TestTarCorruptHeaderIsCorrupted(t *testing.T) {
	data := makeTar(t, 0, tarEntry{name: "a.txt", data: []byte("a")})
	data[148] = 'x' // the header checksum
	res := walk("c.tar", data, Limits{})
	wantDetection(t, res, "c.tar", verdict.Corrupted, "tar: ")
}

func TestTarMemberOverMaxObjectSizeIsRefusedBeforeReading(t *testing.T) {
	data := makeTar(t, 0, tarEntry{name: "big", data: make([]byte, 3000)}, tarEntry{name: "eicar.com", data: eicar})
	res := walk("s.tar", data, Limits{MaxObjectSize: 2000, MaxScanBytes: 1 << 20})
	wantDetection(t, res, "s.tar/big", verdict.Unchecked, "member of 3000 bytes larger than MaxObjectSize 2000")
	wantDetection(t, res, "s.tar/eicar.com", verdict.Infected, "")
}

func FuzzWalkTar(f *testing.F) {
	f.Add(makeTar(f, tar.FormatUSTAR, tarEntry{name: "a.txt", data: []byte("a")}, tarEntry{name: "d/", typeflag: tar.TypeDir}))
	f.Add(makeTar(f, tar.FormatGNU, tarEntry{name: "g.txt", data: eicar}))
	f.Add(makeTar(f, tar.FormatPAX, tarEntry{name: "p.zip", data: makeZip(f, zipEntry{"z", []byte("z"), 0})}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.tar", data)
		// Most mutations break a header checksum and end the walk at once;
		// walking a repaired copy lets the fuzzer reach the rest.
		if fixed, ok := fixTarChecksums(data); ok {
			fuzzWalk(t, "f.tar", fixed)
		}
	})
}

// fixTarChecksums rewrites the checksum of every 512-byte block that looks
// like a ustar header, and reports whether any was changed.
func fixTarChecksums(data []byte) ([]byte, bool) {
	out := append([]byte(nil), data...)
	changed := false
	for off := 0; off+512 <= len(out); off += 512 {
		h := out[off : off+512]
		if !bytes.Equal(h[257:262], []byte("ustar")) {
			continue
		}
		old := string(h[148:156])
		copy(h[148:156], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
		changed = changed || string(h[148:156]) != old
	}
	return out, changed
}
