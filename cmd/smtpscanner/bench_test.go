package main_test

import (
	"fmt"
	"math/rand"
	"net/smtp"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ave/internal/testkit"
)

// benchCorpus makes n messages: sizes with a median near 15 KB and a tail
// to 2 MB, random (incompressible) base64 attachments, 1% carrying EICAR.
func benchCorpus(n int) [][]byte {
	rng := rand.New(rand.NewSource(7))
	out := make([][]byte, n)
	for i := range out {
		var size int
		switch p := rng.Float64(); {
		case p < 0.70:
			size = 2_000 + rng.Intn(18_000)
		case p < 0.95:
			size = 20_000 + rng.Intn(180_000)
		default:
			size = 200_000 + rng.Intn(1_800_000)
		}
		raw := make([]byte, size*3/4)
		rng.Read(raw)
		if i%100 == 99 {
			out[i] = testkit.Mail("eicar.com", []byte(testkit.EICAR))
			continue
		}
		out[i] = []byte(strings.Replace(string(testkit.Mail("data.bin", raw)), "Message-ID: <t1@example.org>", fmt.Sprintf("Message-ID: <b%d@example.org>", i), 1))
	}
	return out
}

// drive sends b.N messages from clients concurrent senders to addr over
// SMTP and reports messages/s and latency percentiles.
func drive(b *testing.B, addr string, clients int, corpus [][]byte) {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	next := make(chan int)
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				err := smtp.SendMail(addr, nil, "s@example.org", []string{"r@example.net"}, corpus[i%len(corpus)])
				d := time.Since(t0)
				if err != nil && !strings.Contains(err.Error(), "554") {
					b.Error(err)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkThroughput: messages through smtpscanner + aveserver into a
// sink at 2, 4 and 8 concurrent clients, and the sink alone (the
// transport's ceiling). go test -run XXX -bench Throughput -benchtime 400x ./cmd/smtpscanner
func BenchmarkThroughput(b *testing.B) {
	corpus := benchCorpus(200)
	sink := testkit.StartMTA(b, "tcp", false)
	sink.Sink = true
	for _, clients := range []int{2, 4, 8} {
		b.Run(fmt.Sprintf("sink-only/clients=%d", clients), func(b *testing.B) {
			drive(b, sink.Addr, clients, corpus)
		})
	}
	sock, _ := startAVEServer(b)
	r := startScanner(b, sock, "smtp:"+sink.Addr, "smtp", "")
	// net/smtp dials TCP: restart the scanner on a loopback port.
	r.p.stop()
	r.addr = fmt.Sprintf("127.0.0.1:%d", freePort(b))
	conf, _ := os.ReadFile(r.conf)
	conf = []byte(regexp.MustCompile(`(?m)^ListenAddress=.*$`).ReplaceAllString(string(conf), "ListenAddress="+r.addr))
	if err := os.WriteFile(r.conf, conf, 0o600); err != nil {
		b.Fatal(err)
	}
	r.run(b)
	scanAddr := r.addr
	for _, clients := range []int{2, 4, 8} {
		b.Run(fmt.Sprintf("smtpscanner/clients=%d", clients), func(b *testing.B) {
			drive(b, scanAddr, clients, corpus)
		})
	}
}
