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
	scanners []*yarascan.Scanner // idle scanners, one per worker at most
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
		s.Destroy()
	}
	r.scanners = nil
	r.mu.Unlock()
	r.db.Destroy()
}

// scanner returns an idle scanner of this DB, or a new one. The caller
// holds a reference.
func (r *dbRef) scanner() (*yarascan.Scanner, error) {
	if r.db.Rules == nil {
		return nil, nil
	}
	r.mu.Lock()
	if n := len(r.scanners); n > 0 {
		s := r.scanners[n-1]
		r.scanners = r.scanners[:n-1]
		r.mu.Unlock()
		return s, nil
	}
	r.mu.Unlock()
	return r.db.Rules.NewScanner()
}

// putScanner returns a scanner for reuse; the caller still holds a reference.
func (r *dbRef) putScanner(s *yarascan.Scanner) {
	if s == nil {
		return
	}
	r.mu.Lock()
	r.scanners = append(r.scanners, s)
	r.mu.Unlock()
}
