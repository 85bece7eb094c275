package scanclient

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	avev1 "ave/proto/ave/v1"
)

type statusEngine struct {
	avev1.UnimplementedEngineServer
}

func (statusEngine) Status(context.Context, *avev1.StatusRequest) (*avev1.StatusResponse, error) {
	return &avev1.StatusResponse{DbVersion: "wait-test"}, nil
}

// TestWaitReadyWaitsForADaemonThatStartsLate: the client is made before
// anything listens (as a front-end started beside aveserver does); WaitReady
// returns the status once the daemon is up.
func TestWaitReadyWaitsForADaemonThatStartsLate(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := grpc.NewServer()
	avev1.RegisterEngineServer(srv, statusEngine{})
	defer srv.Stop()
	go func() {
		time.Sleep(300 * time.Millisecond)
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Error(err)
			return
		}
		srv.Serve(l)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := c.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetDbVersion() != "wait-test" {
		t.Fatalf("status %v", st)
	}
}

// TestWaitReadyEndsWithItsContext: no daemon; the error says so and keeps
// both the deadline and the last transport error.
func TestWaitReadyEndsWithItsContext(t *testing.T) {
	c, err := Dial(filepath.Join(t.TempDir(), "none"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err = c.WaitReady(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error") {
		t.Fatalf("got %v", err)
	}
}
