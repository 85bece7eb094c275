package main_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"ave/internal/testkit"
	avev1 "ave/proto/ave/v1"
)

// TestSIGTERMFinishesScansInFlightWithinMaxScanTime: a scan whose object
// is still arriving when SIGTERM comes gets its verdict; a new scan is
// refused; and a client that never finishes its object does not keep the
// daemon past MaxScanTime (plus 5 s).
func TestSIGTERMFinishesScansInFlightWithinMaxScanTime(t *testing.T) {
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "ave.sock")
	conf := write(t, dir, "ave.conf", []byte("[aveserver.limits]\nMaxScanTime=1\n"))
	start := func() (*exec.Cmd, *testkit.SyncBuffer, chan error) {
		cmd := exec.Command(filepath.Join(binDir, "aveserver"), "-c", conf, "--db", "../../etc/db", "--socket", sock)
		log := &testkit.SyncBuffer{}
		cmd.Stderr = log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill() })
		d := &daemon{socket: sock}
		if _, stderr, code := d.avectl(t, "status", "--wait", "30s"); code != 0 {
			t.Fatalf("aveserver did not come up: %s\n%s", stderr, log.String())
		}
		return cmd, log, exited
	}
	conn, err := grpc.NewClient("unix:"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	api := avev1.NewEngineClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cmd, log, exited := start()
	half := len(testkit.EICAR) / 2
	stream, err := api.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&avev1.ScanChunk{Header: &avev1.ScanHeader{Name: "eicar.com"}, Data: []byte(testkit.EICAR[:half])}); err != nil {
		t.Fatal(err)
	}
	// The daemon has the stream once a status call made after it answers
	// (one connection: frames arrive in order).
	if _, err := api.Status(ctx, &avev1.StatusRequest{}); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for i := 0; !strings.Contains(log.String(), "stopping"); i++ {
		if i == 200 {
			t.Fatalf("no 'stopping' in the log:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// New calls are refused once the graceful stop began (just after the
	// log line).
	for i := 0; ; i++ {
		if _, err := api.Status(ctx, &avev1.StatusRequest{}, grpc.WaitForReady(false)); err != nil {
			break
		}
		if i == 200 {
			t.Fatal("new calls still served 2 s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stream.Send(&avev1.ScanChunk{Data: []byte(testkit.EICAR[half:])}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil || resp.GetStatus() != avev1.Status_INFECTED {
		t.Fatalf("scan in flight: %v, %v\n%s", resp, err, log.String())
	}
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("aveserver did not exit after its last scan")
	}

	// A client that stops sending: the daemon still exits, after
	// MaxScanTime + 5 s at most.
	cmd, log, exited = start()
	stuck, err := api.Scan(ctx, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := stuck.Send(&avev1.ScanChunk{Header: &avev1.ScanHeader{Name: "slow"}, Data: []byte("partial")}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Status(ctx, &avev1.StatusRequest{}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if took := time.Since(sent); took < time.Second {
			t.Errorf("exited after %s: did not wait for the scan in flight", took)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("aveserver still running 30 s after SIGTERM with a stuck client:\n%s", log.String())
	}
}
