package engine

import (
	"container/list"
	"sync"

	"ave/pkg/verdict"
)

// cacheKey identifies a result: the same bytes under the same name and type
// hint, scanned with the same DB version. The name is part of the key
// because rules may look at it (double extensions).
type cacheKey struct {
	sum     [32]byte
	name    string
	hint    string
	version string
}

type cacheEntry struct {
	key cacheKey
	res verdict.Result
	// listed: res carries the object list (ListedObjects, ObjectsTruncated)
	// of a scan that was asked for it.
	listed bool
	weight int64 // listWeight(&res) when listed
}

// maxCacheListBytes bounds the memory the cached object lists hold
// together; the least recently used entries go first when it is exceeded.
const maxCacheListBytes = 64 << 20

// cache is a bounded LRU of scan results (the "iChecker" of the Kaspersky
// manual). Safe for concurrent use. A nil *cache is a disabled cache.
//
// One entry serves both kinds of request: an entry stored by a scan that
// listed its objects keeps the list and answers every request (the list is
// left out for requests that did not ask for it); an entry without a list
// is a miss for a request that wants one, and the scan that follows
// replaces it with a listed entry.
type cache struct {
	mu        sync.Mutex
	max       int
	listBytes int64
	ll        *list.List
	items     map[cacheKey]*list.Element
}

func newCache(max int) *cache {
	if max <= 0 {
		return nil
	}
	return &cache{max: max, ll: list.New(), items: make(map[cacheKey]*list.Element)}
}

// get returns the result for k. With wantList, only an entry that carries
// its object list is a hit; without, the list is never returned.
func (c *cache) get(k cacheKey, wantList bool) (verdict.Result, bool) {
	if c == nil {
		return verdict.Result{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return verdict.Result{}, false
	}
	ce := e.Value.(*cacheEntry)
	if wantList && !ce.listed {
		return verdict.Result{}, false
	}
	c.ll.MoveToFront(e)
	r := ce.res
	if !wantList {
		r.ListedObjects, r.ObjectsTruncated = nil, false
	}
	return r, true
}

// put stores r for k. listed says r carries its object list. A listed
// entry is not replaced by an unlisted one (both hold the same verdict).
func (c *cache) put(k cacheKey, r verdict.Result, listed bool) {
	if c == nil {
		return
	}
	var weight int64
	if listed {
		weight = listWeight(&r)
		if weight > maxCacheListBytes/4 {
			// Too big to keep: remember the verdict only.
			listed, weight = false, 0
		}
	}
	if !listed {
		r.ListedObjects, r.ObjectsTruncated = nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		ce := e.Value.(*cacheEntry)
		c.ll.MoveToFront(e)
		if ce.listed && !listed {
			return
		}
		c.listBytes += weight - ce.weight
		ce.res, ce.listed, ce.weight = r, listed, weight
	} else {
		c.items[k] = c.ll.PushFront(&cacheEntry{key: k, res: r, listed: listed, weight: weight})
		c.listBytes += weight
	}
	for c.ll.Len() > c.max || c.listBytes > maxCacheListBytes {
		old := c.ll.Back()
		ce := old.Value.(*cacheEntry)
		c.ll.Remove(old)
		delete(c.items, ce.key)
		c.listBytes -= ce.weight
	}
}

func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
