package main

import (
	"strings"

	"ave/internal/fmtwrite"
)

// Rows of the Microsoft formats no Debian tool writes (cabinets with LZX
// or Quantum folders, CHM with an LZX section), written by the encoders of
// internal/fmtwrite. Those are made to cover the formats, not to compress
// well: greedy matches, codes of about equal length.
func init() {
	formats = append(formats,
		// One folder, 2^21 window, E8 translation, one CFDATA block per
		// 32 KiB frame; LZX blocks of one frame each, verbatim and aligned
		// in turn (no stored blocks, which a real encoder keeps for
		// incompressible runs).
		format{"cab (LZX, 2^21 window)", "Go, own writer (internal/fmtwrite)", func(fs []genFileT, _ string) ([]byte, error) {
			return fmtwrite.Cab(fmtwrite.CabFolder{Comp: fmtwrite.CabCompLZX | 21<<8, Files: msCabFiles(fs), LZX: msLZXBlocks})
		}},
		// One folder, 2^21 window, match chains of 16, one CFDATA block
		// per frame.
		format{"cab (Quantum, 2^21 window)", "Go, own writer (internal/fmtwrite)", func(fs []genFileT, _ string) ([]byte, error) {
			return fmtwrite.QuantumCab(21, msCabFiles(fs)...)
		}},
		// Every file in the LZX section, as hhc.exe writes it: a 2^16
		// window and a reset every two frames; the directory in one 4 KiB
		// listing chunk (enough for -mb up to about 100).
		format{"CHM (LZX section)", "Go, own writer (internal/fmtwrite)", func(fs []genFileT, _ string) ([]byte, error) {
			entries := make([]fmtwrite.CHMEntry, len(fs))
			for i, f := range fs {
				entries[i] = fmtwrite.CHMEntry{Name: "/" + f.name, Section: 1, Data: f.data}
			}
			return fmtwrite.CHMLZX(fmtwrite.CHMSection{Bits: 16, ResetFrames: 2, Blocks: msLZXBlocks}, entries...)
		}},
	)
}

var msLZXBlocks = fmtwrite.LZXBlocks{Size: fmtwrite.LZXFrameSize, Types: []int{fmtwrite.LZXBlockVerbatim, fmtwrite.LZXBlockAligned}}

// msCabFiles names the files the way cabinets do, with backslashes.
func msCabFiles(fs []genFileT) []fmtwrite.CabFile {
	out := make([]fmtwrite.CabFile, len(fs))
	for i, f := range fs {
		out[i] = fmtwrite.CabFile{Name: strings.ReplaceAll(f.name, "/", `\`), Data: f.data}
	}
	return out
}
