package sigdb

import (
	"bytes"
	"slices"
	"strings"
)

// Body signatures are matched by their own YARA rules, and those rules are
// run only on an object that may match: every signature's YARA string has
// runs of fixed bytes (outside alternatives, between jumps and wildcards)
// that every match contains, so an object lacking any of them cannot match
// that signature. The filter looks for one 4-byte window of each
// signature's longest run (its key) with a bit set and a sorted table, and
// on a hit checks the whole run at that place and the signature's other
// runs of 3 or more bytes anywhere in the object. That costs about a
// nanosecond a byte and nothing per object; libyara's scan with the same
// strings costs several nanoseconds a byte and some 100 µs a scan to
// evaluate the bundles' conditions. Random data of a megabyte holds a given
// 4-byte key with a chance of 1 in 4,000: the whole run and the other runs
// keep such hits from running the rules.

// filterWords is log2 of the 64-bit words of the key filter (64 KiB). A
// key sets two bits of one word; for 20,000 keys a random 4 bytes finds
// both of its bits set about once in 200 places, and then the key table
// is looked up.
const filterWords = 13

// smallSet is the most anchors looked for one by one with bytes.Index
// (which skips through the data on its first byte with vector
// instructions) instead of the key filter's pass over every byte: a few
// signatures (a small or test DB) then cost a fraction of the pass.
const smallSet = 4

// maxAnchorRuns bounds the runs checked besides the key's.
const maxAnchorRuns = 4

// anchor is what one signature needs in an object.
type anchor struct {
	run  []byte   // the run holding the key
	key  int      // where the key starts in run
	more [][]byte // other runs of 3 or more bytes, longest first
}

// anchorFilter says whether some signature's anchor is in a byte slice.
type anchorFilter struct {
	// always is set when some signature has no run of 2 or more bytes:
	// every object may match it.
	always bool
	// keys are the 4-byte keys (little-endian), sorted, anchors[i] the
	// anchor of keys[i]; bits is the filter in front of them and table an
	// open-addressing hash of the distinct keys: the key in the high 32
	// bits, 1 + its first index in keys in the low ones (0 is a free slot).
	keys    []uint32
	anchors []anchor
	bits    *[1 << filterWords]uint64
	table   []uint64
	// short are the anchors whose longest run has 2 or 3 bytes, and
	// shortBits one bit per first two bytes of their runs.
	short     []anchor
	shortBits *[1 << 10]uint64
}

// hashKey spreads a key: the top bits choose the filter word, the low 12
// its two bits, the middle ones the slot in the table.
func hashKey(v uint32) uint64 { return uint64(v) * 0x9E3779B97F4A7C15 }

func keyBits(h uint64) uint64 { return 1<<(h&63) | 1<<((h>>6)&63) }

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// newAnchorFilter builds the filter of sigs.
func newAnchorFilter(sigs []BodySig) *anchorFilter {
	f := &anchorFilter{bits: new([1 << filterWords]uint64)}
	type keyed struct {
		key uint32
		a   anchor
	}
	var ks []keyed
	for i := range sigs {
		a, ok := anchorOf(sigs[i].Hex)
		switch {
		case !ok:
			f.always = true
		case len(a.run) >= 4:
			k := le32(a.run[a.key:])
			ks = append(ks, keyed{k, a})
			h := hashKey(k)
			f.bits[h>>(64-filterWords)] |= keyBits(h)
		default:
			if f.shortBits == nil {
				f.shortBits = new([1 << 10]uint64)
			}
			p := shortKey(a)
			f.shortBits[p>>6] |= 1 << (p & 63)
			f.short = append(f.short, a)
		}
	}
	slices.SortFunc(ks, func(x, y keyed) int {
		if x.key != y.key {
			if x.key < y.key {
				return -1
			}
			return 1
		}
		return bytes.Compare(x.a.run, y.a.run)
	})
	slices.SortStableFunc(f.short, func(x, y anchor) int { return int(shortKey(x)) - int(shortKey(y)) })
	for _, k := range ks {
		f.keys = append(f.keys, k.key)
		f.anchors = append(f.anchors, k.a)
	}
	size := 16
	for size < 2*len(f.keys) {
		size *= 2
	}
	f.table = make([]uint64, size)
	for i, k := range f.keys {
		if i > 0 && f.keys[i-1] == k {
			continue
		}
		for j := tableSlot(k, size); ; j = (j + 1) & (size - 1) {
			if f.table[j] == 0 {
				f.table[j] = uint64(k)<<32 | uint64(i+1)
				break
			}
		}
	}
	return f
}

func tableSlot(k uint32, size int) int { return int(hashKey(k)>>20) & (size - 1) }

// mayMatch reports whether data holds some signature's anchor.
func (f *anchorFilter) mayMatch(data []byte) bool {
	if f.always {
		return true
	}
	s := &scan{data: data}
	if f.shortBits != nil && f.hasShort(s) {
		return true
	}
	if len(f.keys) <= smallSet {
		return f.hasRun(s)
	}
	return f.hasKey(s)
}

// hasRun looks for each anchor's run with bytes.Index (small sets).
func (f *anchorFilter) hasRun(s *scan) bool {
	for j := range f.anchors {
		a := &f.anchors[j]
		if bytes.Contains(s.data, a.run) && s.hit(a) {
			return true
		}
	}
	return false
}

func (f *anchorFilter) hasKey(s *scan) bool {
	data := s.data
	if len(data) < 4 {
		return false
	}
	bits := f.bits
	v := uint32(data[0])<<8 | uint32(data[1])<<16 | uint32(data[2])<<24
	for i, c := range data[3:] {
		v = v>>8 | uint32(c)<<24
		h := hashKey(v)
		m := keyBits(h)
		if bits[h>>(64-filterWords)]&m == m && f.keyHit(s, i, v) {
			return true
		}
	}
	return false
}

// keyHit checks the anchors of key v, found at data[i:i+4].
func (f *anchorFilter) keyHit(s *scan, i int, v uint32) bool {
	size := len(f.table)
	j := -1
	for t := tableSlot(v, size); f.table[t] != 0; t = (t + 1) & (size - 1) {
		if uint32(f.table[t]>>32) == v {
			j = int(uint32(f.table[t])) - 1
			break
		}
	}
	if j < 0 {
		return false
	}
	for ; j < len(f.keys) && f.keys[j] == v; j++ {
		a := &f.anchors[j]
		if a.at(s.data, i-a.key) && s.hit(a) {
			return true
		}
	}
	return false
}

func (f *anchorFilter) hasShort(s *scan) bool {
	data, bits := s.data, f.shortBits
	for i := 0; i+1 < len(data); i++ {
		p := uint16(data[i]) | uint16(data[i+1])<<8
		if bits[(p>>6)&(1<<10-1)]&(1<<(p&63)) == 0 {
			continue
		}
		j, _ := slices.BinarySearchFunc(f.short, p, func(a anchor, p uint16) int { return int(shortKey(a)) - int(p) })
		for ; j < len(f.short) && shortKey(f.short[j]) == p; j++ {
			if a := &f.short[j]; a.at(data, i) && s.hit(a) {
				return true
			}
		}
	}
	return false
}

func shortKey(a anchor) uint16 { return uint16(a.run[0]) | uint16(a.run[1])<<8 }

// at reports whether a's run is at data[at:].
func (a *anchor) at(data []byte, at int) bool {
	return at >= 0 && at+len(a.run) <= len(data) && bytes.Equal(data[at:at+len(a.run)], a.run)
}

// scan is one mayMatch call: it remembers which anchors' other runs were
// looked for, so that a run found at many places costs one search of the
// object, not one per place.
type scan struct {
	data []byte
	more map[*anchor]bool
}

// hit reports whether anchor a, whose run is at some place of the data,
// has its other runs in the data too.
func (s *scan) hit(a *anchor) bool {
	if len(a.more) == 0 {
		return true
	}
	if ok, seen := s.more[a]; seen {
		return ok
	}
	ok := true
	for _, r := range a.more {
		if !bytes.Contains(s.data, r) {
			ok = false
			break
		}
	}
	if s.more == nil {
		s.more = map[*anchor]bool{}
	}
	s.more[a] = ok
	return ok
}

// anchorOf returns the anchor of the YARA hex string hex (as YARASource
// writes it: "4D 5A ?? [2-4] ( 41 | 42 )"): its longest run of fixed bytes
// outside alternatives, the 4 bytes of that run least common in ordinary
// files as the key, and its other runs of 3 or more bytes. ok is false when
// no run has 2 bytes.
func anchorOf(hex string) (a anchor, ok bool) {
	var runs [][]byte
	var run []byte
	end := func() {
		if len(run) >= 2 {
			runs = append(runs, run)
		}
		run = nil
	}
	depth := 0
	for _, tok := range strings.Fields(hex) {
		switch {
		case tok == "(":
			depth++
			end()
		case tok == ")":
			depth--
		case depth > 0:
		case len(tok) == 2 && isHexDigit(tok[0]) && isHexDigit(tok[1]):
			run = append(run, unhex(tok[0])<<4|unhex(tok[1]))
		default: // a jump or a wildcard
			end()
		}
	}
	end()
	if len(runs) == 0 {
		return anchor{}, false
	}
	slices.SortStableFunc(runs, func(x, y []byte) int { return len(y) - len(x) })
	a.run = runs[0]
	if len(a.run) > 4 {
		best := -1
		for i := 0; i+4 <= len(a.run); i++ {
			if s := anchorScore(a.run[i : i+4]); s > best {
				best, a.key = s, i
			}
		}
	}
	for _, r := range runs[1:] {
		if len(r) >= 3 && len(a.more) < maxAnchorRuns {
			a.more = append(a.more, r)
		}
	}
	return a, true
}

func isHexDigit(c byte) bool { return c != '?' && isHexOrQ(c) }

// anchorScore rates a window of anchor bytes: higher is rarer in ordinary
// files (zero, space, line ends and 0xFF are the most common bytes, then
// the rest of printable ASCII); a repeated byte counts once.
func anchorScore(w []byte) int {
	s := 0
	for i, b := range w {
		if slices.Contains(w[:i], b) {
			continue
		}
		switch {
		case b == 0 || b == 0xFF || b == ' ' || b == '\n' || b == '\r':
			s++
		case b >= 0x20 && b < 0x7F:
			s += 2
		default:
			s += 4
		}
	}
	return s
}
