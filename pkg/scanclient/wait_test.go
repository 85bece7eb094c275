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

// TestReconnectsSoonAfterTheDaemonComesBack: a client whose daemon was
// gone for 10 s (gRPC's default back-off would have grown to 6.5 s
// between attempts by then) answers within a couple of seconds of the
// daemon's return: Dial caps the back-off at a second.
func TestReconnectsSoonAfterTheDaemonComesBack(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s")
	}
	sock := filepath.Join(t.TempDir(), "s")
	serve := func() *grpc.Server {
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		avev1.RegisterEngineServer(srv, statusEngine{})
		go srv.Serve(l)
		return srv
	}
	srv := serve()
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.Status(ctx)
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	down := time.Now()
	for time.Since(down) < 10*time.Second {
		call() // fails: the back-off grows
		time.Sleep(50 * time.Millisecond)
	}
	srv = serve()
	defer srv.Stop()
	up := time.Now()
	for call() != nil {
		if time.Since(up) > 20*time.Second {
			t.Fatal("no answer 20 s after the daemon came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if late := time.Since(up); late > 2500*time.Millisecond {
		t.Fatalf("answered %s after the daemon came back, want about a second at most", late)
	}
}
