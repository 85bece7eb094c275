package heapfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
)

var sink []byte

// churn allocates n bytes of short-lived garbage in 64 KiB pieces and
// returns how many collections ran meanwhile.
func churn(n int) uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumGC
	for i := 0; i < n; i += 64 << 10 {
		sink = make([]byte, 64<<10)
	}
	runtime.ReadMemStats(&ms)
	return ms.NumGC - before
}

func TestHeadroomCutsCollections(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	runtime.GC()
	base := churn(256 << 20)

	if !Start(64 << 20) {
		t.Fatal("Start refused with GOGC unset")
	}
	defer stop()
	if percentInForce() <= 100 {
		t.Fatalf("GOGC %d with a live heap of a few MB and 64 MiB of headroom", percentInForce())
	}
	runtime.GC()
	floor := churn(256 << 20)
	// 256 MiB of garbage over 64 MiB of headroom: about 4 collections;
	// the test binary's live heap is a few MB, so GOGC=100 gives dozens.
	if floor > 8 || base < 2*floor {
		t.Fatalf("collections during 256 MiB of garbage: %d with GOGC=100, %d with the floor", base, floor)
	}
	// The cleanup keeps adjusting after collections: still in force.
	if percentInForce() <= 100 {
		t.Fatalf("GOGC back to %d after %d collections", percentInForce(), floor)
	}
	t.Logf("collections: %d at GOGC=100, %d with 64 MiB of headroom (GOGC=%d)", base, floor, percentInForce())
}

func TestGOGCFromTheEnvironmentWins(t *testing.T) {
	t.Setenv("GOGC", "50")
	if Start(64 << 20) {
		t.Fatal("Start overrode GOGC=50 from the environment")
	}
	if Start(0) {
		t.Fatal("Start(0) claimed to set a headroom")
	}
}

func TestGoal(t *testing.T) {
	for _, c := range []struct{ live, min, want int64 }{
		{8 << 20, 64 << 20, 800},
		{100 << 20, 64 << 20, 100}, // a big live heap keeps GOGC=100's headroom
		{0, 64 << 20, 1600},        // near-empty heap: counted as 4 MiB
		{6 << 20, 64 << 20, 1067},  // rounded up
	} {
		if got := goal(c.live, c.min); got != c.want {
			t.Errorf("goal(%d, %d) = %d, want %d", c.live, c.min, got, c.want)
		}
	}
}
