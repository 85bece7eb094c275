package main

import "ave/internal/fmtwrite"

// Rows for the formats whose writers are in internal/fmtwrite: OLE2
// compound files (version 3, 512-byte sectors; 32 MiB of streams need
// DIFAT sectors beyond the header's 109 FAT sectors) and rar, which the
// writers only store (Debian has no rar compressor; members are under
// 4 GiB, as rar 4's writer requires).
func init() {
	const maker = "Go, own writer (internal/fmtwrite)"
	formats = append(formats,
		format{"OLE2 (one stream per file)", maker, func(fs []genFileT, _ string) ([]byte, error) {
			streams := make([]fmtwrite.CFBStream, len(fs))
			for i, f := range fs {
				streams[i] = fmtwrite.CFBStream{Path: f.name, Data: f.data}
			}
			return fmtwrite.CFB(streams...)
		}},
		format{"rar 5 (stored)", maker, func(fs []genFileT, _ string) ([]byte, error) {
			return fmtwrite.Rar5(rarFiles(fs), false), nil
		}},
		format{"rar 4 (stored)", maker, func(fs []genFileT, _ string) ([]byte, error) {
			return fmtwrite.Rar4(rarFiles(fs), false)
		}},
	)
}

// rarFiles makes one rar member per generated file.
func rarFiles(fs []genFileT) []fmtwrite.RarFile {
	out := make([]fmtwrite.RarFile, len(fs))
	for i, f := range fs {
		out[i] = fmtwrite.RarFile{Name: f.name, Data: f.data}
	}
	return out
}
