package fmtwrite

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Names of the internal files of a CHM's LZX section (MSCompressed).
const (
	chmContentName = "::DataSpace/Storage/MSCompressed/Content"
	chmControlName = "::DataSpace/Storage/MSCompressed/ControlData"
	chmResetName   = "::DataSpace/Storage/MSCompressed/Transform/{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/ResetTable"
)

// CHMEntry is one directory entry of a CHM: a path ("/html/index.htm";
// a trailing "/" for a directory), its content section (0 stored, 1 the
// LZX section) and its bytes.
type CHMEntry struct {
	Name    string
	Section uint64
	Data    []byte
}

// putEncint appends v as a CHM ENCINT: 7 bits a byte, most significant
// group first, the high bit set on all bytes but the last.
func putEncint(b *bytes.Buffer, v uint64) {
	var groups []byte
	for {
		groups = append([]byte{byte(v & 0x7f)}, groups...)
		v >>= 7
		if v == 0 {
			break
		}
	}
	for i, g := range groups {
		if i < len(groups)-1 {
			g |= 0x80
		}
		b.WriteByte(g)
	}
}

// CHM writes an ITSF version 3 file with one PMGL listing chunk of 4 KiB:
// entries of section 0 are stored in the content area, those of section 1
// only get a directory entry, their offsets following each other in the
// compressed section (which CHMLZX adds). It fails when the directory
// does not fit in the one chunk (about a hundred entries of short names).
func CHM(entries ...CHMEntry) ([]byte, error) {
	const chunkSize = 0x1000
	var content, list bytes.Buffer
	sec1 := uint64(0)
	for _, e := range entries {
		putEncint(&list, uint64(len(e.Name)))
		list.WriteString(e.Name)
		putEncint(&list, e.Section)
		if e.Section == 0 {
			putEncint(&list, uint64(content.Len()))
			content.Write(e.Data)
		} else {
			putEncint(&list, sec1)
			sec1 += uint64(len(e.Data))
		}
		putEncint(&list, uint64(len(e.Data)))
	}
	if list.Len() > chunkSize-0x14 {
		return nil, fmt.Errorf("fmtwrite: chm: directory of %d entries takes %d bytes, more than one %d-byte chunk holds", len(entries), list.Len(), chunkSize-0x14)
	}
	chunk := make([]byte, chunkSize)
	copy(chunk, "PMGL")
	binary.LittleEndian.PutUint32(chunk[4:], uint32(chunkSize-0x14-list.Len()))
	binary.LittleEndian.PutUint32(chunk[0x0c:], 0xffffffff)
	binary.LittleEndian.PutUint32(chunk[0x10:], 0xffffffff)
	copy(chunk[0x14:], list.Bytes())

	itsp := make([]byte, 0x54)
	copy(itsp, "ITSP")
	binary.LittleEndian.PutUint32(itsp[4:], 1)
	binary.LittleEndian.PutUint32(itsp[8:], 0x54)
	binary.LittleEndian.PutUint32(itsp[0x0c:], 10)
	binary.LittleEndian.PutUint32(itsp[0x10:], chunkSize)
	binary.LittleEndian.PutUint32(itsp[0x14:], 2)
	binary.LittleEndian.PutUint32(itsp[0x18:], 1)
	binary.LittleEndian.PutUint32(itsp[0x1c:], 0xffffffff)
	binary.LittleEndian.PutUint32(itsp[0x24:], 0)
	binary.LittleEndian.PutUint32(itsp[0x2c:], 1)

	const hdrLen, sec0Len = 0x60, 0x18
	dirOff := uint64(hdrLen + sec0Len)
	dirLen := uint64(len(itsp) + chunkSize)
	h := make([]byte, hdrLen+sec0Len)
	copy(h, "ITSF")
	binary.LittleEndian.PutUint32(h[4:], 3)
	binary.LittleEndian.PutUint32(h[8:], hdrLen)
	binary.LittleEndian.PutUint32(h[0x0c:], 1)
	binary.LittleEndian.PutUint64(h[0x38:], hdrLen)
	binary.LittleEndian.PutUint64(h[0x40:], sec0Len)
	binary.LittleEndian.PutUint64(h[0x48:], dirOff)
	binary.LittleEndian.PutUint64(h[0x50:], dirLen)
	binary.LittleEndian.PutUint64(h[0x58:], dirOff+dirLen)
	h[hdrLen] = 0xfe
	out := append(h, itsp...)
	out = append(out, chunk...)
	return append(out, content.Bytes()...), nil
}

// CHMDamage is a fault CHMLZX writes on purpose, for tests.
type CHMDamage int

const (
	CHMIntact CHMDamage = iota
	// CHMBrokenAfterFirst puts two bytes of garbage after the first reset
	// interval: a reader going on from it into the next fails.
	CHMBrokenAfterFirst
	// CHMContentCutInHalf cuts the compressed content in half.
	CHMContentCutInHalf
)

// CHMSection is how CHMLZX writes the LZX section.
type CHMSection struct {
	Bits        int // window 2^Bits, 15 to 21
	ResetFrames int // frames (of LZXFrameSize bytes) per reset interval
	Blocks      LZXBlocks
	Damage      CHMDamage
}

// CHMLZX writes a CHM (see CHM) with the MSCompressed section for the
// section 1 entries: their contents concatenated, compressed by the LZX
// encoder as one independent stream per reset interval, with the control
// data (LZXC version 2) and the reset table of every frame's compressed
// offset.
func CHMLZX(p CHMSection, entries ...CHMEntry) ([]byte, error) {
	if p.Bits < 15 || p.Bits > 21 || p.ResetFrames < 1 {
		return nil, fmt.Errorf("fmtwrite: chm: LZX window 2^%d, reset every %d frames", p.Bits, p.ResetFrames)
	}
	bl := p.Blocks.orDefault()
	var plain []byte
	for _, e := range entries {
		if e.Section == 1 {
			plain = append(plain, e.Data...)
		}
	}
	var comp []byte
	var frames []uint64
	step := p.ResetFrames * LZXFrameSize
	for at := 0; at < len(plain); at += step {
		part := plain[at:min(at+step, len(plain))]
		enc, ends := LZX(part, p.Bits, 0, bl.Size, bl.Types...)
		base := uint64(len(comp))
		frames = append(frames, base)
		for _, e := range ends[:len(ends)-1] {
			frames = append(frames, base+uint64(e))
		}
		comp = append(comp, enc...)
		if p.Damage == CHMBrokenAfterFirst && at == 0 {
			comp = append(comp, 0xff, 0xff) // breaks the next interval when read on
		}
	}
	if p.Damage == CHMContentCutInHalf {
		comp = comp[:len(comp)/2]
	}
	ctl := make([]byte, 28)
	le := binary.LittleEndian
	le.PutUint32(ctl, 6)
	copy(ctl[4:], "LZXC")
	le.PutUint32(ctl[8:], 2)
	le.PutUint32(ctl[12:], uint32(p.ResetFrames))
	le.PutUint32(ctl[16:], uint32(1<<p.Bits/LZXFrameSize))
	le.PutUint32(ctl[20:], uint32(p.ResetFrames))
	rt := make([]byte, 0x28)
	le.PutUint32(rt, 2)
	le.PutUint32(rt[4:], uint32(len(frames)))
	le.PutUint32(rt[8:], 8)
	le.PutUint32(rt[12:], 0x28)
	le.PutUint64(rt[0x10:], uint64(len(plain)))
	le.PutUint64(rt[0x18:], uint64(len(comp)))
	le.PutUint64(rt[0x20:], LZXFrameSize)
	for _, f := range frames {
		rt = le.AppendUint64(rt, f)
	}
	all := append([]CHMEntry{
		{chmContentName, 0, comp},
		{chmControlName, 0, ctl},
		{chmResetName, 0, rt},
	}, entries...)
	return CHM(all...)
}
