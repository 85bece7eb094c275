package unpack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"ave/pkg/filetype"
	"ave/pkg/verdict"
)

// Limits bound one scan. They are the only limits of the engine: every
// format is walked under them. Zero values are replaced by the defaults of
// DefaultLimits by Normalize.
type Limits struct {
	// MaxObjectSize is the largest object (the top one or any member) held
	// in memory and scanned, in bytes.
	MaxObjectSize int64
	// MaxScanBytes is the total of all objects' bytes in one scan.
	MaxScanBytes int64
	// MaxDepth is the deepest nesting opened; the top object is depth 0.
	MaxDepth int
	// MaxFiles is the most members read from one container.
	MaxFiles int
	// MaxRatio is the largest uncompressed:compressed ratio of a member once
	// it has grown past RatioFloor bytes.
	MaxRatio int64
	// RatioFloor is the size under which the ratio is not checked (small
	// files that compress very well are normal).
	RatioFloor int64
}

// DefaultLimits are the limits used where nothing is configured.
var DefaultLimits = Limits{
	MaxObjectSize: 64 << 20,
	MaxScanBytes:  256 << 20,
	MaxDepth:      16,
	MaxFiles:      10000,
	MaxRatio:      250,
	RatioFloor:    1 << 20,
}

// Normalize fills zero fields from DefaultLimits.
func (l Limits) Normalize() Limits {
	d := DefaultLimits
	if l.MaxObjectSize <= 0 {
		l.MaxObjectSize = d.MaxObjectSize
	}
	if l.MaxScanBytes <= 0 {
		l.MaxScanBytes = d.MaxScanBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = d.MaxFiles
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.RatioFloor <= 0 {
		l.RatioFloor = d.RatioFloor
	}
	return l
}

// Object is one thing to inspect: the top object or a member at any depth.
// Data is only valid during the Inspect call.
type Object struct {
	Path  string // "/"-joined path from the top object
	Name  string // last path element
	Data  []byte
	Type  filetype.Type
	Depth int
}

// InspectFunc matches signatures against one object. It returns the
// detections for that object (the Walker fills Path, Type and Depth), and
// skip=true when the object must not be opened further (an allow-listed
// file). An error makes the object UNCHECKED with the error as reason.
type InspectFunc func(ctx context.Context, o *Object) (dets []verdict.Detection, skip bool, err error)

// Walker walks one top object and everything inside it. A Walker is cheap;
// use one per scan. It is not safe for concurrent use.
type Walker struct {
	Limits  Limits
	Inspect InspectFunc
	// Visit, when set, is called for every member the walk reaches, before
	// it is read or refused by a limit (size: declared, or -1), in walk
	// order; a member that is read is then passed to Inspect.
	Visit func(path string, depth int, size int64)

	res     verdict.Result
	total   int64
	stopped string // set when a scan-wide limit stopped the walk
}

// Walk inspects data (named name) and every object inside it, and returns
// the roll-up. truncated marks a top object that was cut at MaxObjectSize
// by the caller: its prefix is still inspected, but not opened, and it is
// reported UNCHECKED. The context's deadline is the scan time limit.
func (w *Walker) Walk(ctx context.Context, name string, data []byte, hint filetype.Type, truncated bool) verdict.Result {
	w.Limits = w.Limits.Normalize()
	w.res = verdict.Result{}
	w.total = 0
	w.stopped = ""
	if name == "" {
		name = "object"
	}
	if truncated {
		w.res.Add(verdict.Detection{Path: name, Status: verdict.Unchecked,
			Reason: fmt.Sprintf("limit: object larger than MaxObjectSize %d", w.Limits.MaxObjectSize)})
	}
	w.object(ctx, name, path.Base(name), data, hint, 0, "", truncated)
	return w.res
}

func limitReason(format string, a ...any) string { return "limit: " + fmt.Sprintf(format, a...) }

// object inspects one object and, when it is a container, walks its members.
func (w *Walker) object(ctx context.Context, p, name string, data []byte, hint filetype.Type, depth int, anomaly string, noOpen bool) {
	t := filetype.Detect(data, hint)
	if err := ctx.Err(); err != nil {
		w.unchecked(p, t, depth, timeReason(err))
		return
	}
	if w.total+int64(len(data)) > w.Limits.MaxScanBytes {
		w.stopped = limitReason("total bytes scanned over MaxScanBytes %d", w.Limits.MaxScanBytes)
		w.unchecked(p, t, depth, w.stopped)
		return
	}
	w.total += int64(len(data))
	w.res.Objects++
	w.res.Bytes += int64(len(data))
	if anomaly != "" {
		w.res.Add(verdict.Detection{Path: p, Status: verdict.Corrupted, Reason: anomaly, Type: string(t), Depth: depth})
	}

	skip, ok := w.inspect(ctx, &Object{Path: p, Name: name, Data: data, Type: t, Depth: depth})
	if !ok || skip || noOpen {
		return
	}
	f := Lookup(t)
	if f == nil {
		return
	}
	if depth >= w.Limits.MaxDepth {
		w.unchecked(p, t, depth, limitReason("nesting deeper than MaxDepth %d", w.Limits.MaxDepth))
		return
	}
	w.container(ctx, f, p, name, data, t, depth)
}

// inspect calls Inspect with panic isolation.
func (w *Walker) inspect(ctx context.Context, o *Object) (skip, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			w.unchecked(o.Path, o.Type, o.Depth, fmt.Sprintf("internal error: panic while matching: %v", r))
			ok = false
		}
	}()
	dets, skip, err := w.Inspect(ctx, o)
	if err != nil {
		reason := "error: " + err.Error()
		if ctx.Err() != nil {
			reason = timeReason(ctx.Err())
		}
		w.unchecked(o.Path, o.Type, o.Depth, reason)
		return false, false
	}
	for _, d := range dets {
		if d.Path == "" {
			d.Path = o.Path
		}
		d.Type = string(o.Type)
		d.Depth = o.Depth
		w.res.Add(d)
	}
	return skip, true
}

func timeReason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "limit: scan time exceeded MaxScanTime"
	}
	return "error: scan cancelled"
}

func (w *Walker) unchecked(p string, t filetype.Type, depth int, reason string) {
	w.res.Add(verdict.Detection{Path: p, Status: verdict.Unchecked, Reason: reason, Type: string(t), Depth: depth})
}

// errStopContainer ends one container's walk without an error of its own.
var errStopContainer = errors.New("unpack: stop container")

// errInternal marks a panic caught in a format or a member reader: the
// object is reported UNCHECKED with an "internal error" reason.
var errInternal = errors.New("internal error")

// container walks the members of one container.
func (w *Walker) container(ctx context.Context, f *Format, p, name string, data []byte, t filetype.Type, depth int) {
	n := 0
	c := &Container{Data: data, Name: name, Type: t, Depth: depth, MaxDepth: w.Limits.MaxDepth}
	yield := func(m Member) error {
		if w.stopped != "" {
			return errStopContainer
		}
		if err := ctx.Err(); err != nil {
			w.unchecked(p, t, depth, timeReason(err))
			return errStopContainer
		}
		n++
		if n > w.Limits.MaxFiles {
			w.unchecked(p, t, depth, limitReason("more than MaxFiles %d members", w.Limits.MaxFiles))
			return errStopContainer
		}
		w.member(ctx, p, data, depth, n, m)
		return nil
	}
	err := w.walkFormat(ctx, f, c, yield)
	switch {
	case err == nil, errors.Is(err, errStopContainer):
	case errors.Is(err, errInternal):
		w.unchecked(p, t, depth, err.Error())
	case errors.Is(err, ErrEncrypted):
		w.res.Add(verdict.Detection{Path: p, Status: verdict.Protected, Reason: err.Error(), Type: string(t), Depth: depth})
	case errors.Is(err, ErrLimit):
		w.unchecked(p, t, depth, "limit: "+strings.TrimPrefix(err.Error(), ErrLimit.Error()+": "))
	case ctx.Err() != nil:
		w.unchecked(p, t, depth, timeReason(ctx.Err()))
	default:
		w.res.Add(verdict.Detection{Path: p, Status: verdict.Corrupted, Reason: f.Name + ": " + err.Error(), Type: string(t), Depth: depth})
	}
}

// walkFormat runs a format's Walk, turning a panic into an error.
func (w *Walker) walkFormat(ctx context.Context, f *Format, c *Container, yield func(Member) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: panic in %s decoder: %v", errInternal, f.Name, r)
		}
	}()
	return f.Walk(ctx, c, yield)
}

// member reads one member under the limits and walks it.
func (w *Walker) member(ctx context.Context, parent string, container []byte, depth, n int, m Member) {
	name := CleanName(m.Name)
	if name == "" {
		name = strconv.Itoa(n)
	}
	p := parent + "/" + name
	d := depth + 1 + m.Depth
	if w.Visit != nil {
		w.Visit(p, d, m.Size)
	}
	if d > w.Limits.MaxDepth {
		w.unchecked(p, "", d, limitReason("nesting deeper than MaxDepth %d", w.Limits.MaxDepth))
		return
	}
	if m.Encrypted {
		w.res.Add(verdict.Detection{Path: p, Status: verdict.Protected, Reason: "encrypted", Depth: d})
		return
	}
	if m.Size > w.Limits.MaxObjectSize {
		w.unchecked(p, "", d, limitReason("member of %d bytes larger than MaxObjectSize %d", m.Size, w.Limits.MaxObjectSize))
		return
	}
	data := m.Data
	if m.Open == nil && int64(len(data)) > w.Limits.MaxObjectSize {
		w.spent(len(data))
		w.unchecked(p, "", d, limitReason("member of %d bytes larger than MaxObjectSize %d", len(data), w.Limits.MaxObjectSize))
		return
	}
	if m.Open != nil {
		packed := m.Packed
		if packed <= 0 {
			packed = int64(len(container))
		}
		var err error
		data, err = w.open(ctx, m, packed)
		if err != nil {
			w.memberError(p, d, err)
			if len(data) == 0 || errors.Is(err, ErrLimit) || errors.Is(err, errInternal) {
				return
			}
			// A truncated member: scan what could be read.
		}
	}
	w.object(ctx, p, name, data, m.Hint, d, m.Anomaly, false)
}

// open opens and reads a member, turning a panic in the format's reader
// into an internal error of that member alone.
func (w *Walker) open(ctx context.Context, m Member, packed int64) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			data, err = nil, fmt.Errorf("%w: panic while reading member: %v", errInternal, r)
		}
	}()
	r, err := m.Open()
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("%w: member has no reader", ErrCorrupt)
	}
	return w.read(ctx, r, packed, m.Size)
}

func (w *Walker) memberError(p string, d int, err error) {
	switch {
	case errors.Is(err, errInternal):
		w.unchecked(p, "", d, err.Error())
	case errors.Is(err, ErrEncrypted):
		w.res.Add(verdict.Detection{Path: p, Status: verdict.Protected, Reason: err.Error(), Depth: d})
	case errors.Is(err, ErrLimit):
		w.unchecked(p, "", d, "limit: "+strings.TrimPrefix(err.Error(), ErrLimit.Error()+": "))
	case errors.Is(err, ErrUnsupported):
		w.unchecked(p, "", d, "unsupported: "+strings.TrimPrefix(err.Error(), ErrUnsupported.Error()+": "))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		w.unchecked(p, "", d, timeReason(err))
	default:
		w.res.Add(verdict.Detection{Path: p, Status: verdict.Corrupted, Reason: err.Error(), Depth: d})
	}
}

// read reads a member's content, stopping at whichever limit comes first:
// MaxObjectSize, what is left of MaxScanBytes, or the compression ratio.
// What it read for a member it refuses still counts toward MaxScanBytes.
// size is the declared size (or -1), used only to size the first buffer.
// The buffer never grows past the limit plus one byte.
func (w *Walker) read(ctx context.Context, r io.Reader, packed, size int64) ([]byte, error) {
	max := w.Limits.MaxObjectSize
	if left := w.Limits.MaxScanBytes - w.total; left < max {
		max = left
	}
	if max < 0 {
		max = 0
	}
	ratioMax := packed * w.Limits.MaxRatio
	if packed > 0 && ratioMax/packed != w.Limits.MaxRatio {
		ratioMax = max + 1 // overflow: the ratio cannot be reached
	}
	if ratioMax < w.Limits.RatioFloor {
		ratioMax = w.Limits.RatioFloor
	}
	// The buffer holds at most max+1 bytes: one past the limit is enough to
	// know it was exceeded.
	hardCap := max + 1
	first := int64(4 << 10)
	if size >= 0 && size < 1<<20 {
		first = size + 1
	}
	buf := make([]byte, 0, min(first, hardCap))
	idle := 0
	for {
		if len(buf) == cap(buf) {
			n := min(2*int64(cap(buf))+512, hardCap)
			if n > int64(cap(buf)) {
				nb := make([]byte, len(buf), n)
				copy(nb, buf)
				buf = nb
			}
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if k == 0 && err == nil {
			// A reader that keeps returning nothing would spin forever.
			if idle++; idle > 100 {
				return buf, fmt.Errorf("%w: %v", ErrCorrupt, io.ErrNoProgress)
			}
		} else {
			idle = 0
		}
		if int64(len(buf)) > max {
			w.spent(len(buf))
			if max < w.Limits.MaxObjectSize {
				w.stopped = limitReason("total bytes scanned over MaxScanBytes %d", w.Limits.MaxScanBytes)
				return nil, fmt.Errorf("%w: total bytes scanned over MaxScanBytes %d", ErrLimit, w.Limits.MaxScanBytes)
			}
			return nil, fmt.Errorf("%w: member larger than MaxObjectSize %d", ErrLimit, w.Limits.MaxObjectSize)
		}
		if int64(len(buf)) > ratioMax {
			w.spent(len(buf))
			return nil, fmt.Errorf("%w: compression ratio over MaxCompressionRatio %d (%d bytes from %d)", ErrLimit, w.Limits.MaxRatio, len(buf), packed)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrEncrypted) || errors.Is(err, ErrLimit) ||
				errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return buf, err
			}
			return buf, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if cerr := ctx.Err(); cerr != nil {
			w.spent(len(buf))
			return nil, cerr
		}
	}
}

// spent counts n bytes that a decoder produced for a member which is then
// refused (by a limit, or a time-out) toward MaxScanBytes: they cost as
// much as scanned bytes, and a container of many members that each inflate
// up to the ratio limit must run out of budget rather than into the
// deadline. Bytes of accepted members are counted once, by object.
func (w *Walker) spent(n int) {
	w.total += int64(n)
}

// CleanName turns a member name into one path element: leading "/" and
// "./" are dropped, as are empty and "." segments, and control characters
// are replaced, so "./a//b" and "/a/b" both read "a/b". The walker
// names every member so, and mimeparts.Leaves its parts, so that the
// mail policy finds the part a scan path points into.
func CleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
	if !strings.Contains(s, "/") {
		if s == "." {
			return ""
		}
		return s
	}
	parts := strings.Split(s, "/")
	out := parts[:0]
	for _, e := range parts {
		if e != "" && e != "." {
			out = append(out, e)
		}
	}
	return strings.Join(out, "/")
}
