package engine

import (
	"sync"
	"sync/atomic"

	"ave/pkg/sigdb"
	"ave/pkg/yarascan"
)

// dbRef counts the users of one loaded DB. The engine holds one reference
// while the DB is current; every scan holds one while it runs. The DB's
// rules and scanners are freed when the count reaches zero, so a reload
// never pulls the rules from under a scan in flight.
type dbRef struct {
	db   *sigdb.DB
	refs atomic.Int64

	mu       sync.Mutex
	scanners []*scanners // idle scanners, one set per worker at most
}

// scanners are one worker's scanners of a DB's rules: each is nil when the
// DB has no such rules.
type scanners struct {
	rules, body *yarascan.Scanner
}

func (s *scanners) destroy() {
	if s.rules != nil {
		s.rules.Destroy()
	}
	if s.body != nil {
		s.body.Destroy()
	}
}

func newRef(db *sigdb.DB) *dbRef {
	r := &dbRef{db: db}
	r.refs.Store(1)
	return r
}

// tryAcquire takes a reference unless the DB is already being freed.
func (r *dbRef) tryAcquire() bool {
	for {
		n := r.refs.Load()
		if n <= 0 {
			return false
		}
		if r.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference and frees the DB after the last one.
func (r *dbRef) release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	r.mu.Lock()
	for _, s := range r.scanners {
		s.destroy()
	}
	r.scanners = nil
	r.mu.Unlock()
	r.db.Destroy()
}

// scanners returns an idle set of scanners of this DB, or a new one. The
// caller holds a reference.
func (r *dbRef) getScanners() (*scanners, error) {
	r.mu.Lock()
	if n := len(r.scanners); n > 0 {
		s := r.scanners[n-1]
		r.scanners = r.scanners[:n-1]
		r.mu.Unlock()
		return s, nil
	}
	r.mu.Unlock()
	s := &scanners{}
	var err error
	if r.db.Rules != nil {
		if s.rules, err = r.db.Rules.NewScanner(); err != nil {
			return nil, err
		}
	}
	if r.db.BodyRules != nil {
		if s.body, err = r.db.BodyRules.NewScanner(); err != nil {
			s.destroy()
			return nil, err
		}
	}
	return s, nil
}

// putScanners returns scanners for reuse; the caller still holds a reference.
func (r *dbRef) putScanners(s *scanners) {
	r.mu.Lock()
	r.scanners = append(r.scanners, s)
	r.mu.Unlock()
}
