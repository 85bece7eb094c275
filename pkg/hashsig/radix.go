package hashsig

// kv is a key with a 32-bit payload, the unit radixSort orders.
type kv struct {
	key uint64
	val uint32
}

// radixSort sorts s by key, stably, in four passes of 16 bits. For the
// million-entry sets of real databases it is several times faster than a
// comparison sort. tmp must have len(s).
func radixSort(s, tmp []kv) {
	var count [1 << 16]int
	src, dst := s, tmp
	for shift := uint(0); shift < 64; shift += 16 {
		clear(count[:])
		for i := range src {
			count[uint16(src[i].key>>shift)]++
		}
		if count[uint16(src[0].key>>shift)] == len(src) {
			continue // every key has the same digit here
		}
		pos := 0
		for d := range count {
			c := count[d]
			count[d] = pos
			pos += c
		}
		for i := range src {
			d := uint16(src[i].key >> shift)
			dst[count[d]] = src[i]
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &s[0] {
		copy(s, src)
	}
}
