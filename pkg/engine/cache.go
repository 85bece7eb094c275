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
}

// cache is a bounded LRU of scan results (the "iChecker" of the Kaspersky
// manual). Safe for concurrent use. A nil *cache is a disabled cache.
type cache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[cacheKey]*list.Element
}

func newCache(max int) *cache {
	if max <= 0 {
		return nil
	}
	return &cache{max: max, ll: list.New(), items: make(map[cacheKey]*list.Element)}
}

func (c *cache) get(k cacheKey) (verdict.Result, bool) {
	if c == nil {
		return verdict.Result{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return verdict.Result{}, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*cacheEntry).res, true
}

func (c *cache) put(k cacheKey, r verdict.Result) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*cacheEntry).res = r
		c.ll.MoveToFront(e)
		return
	}
	c.items[k] = c.ll.PushFront(&cacheEntry{key: k, res: r})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
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
