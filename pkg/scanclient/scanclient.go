// Package scanclient is the gRPC client of aveserver used by every thin
// binary (avectl, smtpscanner, kavscanner, qmail-queue, keepup2date). It
// has no cgo and does not import the engine. Results come back as
// pkg/verdict values; "busy" and "unreachable" come back as the sentinel
// errors ErrBusy and ErrUnavailable, which callers turn into temporary
// failures.
package scanclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	avev1 "ave/proto/ave/v1"

	"ave/pkg/verdict"
)

// Sentinel errors.
var (
	// ErrBusy: the daemon's workers and queue are full; retry later.
	ErrBusy = errors.New("scanclient: aveserver busy")
	// ErrUnavailable: the daemon cannot be reached.
	ErrUnavailable = errors.New("scanclient: aveserver unavailable")
	// ErrRefused: Reload found a DB it would not load (the old one stays).
	ErrRefused = errors.New("scanclient: aveserver refused the database")
)

const chunkSize = 1 << 20

// Client talks to one aveserver. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	api  avev1.EngineClient
}

// Dial connects to addr: a unix socket path ("/run/ave/aveserver.sock",
// "unix:/path") or "tcp:host:port". The connection is made lazily; the
// first call reports ErrUnavailable when nobody listens.
func Dial(addr string) (*Client, error) {
	target := addr
	switch {
	case strings.HasPrefix(addr, "tcp:"):
		target = "passthrough:///" + strings.TrimPrefix(addr, "tcp:")
	case strings.HasPrefix(addr, "unix:"):
		target = addr
	default:
		target = "unix:" + addr
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(2*chunkSize)),
		// Static flow-control windows (a result with a long object list
		// comes back without WINDOW_UPDATE round trips, and no
		// bandwidth-estimation PINGs), and a write buffer that takes a
		// typical mail message's frames in one write(2).
		grpc.WithStaticStreamWindowSize(4*chunkSize), grpc.WithStaticConnWindowSize(16*chunkSize),
		grpc.WithWriteBufferSize(256<<10),
		// gRPC's default reconnect back-off grows to 2 minutes: after an
		// aveserver restart, smtpscanner would defer mail that long. The
		// daemon is local (or near): retry at most a second apart.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}))
	if err != nil {
		return nil, fmt.Errorf("scanclient: %s: %w", addr, err)
	}
	return &Client{conn: conn, api: avev1.NewEngineClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Result is a scan outcome.
type Result struct {
	verdict.Result
	DBVersion string
	Duration  time.Duration
	Cached    bool
}

// ScanOptions are the optional parts of a scan request.
type ScanOptions struct {
	// TypeHint is an optional detected or declared type ("mail", "zip",
	// ...); the daemon still detects the type by content.
	TypeHint string
	// ListObjects asks for Result.ListedObjects: every object the scan
	// reached (the top one and each member at every depth), clean or not,
	// with its path, content type, depth and size, in scan order; members
	// refused before they could be read (encrypted, over a limit) have an
	// empty type. The daemon bounds the list (10,000 by default) and sets
	// Result.ObjectsTruncated when it cut it.
	ListObjects bool
	// NoCache tells the daemon that the object will not be seen again (a
	// mail message named by its queue id): it skips the result cache.
	NoCache bool
}

// Scan streams r to the daemon under name (with an optional type hint) and
// returns the verdict. size may be 0 when unknown.
func (c *Client) Scan(ctx context.Context, name, hint string, size int64, r io.Reader) (*Result, error) {
	return c.ScanWithOptions(ctx, name, size, r, ScanOptions{TypeHint: hint})
}

// BytesReader is a reader that holds the rest of its content in memory
// (bytes.Buffer is one): Scan sends those bytes as they are, without
// reading them, when they are exactly size bytes (or size is 0); the
// reader is not advanced.
type BytesReader interface {
	io.Reader
	Bytes() []byte // the bytes not read yet
}

// ScanWithOptions is Scan with every option: it streams r to the daemon
// under name and returns the verdict. size may be 0 when unknown.
func (c *Client) ScanWithOptions(ctx context.Context, name string, size int64, r io.Reader, opt ScanOptions) (*Result, error) {
	if br, ok := r.(BytesReader); ok {
		if data := br.Bytes(); size <= 0 || int64(len(data)) == size {
			return c.scanData(ctx, name, data, opt)
		}
	}
	stream, err := c.api.Scan(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	n := chunkSize
	if size > 0 && size < chunkSize {
		n = int(size) + 1 // +1: the read that finds the end
	}
	buf := make([]byte, n)
	header := &avev1.ScanHeader{Name: name, TypeHint: opt.TypeHint, Size: size, ListObjects: opt.ListObjects, NoCache: opt.NoCache}
	sent := false
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 || !sent {
			msg := &avev1.ScanChunk{Data: buf[:n]}
			if !sent {
				msg.Header = header
				sent = true
			}
			if err := stream.Send(msg); err != nil {
				if err == io.EOF {
					// The server ended the stream: its status says why.
					_, err = stream.CloseAndRecv()
				}
				return nil, mapErr(err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			stream.CloseSend()
			return nil, fmt.Errorf("scanclient: reading %s: %w", name, rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, mapErr(err)
	}
	return fromProto(resp), nil
}

// scanData streams data in chunks of up to chunkSize, without copying it
// (gRPC marshals each chunk before Send returns).
func (c *Client) scanData(ctx context.Context, name string, data []byte, opt ScanOptions) (*Result, error) {
	stream, err := c.api.Scan(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	msg := &avev1.ScanChunk{Header: &avev1.ScanHeader{Name: name, TypeHint: opt.TypeHint, Size: int64(len(data)), ListObjects: opt.ListObjects, NoCache: opt.NoCache}}
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), chunkSize)
		msg.Data = data[:n]
		data = data[n:]
		if err := stream.Send(msg); err != nil {
			if err == io.EOF {
				// The server ended the stream: its status says why.
				_, err = stream.CloseAndRecv()
			}
			return nil, mapErr(err)
		}
		msg.Header = nil
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, mapErr(err)
	}
	return fromProto(resp), nil
}

// ScanBytes scans an object held in memory.
func (c *Client) ScanBytes(ctx context.Context, name, hint string, data []byte) (*Result, error) {
	return c.scanData(ctx, name, data, ScanOptions{TypeHint: hint})
}

// ScanBytesWithOptions scans an object held in memory.
func (c *Client) ScanBytesWithOptions(ctx context.Context, name string, data []byte, opt ScanOptions) (*Result, error) {
	return c.scanData(ctx, name, data, opt)
}

// ScanPath asks the daemon to open path itself (same host only).
func (c *Client) ScanPath(ctx context.Context, path, hint string) (*Result, error) {
	return c.ScanPathWithOptions(ctx, path, ScanOptions{TypeHint: hint})
}

// ScanPathWithOptions is ScanPath with every option.
func (c *Client) ScanPathWithOptions(ctx context.Context, path string, opt ScanOptions) (*Result, error) {
	resp, err := c.api.ScanPath(ctx, &avev1.ScanPathRequest{Path: path, TypeHint: opt.TypeHint, ListObjects: opt.ListObjects})
	if err != nil {
		return nil, mapErr(err)
	}
	return fromProto(resp), nil
}

// Reload asks the daemon to reload its database.
func (c *Client) Reload(ctx context.Context) (*avev1.ReloadResponse, error) {
	resp, err := c.api.Reload(ctx, &avev1.ReloadRequest{})
	return resp, mapErr(err)
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (*avev1.StatusResponse, error) {
	resp, err := c.api.Status(ctx, &avev1.StatusRequest{})
	return resp, mapErr(err)
}

// WaitReady asks the daemon for its status until it answers or ctx ends
// (a daemon loads its DB before it listens, so this waits for the load),
// polling every 50 ms with at most a second per attempt. It returns the
// status, or the last error joined with ctx's. Each attempt dials
// afresh (the connection's reconnect back-off is reset).
func (c *Client) WaitReady(ctx context.Context) (*avev1.StatusResponse, error) {
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.Status(attempt)
		cancel()
		if err == nil {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("aveserver did not answer: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
		// Dial again now rather than after the connection's back-off.
		c.conn.ResetConnectBackoff()
	}
}

// mapErr turns gRPC status codes into the package's sentinel errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.ResourceExhausted:
		return fmt.Errorf("%w: %s", ErrBusy, st.Message())
	case codes.Unavailable:
		return fmt.Errorf("%w: %s", ErrUnavailable, st.Message())
	case codes.FailedPrecondition:
		return fmt.Errorf("%w: %s", ErrRefused, st.Message())
	}
	return fmt.Errorf("scanclient: %s: %s", st.Code(), st.Message())
}

func fromProto(p *avev1.ScanResponse) *Result {
	r := &Result{DBVersion: p.GetDbVersion(), Duration: time.Duration(p.GetDurationUs()) * time.Microsecond, Cached: p.GetCached()}
	r.Status = statusFromProto(p.GetStatus())
	r.Objects = p.GetObjects()
	r.Bytes = p.GetBytes()
	for _, d := range p.GetDetections() {
		r.Detections = append(r.Detections, verdict.Detection{
			Path: d.GetPath(), Status: statusFromProto(d.GetStatus()), Name: d.GetName(), Engine: d.GetEngine(),
			Reason: d.GetReason(), Type: d.GetType(), Depth: int(d.GetDepth()), Meta: d.GetMeta(),
		})
	}
	if objs := p.GetListedObjects(); len(objs) > 0 {
		r.ListedObjects = make([]verdict.Object, len(objs))
		for i, o := range objs {
			r.ListedObjects[i] = verdict.Object{Path: o.GetPath(), Type: o.GetType(), Depth: int(o.GetDepth()), Size: o.GetSize()}
		}
	}
	r.ObjectsTruncated = p.GetObjectsTruncated()
	return r
}

// statusFromProto maps by name: the proto enum uses the verdict names;
// an unknown value (a newer server) counts as UNCHECKED, never CLEAN.
func statusFromProto(s avev1.Status) verdict.Status {
	v, err := verdict.Parse(s.String())
	if err != nil {
		return verdict.Unchecked
	}
	return v
}
