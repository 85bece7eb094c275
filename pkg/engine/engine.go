// Package engine scans objects: it holds the current signature DB, runs a
// bounded pool of workers behind a bounded queue, walks containers through
// pkg/unpack under one set of limits, matches hashes, YARA rules and body
// signatures, and caches results. It decides nothing about mail or files:
// it returns verdicts.
//
// An Engine is safe for concurrent use. The DB is swapped atomically by
// Swap; scans in flight finish on the DB they started with.
package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ave/pkg/filetype"
	"ave/pkg/sigdb"
	"ave/pkg/unpack"
	"ave/pkg/verdict"

	_ "ave/pkg/mimeparts" // registers the mail format
)

// ErrBusy is returned at once when every worker is busy and the queue is
// full: the caller should report a temporary failure and retry later.
var ErrBusy = errors.New("engine: busy, retry later")

// Options configure an Engine. Zero values mean the documented default.
type Options struct {
	// Workers is the number of concurrent scans (default: one per CPU).
	Workers int
	// QueueLength is how many admitted scans may wait for a worker
	// (default: 4 per worker). Beyond Workers+QueueLength, Admit fails
	// with ErrBusy.
	QueueLength int
	// Limits bound every scan (see unpack.Limits for defaults).
	Limits unpack.Limits
	// MaxScanTime bounds one scan's wall time (default 60 s).
	MaxScanTime time.Duration
	// CacheEntries bounds the result cache; negative disables it
	// (default 100,000).
	CacheEntries int
	// MaxListedObjects bounds Result.ListedObjects of a scan that asks
	// for the list (default DefaultMaxListedObjects); past it the list is
	// cut and ObjectsTruncated set, the scan itself goes on.
	MaxListedObjects int
}

func (o Options) normalize() Options {
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.QueueLength <= 0 {
		o.QueueLength = 4 * o.Workers
	}
	o.Limits = o.Limits.Normalize()
	if o.MaxScanTime <= 0 {
		o.MaxScanTime = 60 * time.Second
	}
	if o.CacheEntries == 0 {
		o.CacheEntries = 100000
	}
	if o.MaxListedObjects <= 0 {
		o.MaxListedObjects = DefaultMaxListedObjects
	}
	return o
}

// Engine is the scanning engine.
type Engine struct {
	opt   Options
	cur   atomic.Pointer[dbRef]
	slots chan struct{} // one token per running scan
	cache *cache

	admitted atomic.Int64 // receiving, queued or running
	running  atomic.Int64
	started  time.Time

	cacheHits, cacheMisses atomic.Int64
	reloads, reloadFails   atomic.Int64

	mu        sync.Mutex
	totals    map[string]int64
	lastError string
}

// New makes an engine serving db. db must not be nil: the engine never runs
// without signatures.
func New(db *sigdb.DB, opt Options) *Engine {
	opt = opt.normalize()
	e := &Engine{
		opt:     opt,
		slots:   make(chan struct{}, opt.Workers),
		cache:   newCache(opt.CacheEntries),
		started: time.Now(),
		totals:  map[string]int64{},
	}
	e.cur.Store(newRef(db))
	return e
}

// Options returns the normalised options.
func (e *Engine) Options() Options { return e.opt }

// DB returns the current DB. It is for reading metadata only.
func (e *Engine) DB() *sigdb.DB { return e.cur.Load().db }

// Swap makes db current. Scans in flight finish on the old DB, which is
// freed after the last of them.
func (e *Engine) Swap(db *sigdb.DB) {
	old := e.cur.Swap(newRef(db))
	e.reloads.Add(1)
	old.release()
}

// NoteReloadFailure records a rejected reload for Status.
func (e *Engine) NoteReloadFailure(err error) {
	e.reloadFails.Add(1)
	e.mu.Lock()
	e.lastError = err.Error()
	e.mu.Unlock()
}

// acquireDB takes a reference on the current DB.
func (e *Engine) acquireDB() *dbRef {
	for {
		r := e.cur.Load()
		if r.tryAcquire() {
			return r
		}
	}
}

// Ticket is an admitted scan. Release it exactly once.
type Ticket struct {
	e    *Engine
	done atomic.Bool
}

// Admit reserves a place for one scan, or fails at once with ErrBusy. Take
// the ticket before receiving the object, so that memory held by objects in
// transit is bounded too.
func (e *Engine) Admit() (*Ticket, error) {
	if e.admitted.Add(1) > int64(e.opt.Workers+e.opt.QueueLength) {
		e.admitted.Add(-1)
		e.count("BUSY")
		return nil, ErrBusy
	}
	return &Ticket{e: e}, nil
}

// Release gives the place back.
func (t *Ticket) Release() {
	if t.done.CompareAndSwap(false, true) {
		t.e.admitted.Add(-1)
	}
}

// Request is one object to scan.
type Request struct {
	Name string
	Hint filetype.Type
	Data []byte
	// Truncated means Data is only the first MaxObjectSize bytes.
	Truncated bool
	// ListObjects asks for Result.ListedObjects: every object scanned,
	// clean or not, bounded by Options.MaxListedObjects.
	ListObjects bool
	// NoCache: the object is not looked up in the result cache nor stored
	// there (nor hashed for it): a mail message, named by its queue id,
	// is never scanned twice.
	NoCache bool
}

// Response is the outcome of one scan. Result's slices may be shared with
// the cache: treat them as read-only.
type Response struct {
	verdict.Result
	DBVersion string
	Duration  time.Duration
	Cached    bool
}

// Scan admits, scans and releases.
func (e *Engine) Scan(ctx context.Context, req Request) (Response, error) {
	t, err := e.Admit()
	if err != nil {
		return Response{}, err
	}
	defer t.Release()
	return t.Scan(ctx, req)
}

// Scan runs the admitted scan: from the cache, or on a worker.
func (t *Ticket) Scan(ctx context.Context, req Request) (Response, error) {
	e := t.e
	start := time.Now()
	ref := e.acquireDB()
	defer ref.release()
	useCache := e.cache != nil && !req.Truncated && !req.NoCache
	var key cacheKey
	if useCache {
		key = cacheKey{sum: sha256.Sum256(req.Data), name: req.Name, hint: string(req.Hint), version: ref.db.Digest}
		if r, ok := e.cache.get(key, req.ListObjects); ok {
			e.cacheHits.Add(1)
			e.count(r.Status.String())
			return Response{Result: r, DBVersion: ref.db.Version, Duration: time.Since(start), Cached: true}, nil
		}
		e.cacheMisses.Add(1)
	}
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		e.count("ERROR")
		return Response{}, fmt.Errorf("engine: waiting for a worker: %w", ctx.Err())
	}
	e.running.Add(1)
	defer func() { e.running.Add(-1); <-e.slots }()

	res, err := e.scan(ctx, ref, req)
	if err != nil {
		e.count("ERROR")
		return Response{}, err
	}
	if useCache && cacheable(res) {
		e.cache.put(key, res, req.ListObjects)
	}
	e.count(res.Status.String())
	return Response{Result: res, DBVersion: ref.db.Version, Duration: time.Since(start)}, nil
}

// cacheable: results that depend on the moment (time-outs, internal
// errors) are not remembered; a limit or content no decoder here reads
// ("unsupported: ...") gives the same answer every time.
func cacheable(r verdict.Result) bool {
	for _, d := range r.Detections {
		if d.Status != verdict.Unchecked || strings.HasPrefix(d.Reason, "unsupported:") {
			continue
		}
		if strings.Contains(d.Reason, "time") || !strings.HasPrefix(d.Reason, "limit:") {
			return false
		}
	}
	return true
}

func (e *Engine) scan(ctx context.Context, ref *dbRef, req Request) (verdict.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opt.MaxScanTime)
	defer cancel()
	sc, err := ref.getScanners()
	if err != nil {
		return verdict.Result{}, fmt.Errorf("engine: %w", err)
	}
	defer ref.putScanners(sc)
	m := &matcher{db: ref.db, sc: sc}
	if !req.ListObjects {
		w := unpack.Walker{Limits: e.opt.Limits, Inspect: m.inspect}
		return w.Walk(ctx, req.Name, req.Data, req.Hint, req.Truncated), nil
	}
	l := newLister(m.inspect, e.opt.MaxListedObjects)
	w := unpack.Walker{Limits: e.opt.Limits, Inspect: l.inspect, Visit: l.visit}
	res := w.Walk(ctx, req.Name, req.Data, req.Hint, req.Truncated)
	res.ListedObjects, res.ObjectsTruncated = l.list, l.truncated
	return res, nil
}

func (e *Engine) count(status string) {
	e.mu.Lock()
	e.totals[status]++
	e.mu.Unlock()
}

// Stats is a snapshot for the Status call.
type Stats struct {
	DB             *sigdb.DB
	Uptime         time.Duration
	Workers        int
	WorkersBusy    int
	Queued         int
	QueueCapacity  int
	Totals         map[string]int64
	CacheHits      int64
	CacheMisses    int64
	CacheEntries   int
	Reloads        int64
	ReloadFailures int64
	LastReloadErr  string
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	totals := make(map[string]int64, len(e.totals))
	for k, v := range e.totals {
		totals[k] = v
	}
	last := e.lastError
	e.mu.Unlock()
	running := int(e.running.Load())
	queued := int(e.admitted.Load()) - running
	if queued < 0 {
		queued = 0
	}
	return Stats{
		DB:             e.DB(),
		Uptime:         time.Since(e.started),
		Workers:        e.opt.Workers,
		WorkersBusy:    running,
		Queued:         queued,
		QueueCapacity:  e.opt.QueueLength,
		Totals:         totals,
		CacheHits:      e.cacheHits.Load(),
		CacheMisses:    e.cacheMisses.Load(),
		CacheEntries:   e.cache.len(),
		Reloads:        e.reloads.Load(),
		ReloadFailures: e.reloadFails.Load(),
		LastReloadErr:  last,
	}
}
