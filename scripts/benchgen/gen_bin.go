package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// insn is an x86-64 instruction template; mask marks bytes that are
// filled with random values (displacements, immediates, call targets).
type insn struct {
	fixed  []byte
	mask   []bool
	weight int
}

func mkInsn(spec string, weight int) insn {
	var in insn
	for _, f := range strings.Fields(spec) {
		if f == "xx" {
			in.fixed = append(in.fixed, 0)
			in.mask = append(in.mask, true)
			continue
		}
		v, err := hex.DecodeString(f)
		if err != nil {
			panic(err)
		}
		in.fixed = append(in.fixed, v[0])
		in.mask = append(in.mask, false)
	}
	in.weight = weight
	return in
}

var (
	insns     []insn
	insnTotal int
)

func init() {
	for _, t := range []struct {
		s string
		w int
	}{
		{"48 89 5c 24 xx", 6}, {"48 89 74 24 xx", 4}, {"48 8b 45 xx", 10}, {"48 89 45 xx", 8},
		{"8b 45 xx", 8}, {"89 45 xx", 6}, {"48 8b 4d xx", 6}, {"48 8d 4d xx", 5},
		{"48 8d 0d xx xx xx xx", 6}, {"48 8d 15 xx xx xx xx", 4}, {"48 8b 05 xx xx xx xx", 4},
		{"e8 xx xx xx xx", 14}, {"ff 15 xx xx xx xx", 5}, {"e9 xx xx xx xx", 2},
		{"74 xx", 6}, {"75 xx", 6}, {"eb xx", 4}, {"0f 84 xx xx xx xx", 3}, {"0f 85 xx xx xx xx", 3},
		{"85 c0", 6}, {"48 85 c0", 5}, {"31 c0", 4}, {"33 c9", 3}, {"83 f8 xx", 4}, {"48 83 f8 xx", 3},
		{"48 89 c1", 4}, {"48 89 c7", 3}, {"48 89 de", 2}, {"4c 8b c0", 2}, {"49 8b cc", 2},
		{"b9 xx xx 00 00", 3}, {"ba xx xx 00 00", 3}, {"41 b8 xx 00 00 00", 2}, {"c7 45 xx xx xx 00 00", 3},
		{"48 83 c0 xx", 3}, {"48 ff c1", 2}, {"ff c0", 2}, {"48 63 c8", 2}, {"0f b6 45 xx", 2},
		{"53", 2}, {"5b", 2}, {"41 54", 1}, {"41 5c", 1}, {"56", 1}, {"5e", 1}, {"90", 1},
	} {
		in := mkInsn(t.s, t.w)
		insns = append(insns, in)
		insnTotal += t.w
	}
}

// code appends about n bytes of function-shaped machine code: prologue,
// a body of common instructions, epilogue, int3 padding to 16 bytes.
func (c *genCtx) code(b []byte, n int) []byte {
	end := len(b) + n
	for len(b) < end {
		b = append(b, 0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, byte(c.r.IntN(16)*8))
		for range c.r.between(8, 120) {
			x := c.r.IntN(insnTotal)
			for i := range insns {
				x -= insns[i].weight
				if x < 0 {
					for j, v := range insns[i].fixed {
						if insns[i].mask[j] {
							v = byte(c.r.IntN(256))
						}
						b = append(b, v)
					}
					break
				}
			}
		}
		b = append(b, 0x48, 0x83, 0xc4, byte(c.r.IntN(16)*8), 0x5d, 0xc3)
		for len(b)%16 != 0 {
			b = append(b, 0xcc)
		}
	}
	return b[:end]
}

var winAPIs = strings.Fields(`KERNEL32.dll GetProcAddress LoadLibraryW GetModuleHandleW CreateFileW ReadFile WriteFile
CloseHandle VirtualAlloc VirtualFree GetLastError SetLastError HeapAlloc HeapFree GetProcessHeap ExitProcess
GetCommandLineW GetEnvironmentVariableW MultiByteToWideChar WideCharToMultiByte Sleep GetTickCount64
QueryPerformanceCounter InitializeCriticalSection EnterCriticalSection LeaveCriticalSection USER32.dll
MessageBoxW GetWindowTextW SendMessageW DefWindowProcW RegisterClassExW CreateWindowExW ADVAPI32.dll
RegOpenKeyExW RegQueryValueExW RegCloseKey SHELL32.dll ShellExecuteW ole32.dll CoInitializeEx
CoCreateInstance VCRUNTIME140.dll memcpy memset api-ms-win-crt-runtime-l1-1-0.dll _initterm _cexit`)

var unixSyms = strings.Fields(`libc.so.6 libpthread.so.0 libm.so.6 printf fprintf snprintf malloc calloc realloc
free memcpy memmove strlen strcmp strncpy open read write close mmap munmap pthread_create pthread_mutex_lock
pthread_mutex_unlock getenv setlocale exit abort __libc_start_main __cxa_finalize GLIBC_2.2.5 GLIBC_2.34
__stack_chk_fail _ITM_deregisterTMCloneTable __gmon_start__`)

var fmtStrings = []string{"%s: %s\n", "error %d: %s", "usage: %s [options] file...", "/etc/%s.conf",
	"cannot open %s", "out of memory", "version %d.%d.%d", "%02d:%02d:%02d", "Copyright (c) 2026 Example Corp.",
	"https://update.example.com/v2/check?id=%s", "Software\\Microsoft\\Windows\\CurrentVersion\\Run"}

// strtab appends about n bytes of NUL-terminated strings: symbols, format
// strings and UTF-16 text, like .rdata / .rodata.
func (c *genCtx) strtab(b []byte, n int, syms []string) []byte {
	end := len(b) + n
	for len(b) < end {
		switch c.r.IntN(6) {
		case 0, 1:
			b = append(b, pick(c.r, syms)...)
		case 2:
			b = append(b, pick(c.r, fmtStrings)...)
		case 3:
			for _, ch := range c.tg.title() {
				b = append(b, byte(ch), 0)
			}
			b = append(b, 0)
		case 4:
			b = binary.LittleEndian.AppendUint64(b, uint64(c.r.IntN(1<<20))+0x140001000)
		default:
			b = c.tg.sentence(b)
		}
		b = append(b, 0)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b[:end]
}

// data appends n bytes of a data section: runs of zeros, small integers,
// pointers and random tables.
func (c *genCtx) data(b []byte, n int) []byte {
	end := len(b) + n
	for len(b) < end {
		k := c.r.between(16, 512)
		switch c.r.IntN(4) {
		case 0:
			b = append(b, make([]byte, k)...)
		case 1:
			for range k / 4 {
				b = binary.LittleEndian.AppendUint32(b, uint32(c.r.IntN(256)))
			}
		default:
			b = append(b, c.r.bytes(k)...)
		}
	}
	return b[:end]
}

func align(n, a int) int { return (n + a - 1) / a * a }

// dosStub is the real-mode program that prints the classic message.
var dosStub = append([]byte{0x0e, 0x1f, 0xba, 0x0e, 0x00, 0xb4, 0x09, 0xcd, 0x21, 0xb8, 0x01, 0x4c, 0xcd, 0x21},
	"This program cannot be run in DOS mode.\r\r\n$"...)

// genPE writes a PE32+ executable or DLL: DOS header and stub, PE and
// optional headers, .text/.rdata/.data/.rsrc sections with code-like,
// string and table content, and for big files an installer-style overlay.
// Planted bytes overwrite code in .text.
func genPE(c *genCtx, size int, plants [][]byte) []byte {
	const fileAlign, sectAlign, hdrSize = 0x200, 0x1000, 0x400
	dll := c.r.IntN(4) == 0
	overlay := 0
	if size > 3_000_000 && c.r.IntN(2) == 0 {
		overlay = size * c.r.between(50, 85) / 100
	}
	body := max(size-hdrSize-overlay, 4*fileAlign)
	type section struct {
		name  string
		raw   []byte
		flags uint32
	}
	textN := align(body*55/100, fileAlign)
	rdataN := align(body*25/100, fileAlign)
	dataN := align(body*12/100, fileAlign)
	rsrcN := align(max(body-textN-rdataN-dataN, fileAlign), fileAlign)
	secs := []section{
		{".text", c.code(nil, textN), 0x60000020},
		{".rdata", c.strtab(nil, rdataN, winAPIs), 0x40000040},
		{".data", c.data(nil, dataN), 0xc0000040},
		{".rsrc", c.data(nil, rsrcN), 0x40000040},
	}
	secs[0].raw = overwriteInto(c.r, secs[0].raw, 0, plants)
	for len(secs[0].raw)%fileAlign != 0 {
		secs[0].raw = append(secs[0].raw, 0xcc)
	}

	h := make([]byte, hdrSize)
	le := binary.LittleEndian
	copy(h, "MZ")
	le.PutUint16(h[2:], 0x90)
	le.PutUint16(h[4:], 3)
	le.PutUint16(h[8:], 4)
	le.PutUint16(h[12:], 0xffff)
	le.PutUint16(h[16:], 0xb8)
	le.PutUint16(h[24:], 0x40)
	le.PutUint32(h[0x3c:], 0x80)
	copy(h[0x40:], dosStub)
	pe := h[0x80:]
	copy(pe, "PE\x00\x00")
	coff := pe[4:]
	le.PutUint16(coff[0:], 0x8664)
	le.PutUint16(coff[2:], uint16(len(secs)))
	le.PutUint32(coff[4:], uint32(c.date().Unix()))
	le.PutUint16(coff[16:], 240)
	chars := uint16(0x0022)
	if dll {
		chars |= 0x2000
	}
	le.PutUint16(coff[18:], chars)
	opt := coff[20:]
	le.PutUint16(opt[0:], 0x20b)
	opt[2], opt[3] = 14, byte(c.r.IntN(40))
	le.PutUint32(opt[4:], uint32(textN))
	le.PutUint32(opt[8:], uint32(rdataN+dataN+rsrcN))
	le.PutUint32(opt[16:], sectAlign+uint32(c.r.IntN(textN/16))*16) // entry point in .text
	le.PutUint32(opt[20:], sectAlign)
	base := uint64(0x140000000)
	if dll {
		base = 0x180000000
	}
	le.PutUint64(opt[24:], base)
	le.PutUint32(opt[32:], sectAlign)
	le.PutUint32(opt[36:], fileAlign)
	le.PutUint16(opt[40:], 6)
	le.PutUint16(opt[48:], 6)
	vaddr := sectAlign
	for _, s := range secs {
		vaddr += align(len(s.raw), sectAlign)
	}
	le.PutUint32(opt[56:], uint32(vaddr)) // SizeOfImage
	le.PutUint32(opt[60:], hdrSize)
	le.PutUint16(opt[68:], uint16(2+c.r.IntN(2))) // GUI or console
	le.PutUint16(opt[70:], 0x8160)
	le.PutUint64(opt[72:], 0x100000)
	le.PutUint64(opt[80:], 0x1000)
	le.PutUint64(opt[88:], 0x100000)
	le.PutUint64(opt[96:], 0x1000)
	le.PutUint32(opt[108:], 16)
	// Data directories: import table in .rdata, resources in .rsrc.
	dirs := opt[112:]
	rdataVA := sectAlign + align(len(secs[0].raw), sectAlign)
	le.PutUint32(dirs[1*8:], uint32(rdataVA))
	le.PutUint32(dirs[1*8+4:], 0x28*uint32(c.r.between(2, 6)))
	sh := opt[240:]
	va, off := sectAlign, hdrSize
	for i, s := range secs {
		e := sh[i*40:]
		copy(e, s.name)
		le.PutUint32(e[8:], uint32(len(s.raw)))
		le.PutUint32(e[12:], uint32(va))
		le.PutUint32(e[16:], uint32(len(s.raw)))
		le.PutUint32(e[20:], uint32(off))
		le.PutUint32(e[36:], s.flags)
		if s.name == ".rsrc" {
			le.PutUint32(dirs[2*8:], uint32(va))
			le.PutUint32(dirs[2*8+4:], uint32(len(s.raw)))
		}
		va += align(len(s.raw), sectAlign)
		off += len(s.raw)
	}

	out := make([]byte, 0, off+overlay)
	out = append(out, h...)
	for _, s := range secs {
		out = append(out, s.raw...)
	}
	if overlay > 0 {
		// Installer payload: a small header and compressed-looking data.
		out = fmt.Appendf(out, "NSISarchive\x00%08x", overlay)
		out = append(out, c.r.bytes(overlay)...)
	}
	return out
}

// genELF writes an x86-64 ELF shared object or executable: ELF header, two
// PT_LOAD program headers, .text/.rodata/.data and a section header table
// with .shstrtab. Planted bytes overwrite code in .text.
func genELF(c *genCtx, size int, plants [][]byte) []byte {
	le := binary.LittleEndian
	const hdr = 64 + 2*56
	body := max(size-hdr-5*64-64, 4096)
	textN := align(body*60/100, 16)
	rodataN := align(body*25/100, 16)
	dataN := max(body-textN-rodataN, 64)
	text := overwriteInto(c.r, c.code(nil, textN), 0, plants)
	textN = len(text)

	b := make([]byte, hdr, size+1024)
	textOff := hdr
	b = append(b, text...)
	rodataOff := len(b)
	b = c.strtab(b, rodataN, unixSyms)
	dataOff := len(b)
	b = c.data(b, dataN)
	shstrOff := len(b)
	shstr := []byte("\x00.text\x00.rodata\x00.data\x00.shstrtab\x00")
	b = append(b, shstr...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	shOff := len(b)

	e := b[:64]
	copy(e, "\x7fELF\x02\x01\x01")
	typ := uint16(3) // ET_DYN
	if c.r.IntN(3) == 0 {
		typ = 2 // ET_EXEC
	}
	le.PutUint16(e[16:], typ)
	le.PutUint16(e[18:], 0x3e)
	le.PutUint32(e[20:], 1)
	const vbase = 0x400000
	le.PutUint64(e[24:], uint64(vbase+textOff+c.r.IntN(max(1, textN/16))*16))
	le.PutUint64(e[32:], 64)
	le.PutUint64(e[40:], uint64(shOff))
	le.PutUint16(e[52:], 64)
	le.PutUint16(e[54:], 56)
	le.PutUint16(e[56:], 2)
	le.PutUint16(e[58:], 64)
	le.PutUint16(e[60:], 5)
	le.PutUint16(e[62:], 4)

	ph := b[64:hdr]
	// PT_LOAD r-x: headers, .text, .rodata
	le.PutUint32(ph[0:], 1)
	le.PutUint32(ph[4:], 5)
	le.PutUint64(ph[16:], vbase)
	le.PutUint64(ph[24:], vbase)
	le.PutUint64(ph[32:], uint64(dataOff))
	le.PutUint64(ph[40:], uint64(dataOff))
	le.PutUint64(ph[48:], 0x1000)
	// PT_LOAD rw-: .data
	p2 := ph[56:]
	le.PutUint32(p2[0:], 1)
	le.PutUint32(p2[4:], 6)
	le.PutUint64(p2[8:], uint64(dataOff))
	le.PutUint64(p2[16:], uint64(vbase+0x200000+dataOff))
	le.PutUint64(p2[24:], uint64(vbase+0x200000+dataOff))
	le.PutUint64(p2[32:], uint64(dataN))
	le.PutUint64(p2[40:], uint64(dataN))
	le.PutUint64(p2[48:], 0x1000)

	sec := func(name, typ uint32, flags uint64, addr, off, n int) []byte {
		s := make([]byte, 64)
		le.PutUint32(s[0:], name)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[8:], flags)
		le.PutUint64(s[16:], uint64(addr))
		le.PutUint64(s[24:], uint64(off))
		le.PutUint64(s[32:], uint64(n))
		le.PutUint64(s[48:], 16)
		return s
	}
	b = append(b, make([]byte, 64)...) // SHN_UNDEF
	b = append(b, sec(1, 1, 6, vbase+textOff, textOff, textN)...)
	b = append(b, sec(7, 1, 2, vbase+rodataOff, rodataOff, rodataN)...)
	b = append(b, sec(15, 1, 3, vbase+0x200000+dataOff, dataOff, dataN)...)
	b = append(b, sec(21, 3, 0, 0, shstrOff, len(shstr))...)
	return b
}
