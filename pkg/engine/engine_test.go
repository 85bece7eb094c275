package engine

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"testing"
	"time"

	"ave/internal/testkit"
	"ave/pkg/sigdb"
	"ave/pkg/verdict"
)

func newEngine(t *testing.T, extra map[string]string, opt Options) *Engine {
	t.Helper()
	dir := t.TempDir()
	testkit.WriteDB(t, dir, extra)
	db, err := sigdb.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := New(db, opt)
	t.Cleanup(func() { e.Swap(db) }) // drop the engine's reference cleanly
	return e
}

func scan(t *testing.T, e *Engine, name string, data []byte) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := e.Scan(ctx, Request{Name: name, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEngineMatchesEachSignatureKind(t *testing.T) {
	sum := md5.Sum([]byte("hash-only sample"))
	e := newEngine(t, map[string]string{"t.hdb": fmt.Sprintf("%x:16:Test.Hash.Sample\n", sum)}, Options{})
	for _, tc := range []struct {
		name, data, wantName, wantEngine string
	}{
		{"yara", testkit.EICAR, "EICAR-Test-File", verdict.EngineYARA},
		{"hash", "hash-only sample", "Test.Hash.Sample", verdict.EngineHash},
		{"body", "zz" + testkit.BodyPattern + "zz", "Test.Body.Pattern", verdict.EngineBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := scan(t, e, tc.name, []byte(tc.data))
			if r.Status != verdict.Infected || len(r.Detections) != 1 || r.Detections[0].Name != tc.wantName || r.Detections[0].Engine != tc.wantEngine {
				t.Fatalf("got %+v", r.Result)
			}
		})
	}
	// The hash signature is bound to its size: one byte more is clean.
	if r := scan(t, e, "other", []byte("hash-only sample!")); r.Status != verdict.Clean {
		t.Fatalf("size mismatch must not match: %+v", r.Result)
	}
}

func TestAllowListAndIgnoredNamesSuppressDetections(t *testing.T) {
	eicarMD5 := md5.Sum([]byte(testkit.EICAR))
	e := newEngine(t, map[string]string{
		"ok.fp":      fmt.Sprintf("%x:%d:Known.Good\n", eicarMD5, len(testkit.EICAR)),
		"quiet.ign2": "Test.Body.Pattern\n",
	}, Options{})
	if r := scan(t, e, "eicar", []byte(testkit.EICAR)); r.Status != verdict.Clean {
		t.Fatalf("allow-listed file: %+v", r.Result)
	}
	if r := scan(t, e, "body", []byte(testkit.BodyPattern)); r.Status != verdict.Clean {
		t.Fatalf("ignored name: %+v", r.Result)
	}
}

func TestAdmitFailsAtOnceWhenWorkersAndQueueAreFull(t *testing.T) {
	e := newEngine(t, nil, Options{Workers: 2, QueueLength: 3})
	var held []*Ticket
	for i := 0; i < 5; i++ {
		tk, err := e.Admit()
		if err != nil {
			t.Fatalf("admission %d: %v", i, err)
		}
		held = append(held, tk)
	}
	if _, err := e.Admit(); !errors.Is(err, ErrBusy) {
		t.Fatalf("sixth admission: want ErrBusy, got %v", err)
	}
	held[0].Release()
	held[0].Release() // a second release must not free a second place
	tk, err := e.Admit()
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := e.Admit(); !errors.Is(err, ErrBusy) {
		t.Fatalf("double release freed two places: %v", err)
	}
	tk.Release()
	for _, h := range held[1:] {
		h.Release()
	}
	if s := e.Stats(); s.Totals["BUSY"] != 2 || s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWaitingForAWorkerHonoursTheCallersDeadline(t *testing.T) {
	e := newEngine(t, nil, Options{Workers: 1, QueueLength: 4})
	e.slots <- struct{}{} // the only worker is taken
	defer func() { <-e.slots }()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.Scan(ctx, Request{Name: "x", Data: []byte("x")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline error, got %v", err)
	}
}

func TestCacheKeepsLimitsAndUnsupportedButNotTimeouts(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   bool
	}{
		{"limit: nesting deeper than MaxDepth 16", true},
		{"limit: scan time exceeded MaxScanTime", false},
		{"internal error: panic while matching: boom", false},
		{"error: yarascan: something", false},
		{"unsupported: zip: compression method 98", true},
	} {
		r := verdict.Result{}
		r.Add(verdict.Detection{Status: verdict.Unchecked, Reason: tc.reason})
		if got := cacheable(r); got != tc.want {
			t.Errorf("cacheable(%q) = %v, want %v", tc.reason, got, tc.want)
		}
	}
}

func TestCacheIsBoundedLRU(t *testing.T) {
	c := newCache(2)
	k := func(n string) cacheKey { return cacheKey{name: n} }
	c.put(k("a"), verdict.Result{Objects: 1}, false)
	c.put(k("b"), verdict.Result{Objects: 2}, false)
	if _, ok := c.get(k("a"), false); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put(k("c"), verdict.Result{Objects: 3}, false)
	if _, ok := c.get(k("b"), false); ok {
		t.Fatal("b should have been evicted")
	}
	if c.len() != 2 {
		t.Fatalf("len %d", c.len())
	}
	var off *cache
	off.put(k("x"), verdict.Result{}, false)
	if _, ok := off.get(k("x"), false); ok || off.len() != 0 {
		t.Fatal("a nil cache must stay empty")
	}
}

func TestSwapFreesTheOldDatabaseOnlyAfterItsLastScan(t *testing.T) {
	e := newEngine(t, nil, Options{})
	ref := e.acquireDB() // a scan in flight
	dir := t.TempDir()
	testkit.WriteDB(t, dir, nil)
	db2, err := sigdb.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e.Swap(db2)
	if ref.refs.Load() != 1 {
		t.Fatalf("old DB refs %d, want 1 (the scan's)", ref.refs.Load())
	}
	sc, err := ref.getScanners() // the old rules still work
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sc.rules.Scan([]byte(testkit.EICAR), yarascanVars(), time.Second)
	if err != nil || len(ms) != 1 {
		t.Fatalf("old rules after swap: %v %+v", err, ms)
	}
	ref.putScanners(sc)
	ref.release()
	if ref.refs.Load() != 0 || ref.tryAcquire() {
		t.Fatal("old DB must be freed and not acquirable")
	}
}
