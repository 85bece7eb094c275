package fmtwrite

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
)

// Cabinet format constants ([MS-CAB]).
const (
	CabHeaderLen = 36 // CFHEADER without reserve fields
	CabFolderLen = 8  // CFFOLDER without reserve
	CabFileLen   = 16 // CFFILE before its name

	// Compression types, the low nibble of CFFOLDER.typeCompress; Quantum
	// and LZX carry the window size (bits) in bits 8-12, Quantum its level
	// in bits 4-7.
	CabCompNone    = 0
	CabCompMSZIP   = 1
	CabCompQuantum = 2
	CabCompLZX     = 3

	cabMaxData = 0xffff // a CFDATA block's compressed bytes (cbData)
)

// CabFile is one file of a cabinet folder.
type CabFile struct {
	Name string // with backslashes between directories, as cabinets have them
	Data []byte
}

// CabFolder is one folder of a cabinet: its compression type
// (typeCompress) and its files, whose bytes are concatenated and
// compressed together.
type CabFolder struct {
	Comp  uint16
	Files []CabFile
	// LZX is how LZX folders are cut into blocks; zero: LZXAllBlocks.
	LZX LZXBlocks
}

// Cab writes a cabinet with one folder per element, its files' bytes
// concatenated and cut into CFDATA blocks of at most 32 KiB of output,
// without checksums:
//   - stored (CabCompNone);
//   - MSZIP: each block "CK" and a deflate stream primed with the
//     previous 32 KiB;
//   - LZX with a window of 2^15 to 2^21: the LZX encoder, one frame per
//     block, with E8 translation (size 12000000);
//   - Quantum with a window of 2^10 to 2^21: the Quantum encoder (match
//     chains of 16), one frame per block.
//
// Other compression types, and LZX or Quantum with another window size,
// get the stored bytes: they are for testing that a reader refuses them.
// It fails when a folder needs more than 65535 blocks or a compressed block
// is larger than 65535 bytes.
func Cab(folders ...CabFolder) ([]byte, error) {
	le := binary.LittleEndian
	var files, data bytes.Buffer
	type fo struct{ start, blocks int }
	var fos []fo
	nFiles := 0
	block := func(fi int, payload []byte, n int) error {
		if len(payload) > cabMaxData {
			return fmt.Errorf("fmtwrite: cab: folder %d: block %d of %d bytes, more than a CFDATA holds", fi, fos[fi].blocks, len(payload))
		}
		data.Write(le.AppendUint32(nil, 0)) // no checksum
		data.Write(le.AppendUint16(nil, uint16(len(payload))))
		data.Write(le.AppendUint16(nil, uint16(n)))
		data.Write(payload)
		fos[fi].blocks++
		return nil
	}
	for fi, f := range folders {
		var all []byte
		for _, file := range f.Files {
			files.Write(le.AppendUint32(nil, uint32(len(file.Data))))
			files.Write(le.AppendUint32(nil, uint32(len(all))))
			files.Write(le.AppendUint16(nil, uint16(fi)))
			files.Write([]byte{0x21, 0x5a, 0, 0, 0x20, 0}) // date, time, attributes
			files.WriteString(file.Name + "\x00")
			all = append(all, file.Data...)
			nFiles++
		}
		fos = append(fos, fo{start: data.Len()})
		bits := int(f.Comp >> 8 & 0x1f)
		switch {
		case f.Comp&0x0f == CabCompLZX && bits >= 15 && bits <= 21:
			bl := f.LZX.orDefault()
			enc, ends := LZX(all, bits, 12000000, bl.Size, bl.Types...)
			prev := 0
			for i, end := range ends {
				if err := block(fi, enc[prev:end], min(LZXFrameSize, len(all)-i*LZXFrameSize)); err != nil {
					return nil, err
				}
				prev = end
			}
		case f.Comp&0x0f == CabCompQuantum && bits >= QuantumMinWindow && bits <= QuantumMaxWindow:
			blocks, _, err := Quantum(all, bits, 16)
			if err != nil {
				return nil, err
			}
			for i, b := range blocks {
				if err := block(fi, b, min(QuantumFrameSize, len(all)-i*QuantumFrameSize)); err != nil {
					return nil, err
				}
			}
		default:
			var history []byte
			for len(all) > 0 {
				n := min(len(all), 32768)
				blk := all[:n]
				all = all[n:]
				payload := blk
				if f.Comp == CabCompMSZIP {
					var b bytes.Buffer
					b.WriteString("CK")
					fw, err := flate.NewWriterDict(&b, flate.BestCompression, history)
					if err != nil {
						return nil, err
					}
					fw.Write(blk)
					if err := fw.Close(); err != nil {
						return nil, err
					}
					payload = b.Bytes()
					history = append(history, blk...)
					if len(history) > 32768 {
						history = history[len(history)-32768:]
					}
				}
				if err := block(fi, payload, n); err != nil {
					return nil, err
				}
			}
		}
		if fos[fi].blocks > 0xffff {
			return nil, fmt.Errorf("fmtwrite: cab: folder %d needs %d blocks, more than a CFFOLDER counts", fi, fos[fi].blocks)
		}
	}
	coffFiles := CabHeaderLen + CabFolderLen*len(folders)
	dataAt := coffFiles + files.Len()
	var out bytes.Buffer
	out.WriteString("MSCF")
	out.Write(le.AppendUint32(nil, 0))
	out.Write(le.AppendUint32(nil, uint32(dataAt+data.Len())))
	out.Write(le.AppendUint32(nil, 0))
	out.Write(le.AppendUint32(nil, uint32(coffFiles)))
	out.Write(le.AppendUint32(nil, 0))
	out.Write([]byte{3, 1})
	out.Write(le.AppendUint16(nil, uint16(len(folders))))
	out.Write(le.AppendUint16(nil, uint16(nFiles)))
	out.Write(le.AppendUint16(nil, 0)) // flags
	out.Write(le.AppendUint16(nil, 0x1234))
	out.Write(le.AppendUint16(nil, 0))
	for i, f := range folders {
		out.Write(le.AppendUint32(nil, uint32(dataAt+fos[i].start)))
		out.Write(le.AppendUint16(nil, uint16(fos[i].blocks)))
		out.Write(le.AppendUint16(nil, f.Comp))
	}
	out.Write(files.Bytes())
	out.Write(data.Bytes())
	return out.Bytes(), nil
}

// LZXCab writes a cabinet with one LZX folder (window 2^bits, 15 to 21),
// each CFDATA block holding one frame (see Cab).
func LZXCab(bits int, files ...CabFile) ([]byte, error) {
	if bits < 15 || bits > 21 {
		return nil, fmt.Errorf("fmtwrite: LZX window size 2^%d not in 2^15 to 2^21", bits)
	}
	return Cab(CabFolder{Comp: CabCompLZX | uint16(bits)<<8, Files: files})
}

// QuantumCab writes a cabinet with one Quantum folder (window 2^bits, 10
// to 21; level 4 in typeCompress), one CFDATA block per frame (see Cab).
func QuantumCab(bits int, files ...CabFile) ([]byte, error) {
	if bits < QuantumMinWindow || bits > QuantumMaxWindow {
		return nil, fmt.Errorf("fmtwrite: Quantum window size 2^%d not in 2^%d to 2^%d", bits, QuantumMinWindow, QuantumMaxWindow)
	}
	return Cab(CabFolder{Comp: CabCompQuantum | 4<<4 | uint16(bits)<<8, Files: files})
}
