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

// lister records every object a walk inspects, in scan order, up to max
// entries and maxListedBytes; then it only notes that the list is cut. The
// walker calls Inspect exactly once for each object it scans (the top one
// and every member read at any depth), so the list is the scanned objects.
type lister struct {
	next      unpack.InspectFunc
	max       int
	bytes     int64
	list      []verdict.Object
	truncated bool
}

func (l *lister) inspect(ctx context.Context, o *unpack.Object) ([]verdict.Detection, bool, error) {
	if !l.truncated {
		n := int64(len(o.Path) + len(o.Type))
		if len(l.list) >= l.max || l.bytes+n > maxListedBytes {
			l.truncated = true
		} else {
			l.bytes += n
			l.list = append(l.list, verdict.Object{Path: o.Path, Type: string(o.Type), Depth: o.Depth, Size: int64(len(o.Data))})
		}
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
