// Package heapfloor gives a daemon's garbage collector a minimum headroom.
//
// Go starts a collection when the heap has grown by GOGC percent (100 by
// default) over the live heap of the last one. aveserver and smtpscanner
// keep a small live heap (8 MB with the shipped database) and allocate a
// few hundred kilobytes per message, so with GOGC=100 they collected every
// 40 or so messages, and the collections (their mark work, the worker
// wake-ups, the pages returned to the system and faulted in again) took a
// third of aveserver's CPU per message. Start keeps the next collection
// from starting before the heap has grown by a fixed number of bytes, while
// a large live heap (a big signature database) still gets GOGC=100's
// proportional headroom: the heap goal is max(2 x live, live + min).
package heapfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The runtime's heap goal is live + (live + stacks + globals) x GOGC/100.
var rootMetrics = []string{"/gc/heap/live:bytes", "/gc/scan/stack:bytes", "/gc/scan/globals:bytes"}

// Default is the headroom the daemons give Start: 64 MiB, a few hundred
// messages' worth of garbage between collections.
const Default = 64 << 20

var (
	running  atomic.Bool
	headroom atomic.Int64 // in bytes; 0 = stopped
	percent  atomic.Int64 // the GOGC value last set
)

// Start sets the headroom to minBytes and keeps GOGC adjusted after every
// collection. It does nothing and returns false when GOGC is set in the
// environment (the operator's setting wins) or minBytes <= 0. Calling it
// again changes the headroom.
func Start(minBytes int64) bool {
	if minBytes <= 0 || os.Getenv("GOGC") != "" {
		return false
	}
	headroom.Store(minBytes)
	adjust()
	if running.CompareAndSwap(false, true) {
		arm()
	}
	return true
}

// stop returns to GOGC=100 and stops adjusting (tests).
func stop() {
	headroom.Store(0)
	percent.Store(100)
	debug.SetGCPercent(100)
}

// percentInForce is the GOGC value set last (100 when Start was not called).
func percentInForce() int {
	if p := percent.Load(); p > 0 {
		return int(p)
	}
	return 100
}

// sentinel is allocated for one collection cycle: its cleanup runs after
// the collection that found it unreachable. It holds a pointer so that it
// is not a tiny allocation (those may share a block and never be freed).
type sentinel struct {
	p *int64
	_ [2]uint64
}

// arm registers the cleanup that adjusts GOGC after the next collection
// and arms the one after it.
func arm() {
	s := &sentinel{}
	runtime.AddCleanup(s, func(struct{}) {
		if headroom.Load() == 0 {
			running.Store(false)
			return
		}
		adjust()
		arm()
	}, struct{}{})
}

// adjust sets GOGC so that the next goal is at least live + the headroom.
func adjust() {
	m := headroom.Load()
	if m == 0 {
		return
	}
	s := make([]metrics.Sample, len(rootMetrics))
	for i, n := range rootMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	base := int64(0)
	for _, v := range s {
		if v.Value.Kind() == metrics.KindUint64 {
			base += int64(v.Value.Uint64())
		}
	}
	p := goal(base, m)
	old := percent.Load()
	// Small changes are not worth a call: the goal moves with the live
	// heap anyway.
	if old > 0 && p*10 >= old*9 && p*10 <= old*11 {
		return
	}
	percent.Store(p)
	debug.SetGCPercent(int(p))
}

// goal is the GOGC percent that gives a headroom of room over base (the
// live heap, stacks and globals), at least 100. A base under 4 MiB counts
// as 4 MiB: the runtime never sets a goal under 4 MiB x GOGC/100, so a
// smaller base would give a goal far above base + room.
func goal(base, room int64) int64 {
	base = max(base, 4<<20)
	p := (room*100 + base - 1) / base
	return max(100, p)
}
