package main

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
)

// Random streams. Each consumer gets its own stream so that adding output
// to one does not shift the bytes of another.
const (
	streamHashes = 1
	streamNDB    = 2
	streamYARA   = 3
	streamPlan   = 4
	streamFiles  = 1 << 32 // + file index
)

// rnd is a seeded ChaCha8 generator with helpers.
type rnd struct {
	*rand.Rand
	cc *rand.ChaCha8
}

func newRnd(seed, stream uint64) *rnd {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[0:], seed)
	binary.LittleEndian.PutUint64(s[8:], stream)
	copy(s[16:], "ave-benchgen-v1!")
	cc := rand.NewChaCha8(s)
	return &rnd{Rand: rand.New(cc), cc: cc}
}

// fill fills b with random bytes.
func (r *rnd) fill(b []byte) { _, _ = r.cc.Read(b) }

// bytes returns n random bytes.
func (r *rnd) bytes(n int) []byte {
	b := make([]byte, n)
	r.fill(b)
	return b
}

// between returns a uniform int in [lo, hi].
func (r *rnd) between(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + r.IntN(hi-lo+1)
}

// logUniform returns an int in [lo, hi] whose logarithm is uniform.
func (r *rnd) logUniform(lo, hi int) int {
	l, h := math.Log(float64(lo)), math.Log(float64(hi))
	v := int(math.Exp(l + r.Float64()*(h-l)))
	return min(max(v, lo), hi)
}

// chance reports true with probability p.
func (r *rnd) chance(p float64) bool { return r.Float64() < p }

// pick returns a random element.
func pick[T any](r *rnd, s []T) T { return s[r.IntN(len(s))] }

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }
