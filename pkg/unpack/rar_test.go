package unpack

import (
	"bytes"
	"testing"

	"ave/internal/fmtwrite"
	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// Debian has no rar compressor: the archives are written by
// internal/fmtwrite (stored method, real checksums, which rardecode
// verifies).

type rarFile = fmtwrite.RarFile

var rarMakers = map[string]func(testing.TB, []rarFile, bool) []byte{
	"rar4": func(t testing.TB, files []rarFile, encHeaders bool) []byte {
		t.Helper()
		b, err := fmtwrite.Rar4(files, encHeaders)
		if err != nil {
			t.Fatal(err)
		}
		return b
	},
	"rar5": func(_ testing.TB, files []rarFile, encHeaders bool) []byte { return fmtwrite.Rar5(files, encHeaders) },
}

func TestRarFindsEICAR(t *testing.T) {
	for v, mk := range rarMakers {
		t.Run(v, func(t *testing.T) {
			data := mk(t, []rarFile{{Name: "readme.txt", Data: []byte("hello")}, {Name: "dir/eicar.com", Data: eicar}}, false)
			if got := filetype.Detect(data, ""); got != filetype.Rar {
				t.Fatalf("detected %s", got)
			}
			res := walkQuiet("a.rar", data)
			d := wantDetection(t, res, "a.rar/dir/eicar.com", verdict.Infected, "")
			if d.Depth != 1 {
				t.Errorf("depth %d", d.Depth)
			}
			if res.Objects != 3 || len(res.Detections) != 1 {
				t.Errorf("want the archive, two files and one detection:\n%s", dump(res))
			}
		})
	}
}

func TestRarCleanIsClean(t *testing.T) {
	for v, mk := range rarMakers {
		res := walk("c.rar", mk(t, []rarFile{{Name: "a.txt", Data: []byte("alpha")}}, false), Limits{})
		if res.Status != verdict.Clean || res.Objects != 2 {
			t.Fatalf("%s: want 2 clean objects:\n%s", v, dump(res))
		}
	}
}

func TestRarEncryptedIsProtected(t *testing.T) {
	for v, mk := range rarMakers {
		t.Run(v, func(t *testing.T) {
			// The "encrypted" bytes are plain: a reader that ignored the
			// flag would find EICAR.
			data := mk(t, []rarFile{{Name: "secret.com", Data: eicar, Encrypted: true}, {Name: "plain.txt", Data: []byte("plain")}}, false)
			res := walkQuiet("e.rar", data)
			wantDetection(t, res, "e.rar/secret.com", verdict.Protected, "encrypted")
			wantNoDetection(t, res, verdict.Infected)
			if _, ok := detection(res, "e.rar/plain.txt", verdict.Protected); ok || res.Objects != 2 {
				t.Errorf("plain member not scanned as clean:\n%s", dump(res))
			}

			res = walkQuiet("h.rar", mk(t, []rarFile{{Name: "eicar.com", Data: eicar}}, true))
			wantDetection(t, res, "h.rar", verdict.Protected, "rar: headers encrypted")
			wantNoDetection(t, res, verdict.Infected)
		})
	}
}

func TestRarTruncatedIsCorruptedAndEarlierMembersScanned(t *testing.T) {
	for v, mk := range rarMakers {
		t.Run(v, func(t *testing.T) {
			big := randomBytes(t, 4000)
			data := mk(t, []rarFile{{Name: "eicar.com", Data: eicar}, {Name: "big.bin", Data: big}, {Name: "last", Data: []byte("x")}}, false)
			at := bytes.Index(data, big)
			res := walkQuiet("t.rar", data[:at+1000])
			wantDetection(t, res, "t.rar/eicar.com", verdict.Infected, "")
			if res.Status != verdict.Infected || !hasStatus(res, verdict.Corrupted) {
				t.Errorf("want a corrupted detection too:\n%s", dump(res))
			}
			res = walkQuiet("h.rar", data[:at-5]) // inside big.bin's header
			wantDetection(t, res, "h.rar/eicar.com", verdict.Infected, "")
			wantDetection(t, res, "h.rar", verdict.Corrupted, "rar:")
		})
	}
}

func TestRarChecksumMismatchIsCorrupted(t *testing.T) {
	for v, mk := range rarMakers {
		res := walkQuiet("c.rar", mk(t, []rarFile{{Name: "a.txt", Data: []byte("alpha"), BadCRC: true}}, false))
		if _, ok := detection(res, "c.rar/a.txt", verdict.Corrupted); !ok {
			t.Errorf("%s: no corrupted detection:\n%s", v, dump(res))
		}
	}
}

func hasStatus(res verdict.Result, st verdict.Status) bool {
	for _, d := range res.Detections {
		if d.Status == st {
			return true
		}
	}
	return false
}

func FuzzWalkRar(f *testing.F) {
	for _, mk := range rarMakers {
		d := mk(f, []rarFile{{Name: "a", Data: []byte("abc")}, {Name: "e", Data: eicar, Encrypted: true}, {Name: "g.gz", Data: makeGzip(f, []byte("x"))}}, false)
		f.Add(d)
		f.Add(d[:len(d)/2])
		f.Add(mk(f, nil, true))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.rar", data)
	})
}
