package unpack

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// Debian has no rar compressor, so the tests build archives by hand with
// the stored method (RAR 5: technote.txt of RAR 5; RAR 4: the RAR 2.9
// technote), with real checksums, which rardecode verifies.

type rarFile struct {
	name      string
	data      []byte
	encrypted bool
	badCRC    bool
}

func rarVint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// rar5Block appends one RAR 5 header block (CRC32, size, body) and data.
func rar5Block(out, body, data []byte) []byte {
	sized := rarVint(nil, uint64(len(body)))
	sized = append(sized, body...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(sized))
	out = append(out, sized...)
	return append(out, data...)
}

// makeRar5 builds a RAR 5 archive of stored files; encHeaders adds an
// archive encryption header (everything after it would be encrypted).
func makeRar5(files []rarFile, encHeaders bool) []byte {
	out := []byte("Rar!\x1a\x07\x01\x00")
	if encHeaders {
		b := rarVint(nil, 4)               // archive encryption header
		b = rarVint(b, 0)                  // header flags
		b = rarVint(b, 0)                  // encryption version: AES-256
		b = rarVint(b, 0)                  // flags: no password check
		b = append(b, 15)                  // KDF count
		b = append(b, make([]byte, 16)...) // salt
		out = rar5Block(out, b, nil)
	}
	out = rar5Block(out, []byte{1, 0, 0}, nil) // main header: type, flags, archive flags
	for _, f := range files {
		var extra []byte
		if f.encrypted {
			rec := rarVint(nil, 1)                 // record type: encryption
			rec = rarVint(rec, 0)                  // version
			rec = rarVint(rec, 0)                  // flags
			rec = append(rec, 15)                  // KDF count
			rec = append(rec, make([]byte, 32)...) // salt and IV
			extra = rarVint(nil, uint64(len(rec)))
			extra = append(extra, rec...)
		}
		crc := crc32.ChecksumIEEE(f.data)
		if f.badCRC {
			crc++
		}
		b := rarVint(nil, 2) // file header
		flags := uint64(0x02)
		if extra != nil {
			flags |= 0x01
		}
		b = rarVint(b, flags)
		if extra != nil {
			b = rarVint(b, uint64(len(extra)))
		}
		b = rarVint(b, uint64(len(f.data))) // data size
		b = rarVint(b, 0x04)                // file flags: CRC32 present
		b = rarVint(b, uint64(len(f.data))) // unpacked size
		b = rarVint(b, 0x20)                // attributes
		b = binary.LittleEndian.AppendUint32(b, crc)
		b = rarVint(b, 0) // compression: version 0, stored
		b = rarVint(b, 1) // host OS: Unix
		b = rarVint(b, uint64(len(f.name)))
		b = append(b, f.name...)
		b = append(b, extra...)
		out = rar5Block(out, b, f.data)
	}
	return rar5Block(out, []byte{5, 0, 0}, nil) // end of archive
}

// rar4Block appends a RAR 1.5-4.x block: CRC16 (low half of CRC32 of the
// rest), type, flags, size, fields, then data.
func rar4Block(out []byte, typ byte, flags uint16, fields, data []byte) []byte {
	h := []byte{typ}
	h = binary.LittleEndian.AppendUint16(h, flags)
	h = binary.LittleEndian.AppendUint16(h, uint16(7+len(fields)))
	h = append(h, fields...)
	out = binary.LittleEndian.AppendUint16(out, uint16(crc32.ChecksumIEEE(h)))
	out = append(out, h...)
	return append(out, data...)
}

func makeRar4(files []rarFile, encHeaders bool) []byte {
	out := []byte("Rar!\x1a\x07\x00")
	mainFlags := uint16(0)
	if encHeaders {
		mainFlags |= 0x0080
	}
	out = rar4Block(out, 0x73, mainFlags, make([]byte, 6), nil)
	for _, f := range files {
		crc := crc32.ChecksumIEEE(f.data)
		if f.badCRC {
			crc++
		}
		var b []byte
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f.data))) // packed size
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f.data))) // unpacked size
		b = append(b, 3)                                             // host OS: Unix
		b = binary.LittleEndian.AppendUint32(b, crc)
		b = binary.LittleEndian.AppendUint32(b, 0) // DOS time
		b = append(b, 20, 0x30)                    // version 2.0, method: store
		b = binary.LittleEndian.AppendUint16(b, uint16(len(f.name)))
		b = binary.LittleEndian.AppendUint32(b, 0o100644<<16) // attributes
		b = append(b, f.name...)
		flags := uint16(0x8000)
		if f.encrypted {
			flags |= 0x0004
		}
		out = rar4Block(out, 0x74, flags, b, f.data)
	}
	return rar4Block(out, 0x7b, 0x4000, nil, nil)
}

var rarMakers = map[string]func([]rarFile, bool) []byte{"rar4": makeRar4, "rar5": makeRar5}

func TestRarFindsEICAR(t *testing.T) {
	for v, mk := range rarMakers {
		t.Run(v, func(t *testing.T) {
			data := mk([]rarFile{{name: "readme.txt", data: []byte("hello")}, {name: "dir/eicar.com", data: eicar}}, false)
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
		res := walk("c.rar", mk([]rarFile{{name: "a.txt", data: []byte("alpha")}}, false), Limits{})
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
			data := mk([]rarFile{{name: "secret.com", data: eicar, encrypted: true}, {name: "plain.txt", data: []byte("plain")}}, false)
			res := walkQuiet("e.rar", data)
			wantDetection(t, res, "e.rar/secret.com", verdict.Protected, "encrypted")
			wantNoDetection(t, res, verdict.Infected)
			if _, ok := detection(res, "e.rar/plain.txt", verdict.Protected); ok || res.Objects != 2 {
				t.Errorf("plain member not scanned as clean:\n%s", dump(res))
			}

			res = walkQuiet("h.rar", mk([]rarFile{{name: "eicar.com", data: eicar}}, true))
			wantDetection(t, res, "h.rar", verdict.Protected, "rar: headers encrypted")
			wantNoDetection(t, res, verdict.Infected)
		})
	}
}

func TestRarTruncatedIsCorruptedAndEarlierMembersScanned(t *testing.T) {
	for v, mk := range rarMakers {
		t.Run(v, func(t *testing.T) {
			big := randomBytes(t, 4000)
			data := mk([]rarFile{{name: "eicar.com", data: eicar}, {name: "big.bin", data: big}, {name: "last", data: []byte("x")}}, false)
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
		res := walkQuiet("c.rar", mk([]rarFile{{name: "a.txt", data: []byte("alpha"), badCRC: true}}, false))
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
		d := mk([]rarFile{{name: "a", data: []byte("abc")}, {name: "e", data: eicar, encrypted: true}, {name: "g.gz", data: makeGzip(f, []byte("x"))}}, false)
		f.Add(d)
		f.Add(d[:len(d)/2])
		f.Add(mk(nil, true))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzWalk(t, "f.rar", data)
	})
}
