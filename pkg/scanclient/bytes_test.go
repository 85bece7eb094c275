package scanclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"google.golang.org/grpc"

	avev1 "ave/proto/ave/v1"
)

// echoEngine answers each Scan with the SHA-256 and size of what it got
// (in the first detection's name) and the chunk count (Objects).
type echoEngine struct {
	avev1.UnimplementedEngineServer
}

func (echoEngine) Scan(stream grpc.ClientStreamingServer[avev1.ScanChunk, avev1.ScanResponse]) error {
	h := sha256.New()
	var n, chunks int
	var hdr *avev1.ScanHeader
	for {
		c, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if c.GetHeader() != nil {
			if hdr != nil {
				return fmt.Errorf("header sent twice")
			}
			hdr = c.GetHeader()
		}
		h.Write(c.GetData())
		n += len(c.GetData())
		chunks++
	}
	if hdr == nil {
		return fmt.Errorf("no header")
	}
	return stream.SendAndClose(&avev1.ScanResponse{
		Status:     avev1.Status_INFECTED,
		Objects:    int64(chunks),
		Detections: []*avev1.Detection{{Name: fmt.Sprintf("%x/%d/%s/%d", h.Sum(nil), n, hdr.GetName(), hdr.GetSize())}},
	})
}

func TestScanSendsBytesReadersAndReadersAlike(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(4 * chunkSize))
	avev1.RegisterEngineServer(srv, echoEngine{})
	go srv.Serve(l)
	defer srv.Stop()
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, size := range []int{0, 1, 1000, chunkSize, chunkSize + 1, 2*chunkSize + 5} {
		data := bytes.Repeat([]byte("0123456789"), size/10+1)[:size]
		want := fmt.Sprintf("%x/%d/m/%d", sha256.Sum256(data), size, size)
		chunks := max(1, (size+chunkSize-1)/chunkSize)
		for name, r := range map[string]io.Reader{
			"bytes.Buffer": bytes.NewBuffer(data),
			"plain reader": iotest.HalfReader(bytes.NewReader(data)),
		} {
			res, err := c.Scan(context.Background(), "m", "", int64(size), r)
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", name, size, err)
			}
			if got := res.Detections[0].Name; got != want {
				t.Fatalf("%s, %d bytes: server got %s, want %s", name, size, got, want)
			}
			if name == "bytes.Buffer" && res.Objects != int64(chunks) {
				t.Fatalf("%d bytes: %d chunks, want %d", size, res.Objects, chunks)
			}
		}
		res, err := c.ScanBytes(context.Background(), "m", "", data)
		if err != nil || res.Detections[0].Name != want {
			t.Fatalf("ScanBytes, %d bytes: %v %v", size, res, err)
		}
	}
	// A BytesReader whose content does not match size is read instead.
	res, err := c.Scan(context.Background(), "m", "", 3, strings.NewReader("abc"))
	if err != nil || !strings.HasSuffix(res.Detections[0].Name, "/3/m/3") {
		t.Fatalf("%v %v", res, err)
	}
	res, err = c.Scan(context.Background(), "m", "", 2, bytes.NewBufferString("abc"))
	if err != nil || !strings.HasSuffix(res.Detections[0].Name, "/3/m/2") {
		t.Fatalf("%v %v", res, err)
	}
}
