package fmtwrite

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Debian has no rar compressor, so archives are built by hand with the
// stored method only (RAR 5: technote.txt of RAR 5; RAR 4: the RAR 2.9
// technote), with real checksums.

// RarFile is one member of a rar archive, always stored (method 0).
// Encrypted sets the member's encryption flag (RAR 5: an encryption extra
// record with a zero salt and IV) but leaves the data in the clear;
// BadCRC writes a wrong CRC32.
type RarFile struct {
	Name      string
	Data      []byte
	Encrypted bool
	BadCRC    bool
}

// RarVint appends v to b as a RAR 5 variable-length integer (7 bits a
// byte, low first, high bit set on all but the last).
func RarVint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// Rar5Block appends one RAR 5 header block (CRC32, size, body) and the
// data that follows it.
func Rar5Block(out, body, data []byte) []byte {
	sized := RarVint(nil, uint64(len(body)))
	sized = append(sized, body...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(sized))
	out = append(out, sized...)
	return append(out, data...)
}

// Rar5 builds a RAR 5 archive of stored files; encHeaders adds an
// archive encryption header first (everything after it would be
// encrypted in a real archive; here it is not).
func Rar5(files []RarFile, encHeaders bool) []byte {
	out := []byte("Rar!\x1a\x07\x01\x00")
	if encHeaders {
		b := RarVint(nil, 4)               // archive encryption header
		b = RarVint(b, 0)                  // header flags
		b = RarVint(b, 0)                  // encryption version: AES-256
		b = RarVint(b, 0)                  // flags: no password check
		b = append(b, 15)                  // KDF count
		b = append(b, make([]byte, 16)...) // salt
		out = Rar5Block(out, b, nil)
	}
	out = Rar5Block(out, []byte{1, 0, 0}, nil) // main header: type, flags, archive flags
	for _, f := range files {
		var extra []byte
		if f.Encrypted {
			rec := RarVint(nil, 1)                 // record type: encryption
			rec = RarVint(rec, 0)                  // version
			rec = RarVint(rec, 0)                  // flags
			rec = append(rec, 15)                  // KDF count
			rec = append(rec, make([]byte, 32)...) // salt and IV
			extra = RarVint(nil, uint64(len(rec)))
			extra = append(extra, rec...)
		}
		crc := crc32.ChecksumIEEE(f.Data)
		if f.BadCRC {
			crc++
		}
		b := RarVint(nil, 2) // file header
		flags := uint64(0x02)
		if extra != nil {
			flags |= 0x01
		}
		b = RarVint(b, flags)
		if extra != nil {
			b = RarVint(b, uint64(len(extra)))
		}
		b = RarVint(b, uint64(len(f.Data))) // data size
		b = RarVint(b, 0x04)                // file flags: CRC32 present
		b = RarVint(b, uint64(len(f.Data))) // unpacked size
		b = RarVint(b, 0x20)                // attributes
		b = binary.LittleEndian.AppendUint32(b, crc)
		b = RarVint(b, 0) // compression: version 0, stored
		b = RarVint(b, 1) // host OS: Unix
		b = RarVint(b, uint64(len(f.Name)))
		b = append(b, f.Name...)
		b = append(b, extra...)
		out = Rar5Block(out, b, f.Data)
	}
	return Rar5Block(out, []byte{5, 0, 0}, nil) // end of archive
}

// Rar4Block appends a RAR 1.5-4.x block: CRC16 (low half of the CRC32 of
// the rest), type, flags, size, fields, then data. It fails when the
// header is longer than 65535 bytes.
func Rar4Block(out []byte, typ byte, flags uint16, fields, data []byte) ([]byte, error) {
	if 7+len(fields) > math.MaxUint16 {
		return nil, fmt.Errorf("fmtwrite: rar 4 header of %d bytes", 7+len(fields))
	}
	h := []byte{typ}
	h = binary.LittleEndian.AppendUint16(h, flags)
	h = binary.LittleEndian.AppendUint16(h, uint16(7+len(fields)))
	h = append(h, fields...)
	out = binary.LittleEndian.AppendUint16(out, uint16(crc32.ChecksumIEEE(h)))
	out = append(out, h...)
	return append(out, data...), nil
}

// Rar4 builds a RAR 4 archive of stored files; encHeaders sets the main
// header's "block headers are encrypted" flag (the headers stay plain).
// Members must be under 4 GiB (no large-file fields are written) and
// names short enough for a 64 KiB header.
func Rar4(files []RarFile, encHeaders bool) ([]byte, error) {
	out := []byte("Rar!\x1a\x07\x00")
	mainFlags := uint16(0)
	if encHeaders {
		mainFlags |= 0x0080
	}
	out, err := Rar4Block(out, 0x73, mainFlags, make([]byte, 6), nil)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if int64(len(f.Data)) > math.MaxUint32 {
			return nil, fmt.Errorf("fmtwrite: rar 4 member %s: %d bytes, 4 GiB at most", f.Name, len(f.Data))
		}
		crc := crc32.ChecksumIEEE(f.Data)
		if f.BadCRC {
			crc++
		}
		var b []byte
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f.Data))) // packed size
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f.Data))) // unpacked size
		b = append(b, 3)                                             // host OS: Unix
		b = binary.LittleEndian.AppendUint32(b, crc)
		b = binary.LittleEndian.AppendUint32(b, 0) // DOS time
		b = append(b, 20, 0x30)                    // version 2.0, method: store
		b = binary.LittleEndian.AppendUint16(b, uint16(len(f.Name)))
		b = binary.LittleEndian.AppendUint32(b, 0o100644<<16) // attributes
		b = append(b, f.Name...)
		flags := uint16(0x8000)
		if f.Encrypted {
			flags |= 0x0004
		}
		if out, err = Rar4Block(out, 0x74, flags, b, f.Data); err != nil {
			return nil, fmt.Errorf("fmtwrite: rar 4 member %.40q: %w", f.Name, err)
		}
	}
	return Rar4Block(out, 0x7b, 0x4000, nil, nil)
}
