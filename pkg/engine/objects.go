package engine

import (
	"context"
	"unsafe"

	"ave/pkg/unpack"
	"ave/pkg/verdict"
)

// DefaultMaxListedObjects bounds Result.ListedObjects of one scan when
// Options.MaxListedObjects is zero.
const DefaultMaxListedObjects = 10000

// maxListedBytes bounds the path and type bytes of one scan's list, so that
// long member names cannot make a response larger than the gRPC message
// limit (16 MiB) or hold much memory: 10,000 paths of 400 bytes fit.
const maxListedBytes = 4 << 20

// objectCost is what one listed object holds besides its strings.
const objectCost = int64(unsafe.Sizeof(verdict.Object{}))

// lister records every object a walk reaches, in walk order, up to max
// entries and maxListedBytes; then it only notes that the list is cut.
// Members are entered when the walker reaches them (visit), before they
// are read; the walker then inspects the ones it reads, which fills in
// their type and size. A member refused before it was read (encrypted,
// over a limit) keeps an empty type and its declared size (0 if unknown).
// The top object is entered when inspected.
type lister struct {
	next      unpack.InspectFunc
	max       int
	bytes     int64
	list      []verdict.Object
	pending   int // index of the entry visited but not yet inspected, or -1
	truncated bool
}

func newLister(next unpack.InspectFunc, max int) *lister {
	return &lister{next: next, max: max, pending: -1}
}

// add enters one object, or marks the list cut; it returns the index.
func (l *lister) add(o verdict.Object) int {
	if l.truncated {
		return -1
	}
	n := int64(len(o.Path) + len(o.Type))
	if len(l.list) >= l.max || l.bytes+n > maxListedBytes {
		l.truncated = true
		return -1
	}
	l.bytes += n
	l.list = append(l.list, o)
	return len(l.list) - 1
}

func (l *lister) visit(path string, depth int, size int64) {
	l.pending = l.add(verdict.Object{Path: path, Depth: depth, Size: max(size, 0)})
}

func (l *lister) inspect(ctx context.Context, o *unpack.Object) ([]verdict.Detection, bool, error) {
	if i := l.pending; i >= 0 && l.list[i].Path == o.Path {
		l.pending = -1
		l.bytes += int64(len(o.Type))
		e := &l.list[i]
		e.Type, e.Depth, e.Size = string(o.Type), o.Depth, int64(len(o.Data))
	} else if o.Depth == 0 {
		l.pending = -1
		l.add(verdict.Object{Path: o.Path, Type: string(o.Type), Depth: o.Depth, Size: int64(len(o.Data))})
	}
	return l.next(ctx, o)
}

// listWeight is the memory a result's object list holds, for the cache.
func listWeight(r *verdict.Result) int64 {
	w := int64(0)
	for i := range r.ListedObjects {
		o := &r.ListedObjects[i]
		w += objectCost + int64(len(o.Path)+len(o.Type))
	}
	return w
}
