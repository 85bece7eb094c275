package hashsig

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

func sumOf(kind Kind, data string) []byte {
	switch kind {
	case MD5:
		s := md5.Sum([]byte(data))
		return s[:]
	case SHA1:
		s := sha1.Sum([]byte(data))
		return s[:]
	case SHA256:
		s := sha256.Sum256([]byte(data))
		return s[:]
	}
	panic("bad kind")
}

func TestKind(t *testing.T) {
	tests := []struct {
		k    Kind
		name string
		size int
	}{
		{MD5, "MD5", 16},
		{SHA1, "SHA1", 20},
		{SHA256, "SHA256", 32},
		{0, "Kind(0)", 0},
		{9, "Kind(9)", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.k.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got := tt.k.Size(); got != tt.size {
				t.Errorf("Size() = %d, want %d", got, tt.size)
			}
			if tt.size != 0 {
				if k, ok := KindOfSize(tt.size); !ok || k != tt.k {
					t.Errorf("KindOfSize(%d) = %v, %v", tt.size, k, ok)
				}
			}
		})
	}
	if _, ok := KindOfSize(17); ok {
		t.Error("KindOfSize(17) ok")
	}
}

func testSet() *Set {
	var b Builder
	b.Add(MD5, sumOf(MD5, "md5-exact"), 100, "Test.MD5.Exact")
	b.Add(MD5, sumOf(MD5, "md5-any"), AnySize, "Test.MD5.Any")
	b.Add(MD5, sumOf(MD5, "md5-two-sizes"), 10, "Test.MD5.Ten")
	b.Add(MD5, sumOf(MD5, "md5-two-sizes"), 20, "Test.MD5.Twenty")
	b.Add(MD5, sumOf(MD5, "md5-dup"), 30, "Test.MD5.Dup")
	b.Add(MD5, sumOf(MD5, "md5-dup"), 30, "Test.MD5.Dup")
	b.Add(SHA1, sumOf(SHA1, "sha1-exact"), 200, "Test.SHA1.Exact")
	b.Add(SHA1, sumOf(SHA1, "sha1-any"), -5, "Test.SHA1.Any")
	b.Add(SHA256, sumOf(SHA256, "sha256-exact"), 300, "Test.SHA256.Exact")
	b.Add(SHA256, sumOf(SHA256, "sha256-any"), AnySize, "Test.SHA256.Any")
	return b.Build()
}

func TestLookup(t *testing.T) {
	s := testSet()
	tests := []struct {
		name string
		kind Kind
		sum  []byte
		size int64
		want string // "" = no match
	}{
		{"md5 hit", MD5, sumOf(MD5, "md5-exact"), 100, "Test.MD5.Exact"},
		{"md5 size mismatch", MD5, sumOf(MD5, "md5-exact"), 101, ""},
		{"md5 miss", MD5, sumOf(MD5, "nothing"), 100, ""},
		{"md5 any size small", MD5, sumOf(MD5, "md5-any"), 1, "Test.MD5.Any"},
		{"md5 any size large", MD5, sumOf(MD5, "md5-any"), 1 << 40, "Test.MD5.Any"},
		{"md5 same digest first size", MD5, sumOf(MD5, "md5-two-sizes"), 10, "Test.MD5.Ten"},
		{"md5 same digest second size", MD5, sumOf(MD5, "md5-two-sizes"), 20, "Test.MD5.Twenty"},
		{"md5 same digest other size", MD5, sumOf(MD5, "md5-two-sizes"), 15, ""},
		{"md5 duplicate entry", MD5, sumOf(MD5, "md5-dup"), 30, "Test.MD5.Dup"},
		{"sha1 hit", SHA1, sumOf(SHA1, "sha1-exact"), 200, "Test.SHA1.Exact"},
		{"sha1 size mismatch", SHA1, sumOf(SHA1, "sha1-exact"), 100, ""},
		{"sha1 any size (negative size given)", SHA1, sumOf(SHA1, "sha1-any"), 7, "Test.SHA1.Any"},
		{"sha1 miss", SHA1, sumOf(SHA1, "x"), 200, ""},
		{"sha256 hit", SHA256, sumOf(SHA256, "sha256-exact"), 300, "Test.SHA256.Exact"},
		{"sha256 any size", SHA256, sumOf(SHA256, "sha256-any"), 0, "Test.SHA256.Any"},
		{"sha256 size mismatch", SHA256, sumOf(SHA256, "sha256-exact"), 299, ""},
		{"sha256 miss", SHA256, sumOf(SHA256, "x"), 300, ""},
		{"kind mismatch md5 digest as sha256", SHA256, append(sumOf(MD5, "md5-exact"), make([]byte, 16)...), 100, ""},
		{"wrong digest length", MD5, sumOf(SHA1, "sha1-exact"), 200, ""},
		{"invalid kind", 0, sumOf(MD5, "md5-exact"), 100, ""},
		{"same first 8 bytes different rest", MD5, append(sumOf(MD5, "md5-exact")[:8:8], make([]byte, 8)...), 100, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.Lookup(tt.kind, tt.sum, tt.size)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Lookup = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestNeed(t *testing.T) {
	var b Builder
	b.Add(MD5, sumOf(MD5, "a"), 100, "a")
	b.Add(SHA1, sumOf(SHA1, "b"), 100, "b")
	b.Add(SHA1, sumOf(SHA1, "c"), 200, "c")
	b.Add(SHA256, sumOf(SHA256, "d"), AnySize, "d")
	s := b.Build()

	tests := []struct {
		name              string
		set               *Set
		size              int64
		md5, sha1, sha256 bool
	}{
		{"size shared by md5 and sha1", s, 100, true, true, true},
		{"size of sha1 only", s, 200, false, true, true},
		{"unknown size: only any-size kinds", s, 300, false, false, true},
		{"zero size", s, 0, false, false, true},
		{"empty set", (&Builder{}).Build(), 100, false, false, false},
		{"nil set", nil, 100, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s1, s2 := tt.set.Need(tt.size)
			if m != tt.md5 || s1 != tt.sha1 || s2 != tt.sha256 {
				t.Errorf("Need(%d) = %v %v %v, want %v %v %v", tt.size, m, s1, s2, tt.md5, tt.sha1, tt.sha256)
			}
		})
	}
}

func TestEmptySet(t *testing.T) {
	for name, s := range map[string]*Set{"built empty": (&Builder{}).Build(), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			if s.Len() != 0 {
				t.Errorf("Len = %d", s.Len())
			}
			for _, k := range []Kind{MD5, SHA1, SHA256} {
				if s.Count(k) != 0 {
					t.Errorf("Count(%v) = %d", k, s.Count(k))
				}
				if _, ok := s.Lookup(k, make([]byte, k.Size()), 0); ok {
					t.Errorf("Lookup(%v) hit in empty set", k)
				}
			}
		})
	}
}

func TestCounts(t *testing.T) {
	s := testSet()
	tests := []struct {
		kind Kind
		want int
	}{{MD5, 6}, {SHA1, 2}, {SHA256, 2}, {0, 0}}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			if got := s.Count(tt.kind); got != tt.want {
				t.Errorf("Count = %d, want %d", got, tt.want)
			}
		})
	}
	if s.Len() != 10 {
		t.Errorf("Len = %d, want 10", s.Len())
	}
}

func TestBuilderReset(t *testing.T) {
	var b Builder
	b.Add(MD5, sumOf(MD5, "a"), 1, "a")
	s1 := b.Build()
	b.Add(MD5, sumOf(MD5, "b"), 2, "b")
	s2 := b.Build()
	if s1.Len() != 1 || s2.Len() != 1 {
		t.Fatalf("Len = %d, %d; want 1, 1", s1.Len(), s2.Len())
	}
	if _, ok := s2.Lookup(MD5, sumOf(MD5, "a"), 1); ok {
		t.Error("second set holds an entry of the first")
	}
	if n, ok := s1.Lookup(MD5, sumOf(MD5, "a"), 1); !ok || n != "a" {
		t.Error("first set lost its entry")
	}
}

func TestAddPanics(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		sum  []byte
	}{
		{"invalid kind", 0, make([]byte, 16)},
		{"short digest", MD5, make([]byte, 15)},
		{"sha1 length for sha256", SHA256, make([]byte, 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Add did not panic")
				}
			}()
			var b Builder
			b.Add(tt.kind, tt.sum, 1, "x")
		})
	}
}

// TestManyRandom checks every inserted entry is found and unrelated digests
// are not, across enough entries that the filter and the binary search are
// both exercised, and names survive the blob encoding.
func TestManyRandom(t *testing.T) {
	const n = 50000
	r := rand.New(rand.NewPCG(1, 2))
	var b Builder
	type ent struct {
		kind Kind
		sum  []byte
		size int64
		name string
	}
	ents := make([]ent, n)
	for i := range ents {
		k := Kind(1 + i%3)
		sum := make([]byte, k.Size())
		for j := range sum {
			sum[j] = byte(r.Uint32())
		}
		size := int64(r.IntN(5000))
		if i%17 == 0 {
			size = AnySize
		}
		name := fmt.Sprintf("Rnd.%d.%s", i, k)
		if i%5 == 0 {
			name = "Shared.Name" // consecutive repeats are stored once
		}
		ents[i] = ent{k, sum, size, name}
		b.Add(k, sum, size, name)
	}
	s := b.Build()
	if s.Len() != n {
		t.Fatalf("Len = %d, want %d", s.Len(), n)
	}
	for _, e := range ents {
		size := e.size
		if size == AnySize {
			size = 123456
		}
		got, ok := s.Lookup(e.kind, e.sum, size)
		if !ok {
			t.Fatalf("entry %s not found", e.name)
		}
		// Random 8-byte prefixes do not collide here, so the name is exact.
		if got != e.name {
			t.Fatalf("Lookup name = %q, want %q", got, e.name)
		}
		m, s1, s2 := s.Need(size)
		if need := [...]bool{m, s1, s2}[e.kind-1]; !need {
			t.Fatalf("Need(%d) false for %v", size, e.kind)
		}
	}
	misses := 0
	for i := 0; i < n; i++ {
		sum := make([]byte, 16)
		binary.LittleEndian.PutUint64(sum, r.Uint64())
		binary.LittleEndian.PutUint64(sum[8:], r.Uint64())
		if _, ok := s.Lookup(MD5, sum, 1); !ok {
			misses++
		}
	}
	if misses != n {
		t.Errorf("%d random digests matched", n-misses)
	}
}

func TestConcurrentLookup(t *testing.T) {
	s := testSet()
	hit := sumOf(MD5, "md5-exact")
	miss := sumOf(MD5, "nope")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if _, ok := s.Lookup(MD5, hit, 100); !ok {
					t.Error("hit missed")
					return
				}
				if _, ok := s.Lookup(MD5, miss, 100); ok {
					t.Error("miss hit")
					return
				}
				s.Need(100)
			}
		}()
	}
	wg.Wait()
}

// buildRandomMD5 builds a set of n MD5 entries with distinct sizes and
// names (the worst case for memory) and returns it with the heap bytes it
// holds and some of its digests.
func buildRandomMD5(n int) (*Set, uint64, [][]byte) {
	r := rand.New(rand.NewPCG(42, 42))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var b Builder
	hits := make([][]byte, 0, 1024)
	sum := make([]byte, 16)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(sum, r.Uint64())
		binary.LittleEndian.PutUint64(sum[8:], r.Uint64())
		if len(hits) < cap(hits) {
			hits = append(hits, append([]byte(nil), sum...))
		}
		b.Add(MD5, sum, int64(1000+i), fmt.Sprintf("Win.Trojan.Agent-%d-0", 1000000+i))
	}
	s := b.Build()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	held := after.HeapAlloc - before.HeapAlloc
	for _, h := range hits {
		held -= uint64(len(h))
	}
	return s, held, hits
}

func BenchmarkLookup(b *testing.B) {
	const n = 1_000_000
	s, held, hits := buildRandomMD5(n)
	b.Logf("%d MD5 entries: %d heap bytes = %.1f bytes/entry (names are 25 bytes each)", n, held, float64(held)/n)

	r := rand.New(rand.NewPCG(7, 7))
	misses := make([][]byte, 1024)
	for i := range misses {
		m := make([]byte, 16)
		binary.LittleEndian.PutUint64(m, r.Uint64())
		binary.LittleEndian.PutUint64(m[8:], r.Uint64())
		misses[i] = m
	}

	b.Run("miss-1M", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok := s.Lookup(MD5, misses[i&1023], 5000); ok {
				b.Fatal("random digest matched")
			}
		}
		b.ReportMetric(float64(held)/n, "heapB/entry")
	})
	b.Run("hit-1M", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			j := i & 1023
			if _, ok := s.Lookup(MD5, hits[j], int64(1000+j)); !ok {
				b.Fatal("hit missed")
			}
		}
		b.ReportMetric(float64(held)/n, "heapB/entry")
	})
	b.Run("need-1M", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			s.Need(int64(i & 0xfffff))
		}
	})
	runtime.KeepAlive(s)
}

func BenchmarkBuild(b *testing.B) {
	for b.Loop() {
		buildRandomMD5(1_000_000)
	}
}
