package scanservice_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	avev1 "ave/proto/ave/v1"

	"ave/internal/testkit"
	"ave/pkg/engine"
	"ave/pkg/scanclient"
	"ave/pkg/scanservice"
	"ave/pkg/sigdb"
	"ave/pkg/unpack"
	"ave/pkg/verdict"
)

type harness struct {
	dir    string
	svc    *scanservice.Service
	client *scanclient.Client
	socket string
}

// start serves a real engine on a unix socket in a short temp dir.
func start(t *testing.T, opt engine.Options) *harness {
	t.Helper()
	dir := t.TempDir()
	testkit.WriteDB(t, dir, nil)
	db, err := sigdb.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "ave")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	svc := &scanservice.Service{Engine: engine.New(db, opt), Load: func() (*sigdb.DB, error) { return sigdb.Load(dir) }}
	srv := grpc.NewServer(scanservice.ServerOptions()...)
	svc.Register(srv)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	c, err := scanclient.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &harness{dir: dir, svc: svc, client: c, socket: sock}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestScanFindsEICARAndReportsCleanFiles(t *testing.T) {
	h := start(t, engine.Options{})
	res, err := h.client.ScanBytes(ctx(t), "eicar.com", "", []byte(testkit.EICAR))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != verdict.Infected || len(res.Detections) != 1 || res.Detections[0].Name != "EICAR-Test-File" || res.Detections[0].Path != "eicar.com" {
		t.Fatalf("got %+v", res)
	}
	res, err = h.client.ScanBytes(ctx(t), "note.txt", "", []byte("hello world\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != verdict.Clean || len(res.Detections) != 0 {
		t.Fatalf("clean file: got %+v", res)
	}
}

func TestScanPathReadsTheFileOnTheServer(t *testing.T) {
	h := start(t, engine.Options{})
	p := filepath.Join(t.TempDir(), "sample.bin")
	if err := os.WriteFile(p, []byte("xx "+testkit.BodyPattern+" yy"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := h.client.ScanPath(ctx(t), p, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != verdict.Infected || res.Names()[0] != "Test.Body.Pattern" || res.Detections[0].Engine != "body" {
		t.Fatalf("got %+v", res)
	}
	if _, err := h.client.ScanPath(ctx(t), filepath.Join(t.TempDir(), "missing"), ""); err == nil {
		t.Fatal("missing file: want an error")
	}
}

func TestStreamedObjectOverMaxObjectSizeIsUnchecked(t *testing.T) {
	h := start(t, engine.Options{Limits: limits(4096)})
	big := make([]byte, 3<<20) // three chunks
	copy(big, testkit.EICAR)
	res, err := h.client.ScanBytes(ctx(t), "big.bin", "", big)
	if err != nil {
		t.Fatal(err)
	}
	var unchecked bool
	for _, d := range res.Detections {
		unchecked = unchecked || (d.Status == verdict.Unchecked && strings.Contains(d.Reason, "MaxObjectSize"))
	}
	if !unchecked || res.Status != verdict.Infected {
		t.Fatalf("want UNCHECKED for size and the EICAR prefix still found; got %+v", res)
	}
}

func TestCacheHitsAreCountedInStatus(t *testing.T) {
	h := start(t, engine.Options{})
	for i := 0; i < 3; i++ {
		res, err := h.client.ScanBytes(ctx(t), "e.com", "", []byte(testkit.EICAR))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != verdict.Infected || res.Cached != (i > 0) {
			t.Fatalf("scan %d: got status %v cached %v", i, res.Status, res.Cached)
		}
	}
	st, err := h.client.Status(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.GetCacheHits() != 2 || st.GetCacheMisses() != 1 || st.GetTotals()["INFECTED"] != 3 {
		t.Fatalf("status: %v", st)
	}
	if st.GetSignatures()["yara"] != 1 || st.GetSignatures()["body"] != 1 || st.GetWorkers() < 1 {
		t.Fatalf("status signatures: %v", st.GetSignatures())
	}
}

// A NoCache scan (smtpscanner's messages) is neither served from the
// cache nor stored in it, over the real socket.
func TestNoCacheScansSkipTheCache(t *testing.T) {
	h := start(t, engine.Options{})
	eicar := []byte(testkit.EICAR)
	for i := 0; i < 2; i++ {
		res, err := h.client.ScanBytesWithOptions(ctx(t), "q1", eicar, scanclient.ScanOptions{NoCache: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != verdict.Infected || res.Cached {
			t.Fatalf("NoCache scan %d: status %v cached %v", i, res.Status, res.Cached)
		}
	}
	st, err := h.client.Status(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.GetCacheHits() != 0 || st.GetCacheMisses() != 0 || st.GetCacheEntries() != 0 || st.GetTotals()["INFECTED"] != 2 {
		t.Fatalf("status after NoCache scans: %v", st)
	}
	// The same object without the flag is stored, then served; a
	// NoCache request still does not take the stored result.
	for i, c := range []struct {
		noCache, cached bool
	}{{false, false}, {false, true}, {true, false}} {
		res, err := h.client.ScanBytesWithOptions(ctx(t), "q1", eicar, scanclient.ScanOptions{NoCache: c.noCache})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != verdict.Infected || res.Cached != c.cached {
			t.Fatalf("scan %d (NoCache %v): status %v cached %v", i, c.noCache, res.Status, res.Cached)
		}
	}
}

func TestBusyWhenWorkersAndQueueAreFull(t *testing.T) {
	h := start(t, engine.Options{Workers: 1, QueueLength: 1})
	conn := h.rawConn(t)
	api := avev1.NewEngineClient(conn)
	// Two scans that have sent their header but not their end hold both
	// places (the one worker and the one queue slot).
	for i := 0; i < 2; i++ {
		s, err := api.Scan(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&avev1.ScanChunk{Header: &avev1.ScanHeader{Name: fmt.Sprint("held", i)}, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	// Admission happens on the server after the header arrives: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := h.client.Status(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if st.GetQueueLength()+st.GetWorkersBusy() >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := h.client.ScanBytes(ctx(t), "third", "", []byte("hello"))
	if !errors.Is(err, scanclient.ErrBusy) {
		t.Fatalf("want ErrBusy, got %v", err)
	}
	st, err := h.client.Status(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.GetTotals()["BUSY"] != 1 {
		t.Fatalf("BUSY not counted: %v", st.GetTotals())
	}
}

func TestReloadUnderConcurrentScansLosesNoScan(t *testing.T) {
	h := start(t, engine.Options{Workers: 2, QueueLength: 64, CacheEntries: -1})
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	stop := make(chan struct{})
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data := []byte(testkit.EICAR)
				want := verdict.Infected
				if i%2 == 1 {
					data = []byte(fmt.Sprintf("clean %d %d", g, i))
					want = verdict.Clean
				}
				res, err := h.client.ScanBytes(ctx(t), "x", "", data)
				if errors.Is(err, scanclient.ErrBusy) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if res.Status != want {
					errs <- fmt.Errorf("goroutine %d scan %d: status %v, want %v", g, i, res.Status, want)
					return
				}
			}
		}(g)
	}
	versions := map[string]bool{}
	for i := 0; i < 8; i++ {
		// Each reload changes the DB content, so the version changes.
		testkit.WriteDB(t, h.dir, map[string]string{"extra.yar": fmt.Sprintf("rule extra_%d { condition: false }\n", i)})
		r, err := h.client.Reload(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		versions[r.GetDbVersion()] = true
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(versions) != 8 {
		t.Fatalf("want 8 distinct versions, got %v", versions)
	}
	st, err := h.client.Status(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.GetReloads() != 8 || st.GetTotals()["ERROR"] != 0 {
		t.Fatalf("status after reloads: %v", st)
	}
}

func TestBrokenDatabaseOnReloadKeepsTheOldOne(t *testing.T) {
	h := start(t, engine.Options{})
	before, err := h.client.Status(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "broken.yar"), []byte("rule broken { condition: nosuchthing }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = h.client.Reload(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "broken.yar") || !strings.Contains(err.Error(), "old database keeps serving") {
		t.Fatalf("want a reload error naming broken.yar, got %v", err)
	}
	res, err := h.client.ScanBytes(ctx(t), "e", "", []byte(testkit.EICAR))
	if err != nil || res.Status != verdict.Infected {
		t.Fatalf("old DB must keep serving: %v %+v", err, res)
	}
	after, err := h.client.Status(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if after.GetDbVersion() != before.GetDbVersion() || after.GetReloadFailures() != 1 || !strings.Contains(after.GetLastReloadError(), "broken.yar") {
		t.Fatalf("status after failed reload: %v", after)
	}
}

func limits(maxObject int64) (l unpack.Limits) {
	l.MaxObjectSize = maxObject
	return l
}

// rawConn is a plain gRPC connection to the harness's socket.
func (h *harness) rawConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix:"+h.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestHealthServiceReportsServing(t *testing.T) {
	h := start(t, engine.Options{})
	conn := h.rawConn(t)
	for _, svc := range []string{"", "ave.v1.Engine"} {
		r, err := healthpb.NewHealthClient(conn).Check(ctx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v %v", svc, r, err)
		}
	}
}

// TestChunksAreJoinedInOrder sends objects as raw streams: one chunk
// (scanned from that message's own buffer), and a pattern split over
// three chunks with empty ones between and a header that understates
// the size (joined in order into one buffer).
func TestChunksAreJoinedInOrder(t *testing.T) {
	h := start(t, engine.Options{})
	conn := h.rawConn(t)
	api := avev1.NewEngineClient(conn)
	p := testkit.BodyPattern
	for _, tc := range []struct {
		name   string
		size   int64
		chunks []string
		want   verdict.Status
	}{
		{"one chunk", int64(len(p) + 6), []string{"xx " + p + " yy"}, verdict.Infected},
		{"split pattern", 4, []string{"xx " + p[:5], "", p[5:12], "", p[12:] + " yy"}, verdict.Infected},
		{"header only, then data", 0, []string{"", "xx " + p}, verdict.Infected},
		{"pattern broken by a chunk", 0, []string{"xx " + p[:5], "-", p[5:]}, verdict.Clean},
	} {
		stream, err := api.Scan(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range tc.chunks {
			msg := &avev1.ScanChunk{Data: []byte(c)}
			if i == 0 {
				msg.Header = &avev1.ScanHeader{Name: "o.bin", Size: tc.size}
			}
			if err := stream.Send(msg); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var n int
		for _, c := range tc.chunks {
			n += len(c)
		}
		if got := statusOf(resp); got != tc.want || resp.GetBytes() < int64(n) {
			t.Fatalf("%s: got %v over %d bytes, want %v over %d", tc.name, got, resp.GetBytes(), tc.want, n)
		}
	}
}

func statusOf(r *avev1.ScanResponse) verdict.Status {
	s, err := verdict.Parse(r.GetStatus().String())
	if err != nil {
		return verdict.Unchecked
	}
	return s
}
