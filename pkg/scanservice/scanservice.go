// Package scanservice serves the engine over gRPC (proto/ave/v1): it turns
// streamed objects and paths into engine requests, engine errors into gRPC
// status codes, and runs reloads. It holds no scanning logic of its own.
package scanservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	avev1 "ave/proto/ave/v1"

	"ave/pkg/engine"
	"ave/pkg/filetype"
	"ave/pkg/sigdb"
	"ave/pkg/verdict"
)

// MaxChunk is the largest data chunk a client should send in one message;
// the server accepts messages up to twice that.
const MaxChunk = 1 << 20

// Loader builds a new DB from the configured directory.
type Loader func() (*sigdb.DB, error)

// Service implements avev1.EngineServer.
type Service struct {
	avev1.UnimplementedEngineServer
	Engine *engine.Engine
	Load   Loader
	Log    *slog.Logger

	reloadMu sync.Mutex // one reload at a time
}

// Register adds the engine and the standard health service to s.
func (svc *Service) Register(s *grpc.Server) {
	avev1.RegisterEngineServer(s, svc)
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus(avev1.Engine_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, h)
}

// ServerOptions are the gRPC options the service needs.
//
// Flow control: static windows large enough for a whole chunk (the
// default dynamic 64 KiB window makes a client wait for a WINDOW_UPDATE
// in the middle of every object over 64 KiB, and the estimator that
// grows it costs a PING round trip now and then); a read buffer that
// takes a typical mail message in one read(2).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(2 * MaxChunk), grpc.MaxSendMsgSize(16 << 20),
		grpc.StaticStreamWindowSize(StreamWindow), grpc.StaticConnWindowSize(ConnWindow),
		grpc.ReadBufferSize(256 << 10),
		// Streams are served by long-lived goroutines whose stacks have
		// already grown to what a scan needs (a new goroutine per stream
		// spent 3 % of the CPU per mail message growing its stack); gRPC
		// starts a goroutine when all of them are busy.
		grpc.NumStreamWorkers(uint32(max(8, 2*runtime.GOMAXPROCS(0)))),
	}
}

// Flow-control windows of both sides (see ServerOptions): a stream may
// have two whole chunks in flight, the connection sixteen.
const (
	StreamWindow = 4 * MaxChunk
	ConnWindow   = 16 * MaxChunk
)

// Scan receives an object in chunks and scans it.
func (svc *Service) Scan(stream avev1.Engine_ScanServer) error {
	first, err := stream.Recv()
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "scan: no header: %v", err)
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "scan: the first message must carry a header")
	}
	t, err := svc.Engine.Admit()
	if err != nil {
		return toStatus(err)
	}
	defer t.Release()
	max := svc.Engine.Options().Limits.MaxObjectSize
	// The first message's data is scanned as it is when no other data
	// follows (scanclient sends an object of up to MaxChunk in one
	// message): gRPC gave it a buffer of its own. A second chunk
	// starts a buffer sized from the header.
	buf := first.GetData()
	owned := false
	truncated := false
	if int64(len(buf)) > max {
		buf, truncated = buf[:max], true
	}
	for {
		c, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return status.Errorf(codes.Canceled, "scan: receiving %s: %v", h.GetName(), err)
		}
		if c.GetHeader() != nil {
			return status.Error(codes.InvalidArgument, "scan: header sent twice")
		}
		d := c.GetData()
		if len(d) == 0 {
			continue
		}
		if !owned {
			nb := make([]byte, len(buf), min(max, max64(h.GetSize(), int64(len(buf)+len(d))), 64<<20))
			copy(nb, buf)
			buf, owned = nb, true
		}
		if room := max - int64(len(buf)); int64(len(d)) > room {
			d = d[:room]
			truncated = true
		}
		buf = append(buf, d...)
	}
	resp, err := t.Scan(stream.Context(), engine.Request{Name: h.GetName(), Hint: filetype.Type(h.GetTypeHint()), Data: buf, Truncated: truncated, ListObjects: h.GetListObjects(), NoCache: h.GetNoCache()})
	if err != nil {
		return toStatus(err)
	}
	svc.logResult(h.GetName(), resp)
	return stream.SendAndClose(toProto(resp))
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// ScanPath opens a file on this host and scans it. Only regular files are
// scanned; the file is read once, up to MaxObjectSize.
func (svc *Service) ScanPath(ctx context.Context, req *avev1.ScanPathRequest) (*avev1.ScanResponse, error) {
	t, err := svc.Engine.Admit()
	if err != nil {
		return nil, toStatus(err)
	}
	defer t.Release()
	f, err := os.Open(req.GetPath())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "scan path: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "scan path: %v", err)
	}
	if !st.Mode().IsRegular() {
		return nil, status.Errorf(codes.InvalidArgument, "scan path: %s is not a regular file", req.GetPath())
	}
	max := svc.Engine.Options().Limits.MaxObjectSize
	n := min(st.Size(), max)
	buf := make([]byte, n+1)
	k, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, status.Errorf(codes.Internal, "scan path: reading %s: %v", req.GetPath(), err)
	}
	truncated := int64(k) > max
	if truncated {
		k = int(max)
	}
	resp, err := t.Scan(ctx, engine.Request{Name: req.GetPath(), Hint: filetype.Type(req.GetTypeHint()), Data: buf[:k], Truncated: truncated, ListObjects: req.GetListObjects()})
	if err != nil {
		return nil, toStatus(err)
	}
	svc.logResult(req.GetPath(), resp)
	return toProto(resp), nil
}

func (svc *Service) logResult(name string, r engine.Response) {
	if svc.Log == nil || r.Status == verdict.Clean {
		return
	}
	svc.Log.Info("scan", "object", name, "status", r.Status.String(), "names", r.Names(), "objects", r.Objects, "bytes", r.Bytes, "ms", r.Duration.Milliseconds(), "cached", r.Cached)
}

// Reload builds the DB anew and swaps it in; on failure the old DB stays.
func (svc *Service) Reload(ctx context.Context, _ *avev1.ReloadRequest) (*avev1.ReloadResponse, error) {
	db, err := svc.DoReload()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &avev1.ReloadResponse{DbVersion: db.Version, LoadMs: db.LoadTime.Milliseconds(), Signatures: db.Counts, Untranslatable: untranslatable(db)}, nil
}

// DoReload is Reload for the SIGHUP handler.
func (svc *Service) DoReload() (*sigdb.DB, error) {
	svc.reloadMu.Lock()
	defer svc.reloadMu.Unlock()
	db, err := svc.Load()
	if err != nil {
		err = fmt.Errorf("reload rejected, the old database keeps serving: %w", err)
		svc.Engine.NoteReloadFailure(err)
		if svc.Log != nil {
			svc.Log.Error("reload", "err", err)
		}
		return nil, err
	}
	svc.Engine.Swap(db)
	ReleaseLoadGarbage()
	if svc.Log != nil {
		svc.Log.Info("reload", "version", db.Version, "ms", db.LoadTime.Milliseconds(), "signatures", db.Counts, "untranslatable", len(db.Untranslatable))
	}
	return db, nil
}

// ReleaseLoadGarbage returns the memory a DB load used for parsing to the
// operating system at once, so the daemon's resident size reflects the DB
// itself rather than the garbage of building it.
func ReleaseLoadGarbage() {
	runtime.GC()
	debug.FreeOSMemory()
}

func untranslatable(db *sigdb.DB) []string {
	out := make([]string, 0, len(db.Untranslatable))
	for _, u := range db.Untranslatable {
		out = append(out, fmt.Sprintf("%s:%d: %s: %s", u.File, u.Line, u.Name, u.Reason))
	}
	return out
}

// Status reports the engine's state.
func (svc *Service) Status(ctx context.Context, _ *avev1.StatusRequest) (*avev1.StatusResponse, error) {
	s := svc.Engine.Stats()
	return &avev1.StatusResponse{
		DbVersion:       s.DB.Version,
		Signatures:      s.DB.Counts,
		Untranslatable:  int64(len(s.DB.Untranslatable)),
		UptimeS:         int64(s.Uptime / time.Second),
		Workers:         int32(s.Workers),
		WorkersBusy:     int32(s.WorkersBusy),
		QueueLength:     int32(s.Queued),
		QueueCapacity:   int32(s.QueueCapacity),
		Totals:          s.Totals,
		CacheHits:       s.CacheHits,
		CacheMisses:     s.CacheMisses,
		CacheEntries:    int64(s.CacheEntries),
		DbLoadedUnix:    s.DB.Loaded.Unix(),
		Reloads:         s.Reloads,
		ReloadFailures:  s.ReloadFailures,
		LastReloadError: s.LastReloadErr,
	}, nil
}

// toStatus maps engine errors to gRPC codes; clients map them back.
func toStatus(err error) error {
	switch {
	case errors.Is(err, engine.ErrBusy):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func toProto(r engine.Response) *avev1.ScanResponse {
	out := &avev1.ScanResponse{
		Status:     statusToProto(r.Status),
		DbVersion:  r.DBVersion,
		Objects:    r.Objects,
		Bytes:      r.Bytes,
		DurationUs: r.Duration.Microseconds(),
		Cached:     r.Cached,

		ObjectsTruncated: r.ObjectsTruncated,
	}
	if len(r.ListedObjects) > 0 {
		// One allocation for all the messages: a list may be 10,000 long.
		infos := make([]avev1.ObjectInfo, len(r.ListedObjects))
		out.ListedObjects = make([]*avev1.ObjectInfo, len(r.ListedObjects))
		for i, o := range r.ListedObjects {
			infos[i].Path, infos[i].Type, infos[i].Depth, infos[i].Size = o.Path, o.Type, int32(o.Depth), o.Size
			out.ListedObjects[i] = &infos[i]
		}
	}
	for _, d := range r.Detections {
		out.Detections = append(out.Detections, &avev1.Detection{
			Path: d.Path, Status: statusToProto(d.Status), Name: d.Name, Engine: d.Engine,
			Reason: d.Reason, Type: d.Type, Depth: int32(d.Depth), Meta: d.Meta,
		})
	}
	return out
}

// statusToProto maps by name: the proto enum uses the verdict names.
func statusToProto(s verdict.Status) avev1.Status {
	return avev1.Status(avev1.Status_value[s.String()])
}
