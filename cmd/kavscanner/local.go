package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"ave/pkg/scanclient"
)

// localServer is a private aveserver started by --local: kavscanner stays
// free of cgo and of the engine, so "in-process" means a child process on
// a temporary socket that lives exactly as long as the scan.
type localServer struct {
	client    *scanclient.Client
	dbVersion string
	workers   int
	stop      func()
}

// aveserverBinary finds aveserver next to kavscanner, else in $PATH.
func aveserverBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "aveserver")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath("aveserver")
	if err != nil {
		return "", errors.New("--local: no aveserver binary next to kavscanner or in PATH")
	}
	return p, nil
}

// startLocal starts aveserver on db with a socket in a new temporary
// directory and waits (up to two minutes: loading a large DB takes time)
// until it answers.
func startLocal(ctx context.Context, db, cfgFile string, stderr io.Writer) (*localServer, error) {
	bin, err := aveserverBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kavscanner-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "aveserver.sock")
	args := []string{"--socket", sock}
	if cfgFile != "" {
		args = append(args, "-c", cfgFile)
	}
	if db != "" {
		args = append(args, "--db", db)
	}
	cmd := exec.Command(bin, args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("--local: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	c, err := scanclient.Dial(sock)
	if err != nil {
		stop()
		return nil, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.Status(sctx)
		cancel()
		if err == nil {
			return &localServer{client: c, dbVersion: st.GetDbVersion(), workers: int(st.GetWorkers()),
				stop: func() { c.Close(); stop() }}, nil
		}
		select {
		case <-exited:
			c.Close()
			os.RemoveAll(dir)
			return nil, fmt.Errorf("--local: aveserver exited: %s", bytes.TrimSpace(log.Bytes()))
		case <-ctx.Done():
			c.Close()
			stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Close()
			stop()
			return nil, fmt.Errorf("--local: aveserver did not answer: %s", bytes.TrimSpace(log.Bytes()))
		}
	}
}
