// Command mailbench is the load side of the `mail` part of `make bench`:
// an SMTP load client that sends a generated mail corpus over N
// concurrent connections to any host:port and measures per-message
// latency, and a loopback SMTP sink that reads and drops what it gets
// (the transport's ceiling, and the downstream MTA of the filters under
// test). The corpus and the load pattern are those of
// cmd/smtpscanner/bench_test.go: sizes with a median near 15 KB and a tail
// to 2 MB, random (incompressible) base64 attachments, 1% carrying EICAR,
// one SMTP connection per message.
//
//	mailbench sink -listen 127.0.0.1:0 [-stats FILE] [-addr-file FILE] [-save DIR]
//	mailbench deliver -addr HOST:PORT [-from A] [-to B] FILE...
//	mailbench send -addr HOST:PORT -clients N [-n 2000] [-seed 7] [-pass K]
//	               [-warmup 20] [-timeout 120s] [-sink-stats FILE] [-cpu-pids NAME=PID,...]
//	mailbench corpus [-n 2000] [-seed 7]      (prints size statistics)
//	mailbench freeport                        (prints a free loopback TCP port)
//
// send prints one line of key=value pairs: msgs, ok (250), rejected (5xx),
// tempfail (4xx), errors (transport failures), secs, rate (msgs/s), p50_ms,
// p99_ms, mb (corpus MB), cpu (CPU seconds the whole machine used during
// the timed run, this client and the servers included), with -cpu-pids
// the CPU ms per message of each named process (cpu_NAME=, from
// /proc/PID/stat) and of this client (cpu_client=) over the timed run,
// and, with -sink-stats, sink (messages the sink got during the run).
//
// sink -save DIR keeps every message it gets as DIR/NNNN.eml (scripts/
// demo.sh shows what came through smtpscanner); deliver sends each FILE in
// its own SMTP transaction through AVE's own client (pkg/mailer) and
// prints the reply, "FILE: 250 2.0.0 ...", exiting 1 when any was not 250.
//
// Every pass (-pass) uses the same sizes and the same infected positions
// but fresh random content, so that no scanner answers a later pass from a
// result cache keyed by content (aveserver's SHA-256 cache, amavisd's body
// digest cache, clamd's MD5 clean cache).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"ave/internal/testkit"
	"ave/pkg/config"
	"ave/pkg/mailer"
	"ave/pkg/mailflow"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "sink":
		err = runSink(os.Args[2:])
	case "send":
		err = runSend(os.Args[2:])
	case "corpus":
		err = runCorpus(os.Args[2:])
	case "deliver":
		err = runDeliver(os.Args[2:])
	case "freeport":
		err = runFreePort()
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mailbench sink|send|deliver|corpus|freeport [flags] (see -h of each)")
	os.Exit(2)
}

// corpus makes n messages like benchCorpus of cmd/smtpscanner/bench_test.go:
// sizes with a median near 15 KB and a tail to 2 MB, random base64
// attachments, every 100th message carrying EICAR. Sizes come from seed
// alone; the content also depends on pass.
func corpus(n int, seed int64, pass int) [][]byte {
	sizes := rand.New(rand.NewSource(seed))
	content := rand.New(rand.NewSource(seed*1_000_003 + int64(pass)))
	out := make([][]byte, n)
	for i := range out {
		var size int
		switch p := sizes.Float64(); {
		case p < 0.70:
			size = 2_000 + sizes.Intn(18_000)
		case p < 0.95:
			size = 20_000 + sizes.Intn(180_000)
		default:
			size = 200_000 + sizes.Intn(1_800_000)
		}
		// A Date header too (testkit.Mail has none): amavisd flags mail
		// without one as BAD-HEADER, which real mail is not.
		id := fmt.Sprintf("Date: Sun, 22 Nov 2026 06:00:00 +0000\r\nMessage-ID: <b%d.p%d.s%d@example.org>", i, pass, seed)
		if i%100 == 99 {
			out[i] = []byte(strings.Replace(string(testkit.Mail("eicar.com", []byte(testkit.EICAR))), "Message-ID: <t1@example.org>", id, 1))
			continue
		}
		raw := make([]byte, size*3/4)
		content.Read(raw)
		out[i] = []byte(strings.Replace(string(testkit.Mail("data.bin", raw)), "Message-ID: <t1@example.org>", id, 1))
	}
	return out
}

func runCorpus(args []string) error {
	fs := flag.NewFlagSet("corpus", flag.ExitOnError)
	n := fs.Int("n", 2000, "messages")
	seed := fs.Int64("seed", 7, "seed of the sizes")
	fs.Parse(args)
	c := corpus(*n, *seed, 0)
	sz := make([]int, len(c))
	total := 0
	for i, m := range c {
		sz[i] = len(m)
		total += len(m)
	}
	slices.Sort(sz)
	fmt.Printf("msgs=%d mb=%.1f median_kb=%.1f p90_kb=%.1f max_kb=%.1f infected=%d\n", len(c), float64(total)/1e6,
		float64(sz[len(sz)/2])/1e3, float64(sz[len(sz)*9/10])/1e3, float64(sz[len(sz)-1])/1e3, len(c)/100)
	return nil
}

func runFreePort() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}

// ---- sink ----

type sink struct {
	msgs, bytes atomic.Int64
	save        string // "" = drop what comes
}

type sinkSession struct{ s *sink }

func (sinkSession) Reset()                                 {}
func (sinkSession) Logout() error                          { return nil }
func (sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (ss sinkSession) XForward(map[string]string) error    { return nil }
func (ss sinkSession) Data(r io.Reader) error {
	if ss.s.save != "" {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		name := filepath.Join(ss.s.save, fmt.Sprintf("%04d.eml", ss.s.msgs.Add(1)))
		ss.s.bytes.Add(int64(len(b)))
		return os.WriteFile(name, b, 0o644)
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	ss.s.msgs.Add(1)
	ss.s.bytes.Add(n)
	return nil
}

// ---- deliver ----

func runDeliver(args []string) error {
	fs := flag.NewFlagSet("deliver", flag.ExitOnError)
	addr := fs.String("addr", "", "host:port of the SMTP server")
	from := fs.String("from", "sender@example.org", "envelope sender")
	to := fs.String("to", "rcpt@example.net", "envelope recipient")
	fs.Parse(args)
	if *addr == "" || fs.NArg() == 0 {
		return errors.New("deliver: -addr HOST:PORT FILE... required")
	}
	m := &mailer.Mailer{Dest: config.Mailer{Protocol: "smtp", Network: "tcp", Address: *addr}, Hostname: "deliver.mailbench", Timeout: time.Minute}
	defer m.Close()
	failed := false
	for _, f := range fs.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		env := &mailflow.Envelope{From: *from, Rcpts: []mailflow.Recipient{{Addr: *to}}}
		r := m.Forward(context.Background(), env, int64(len(b)), func() io.Reader { return bytes.NewReader(b) })[0]
		fmt.Printf("%s: %s\n", f, r)
		failed = failed || !r.OK()
	}
	if failed {
		os.Exit(1)
	}
	return nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

func runSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback host:port to listen on")
	stats := fs.String("stats", "", "file rewritten every 100 ms with \"MESSAGES BYTES\"")
	addrFile := fs.String("addr-file", "", "file to write the listening address to")
	save := fs.String("save", "", "directory to keep every message in (NNNN.eml)")
	fs.Parse(args)
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %s: loopback addresses only", *listen)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	s := &sink{save: *save}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return sinkSession{s}, nil }))
	srv.Domain = "sink.mailbench"
	srv.MaxLineLength = 0
	srv.MaxRecipients = 0
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = nopLogger{}
	srv.ReadTimeout = 10 * time.Minute
	srv.WriteTimeout = time.Minute
	if *addrFile != "" {
		if err := writeAtomic(*addrFile, l.Addr().String()+"\n"); err != nil {
			return err
		}
	}
	fmt.Println("listening", l.Addr())
	if *stats != "" {
		go func() {
			var last int64 = -1
			for range time.Tick(100 * time.Millisecond) {
				if m := s.msgs.Load(); m != last {
					last = m
					writeAtomic(*stats, fmt.Sprintf("%d %d\n", m, s.bytes.Load()))
				}
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case <-sig:
	case err = <-done:
	}
	srv.Close()
	fmt.Fprintf(os.Stderr, "sink: %d messages, %d bytes\n", s.msgs.Load(), s.bytes.Load())
	return err
}

func writeAtomic(path, text string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readStats(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n
}

// busyCPU is the CPU time (seconds) the whole machine has spent busy
// (user, nice, system, irq, softirq, steal) since boot, from /proc/stat;
// 0 where that is not available.
func busyCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseFloat(f[i], 64)
		busy += v
	}
	return busy / 100 // USER_HZ
}

type namedPid struct {
	name string
	pid  int
}

func parsePids(s string) ([]namedPid, error) {
	var out []namedPid
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		name, v, ok := strings.Cut(f, "=")
		pid, err := strconv.Atoi(v)
		if !ok || name == "" || err != nil {
			return nil, fmt.Errorf("-cpu-pids: %q: want NAME=PID", f)
		}
		out = append(out, namedPid{name, pid})
	}
	return out, nil
}

// procCPUs returns each process's CPU seconds (utime + stime of
// /proc/PID/stat, its threads included); 0 for one that is gone.
func procCPUs(ps []namedPid) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
		if err != nil {
			continue
		}
		// fields after the command name, which is in parentheses
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		out[i] = (u + s) / 100 // USER_HZ
	}
	return out
}

// selfCPU is this process's CPU seconds (user + system).
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// ---- load client ----

type outcome int

const (
	okay outcome = iota
	rejected
	tempfail
	failed
)

// sendOne delivers msg in its own SMTP session (as net/smtp.SendMail does
// in the Go benchmark), every step bounded by timeout.
func sendOne(addr string, msg []byte, timeout time.Duration) (outcome, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return failed, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	c, err := smtp.NewClient(conn, "")
	if err != nil {
		return classify(err)
	}
	defer c.Close()
	if err := c.Hello("mailbench.test"); err != nil {
		return classify(err)
	}
	if err := c.Mail("s@example.org"); err != nil {
		return classify(err)
	}
	if err := c.Rcpt("r@example.net"); err != nil {
		return classify(err)
	}
	// DATA by hand: net/smtp's writer dot-stuffs byte by byte, which
	// cost this client 1.0 ms of CPU per corpus message (0.45 ms with
	// smtpscanner's own stuffing), where an MTA written in C stuffs at
	// memory speed.
	// On two cores the load generator should not take the CPU from what
	// it measures.
	id, err := c.Text.Cmd("DATA")
	if err != nil {
		return classify(err)
	}
	c.Text.StartResponse(id)
	_, _, err = c.Text.ReadResponse(354)
	c.Text.EndResponse(id)
	if err != nil {
		return classify(err)
	}
	if err := mailer.WriteDotStuffed(c.Text.W, bytes.NewReader(msg)); err != nil {
		return classify(err)
	}
	if err := c.Text.W.Flush(); err != nil {
		return classify(err)
	}
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		return classify(err)
	}
	c.Quit()
	return okay, nil
}

func classify(err error) (outcome, error) {
	var te *textproto.Error
	if errors.As(err, &te) {
		switch {
		case te.Code >= 500:
			return rejected, err
		case te.Code >= 400:
			return tempfail, err
		}
	}
	return failed, err
}

func runSend(args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	addr := fs.String("addr", "", "SMTP server host:port")
	clients := fs.Int("clients", 2, "concurrent connections")
	n := fs.Int("n", 2000, "messages in the corpus (each sent once)")
	seed := fs.Int64("seed", 7, "seed of the sizes (same corpus shape in every pass)")
	pass := fs.Int("pass", 0, "pass number: fresh random content per pass")
	warmup := fs.Int("warmup", 20, "messages sent (from another pass) before the timed run")
	timeout := fs.Duration("timeout", 2*time.Minute, "limit for one message's session")
	sinkStats := fs.String("sink-stats", "", "stats file of the sink: report what it got during the run")
	verbose := fs.Bool("v", false, "print every error")
	cpuPids := fs.String("cpu-pids", "", "NAME=PID,...: also report each process's CPU ms per message during the run (cpu_NAME=), and this client's (cpu_client=)")
	fs.Parse(args)
	procs, err := parsePids(*cpuPids)
	if err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("send: -addr is required")
	}
	if *warmup > 0 {
		w := corpus(*warmup, *seed+1, 1_000_000+*pass)
		for _, m := range w {
			if o, err := sendOne(*addr, m, *timeout); o == failed || o == tempfail {
				return fmt.Errorf("warm-up message: %v", err)
			}
		}
	}
	msgs := corpus(*n, *seed, *pass)
	var total int
	for _, m := range msgs {
		total += len(m)
	}
	var sink0 int64
	if *sinkStats != "" {
		// the warm-up's last messages: wait (up to 3 s) for a steady count
		sink0 = readStats(*sinkStats)
		for t := 0; t < 10; t++ {
			time.Sleep(300 * time.Millisecond)
			n := readStats(*sinkStats)
			if n == sink0 {
				break
			}
			sink0 = n
		}
	}
	lat := make([]time.Duration, len(msgs))
	var counts [4]atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	next := make(chan int)
	cpu0 := busyCPU()
	pcpu0 := procCPUs(procs)
	self0 := selfCPU()
	start := time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				o, err := sendOne(*addr, msgs[i], *timeout)
				lat[i] = time.Since(t0)
				counts[o].Add(1)
				if err != nil && o != rejected {
					if *verbose {
						fmt.Fprintf(os.Stderr, "message %d: %v\n", i, err)
					} else {
						firstErr.Do(func() { fmt.Fprintf(os.Stderr, "mailbench: message %d: %v (first error)\n", i, err) })
					}
				}
			}
		}()
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()
	el := time.Since(start)
	cpu := busyCPU() - cpu0
	self := selfCPU() - self0
	pcpu := procCPUs(procs)
	slices.Sort(lat)
	line := fmt.Sprintf("msgs=%d ok=%d rejected=%d tempfail=%d errors=%d secs=%.3f rate=%.1f p50_ms=%.1f p99_ms=%.1f mb=%.1f cpu=%.1f",
		len(msgs), counts[okay].Load(), counts[rejected].Load(), counts[tempfail].Load(), counts[failed].Load(),
		el.Seconds(), float64(len(msgs))/el.Seconds(),
		float64(lat[len(lat)/2].Microseconds())/1000, float64(lat[len(lat)*99/100].Microseconds())/1000, float64(total)/1e6, cpu)
	if len(procs) > 0 {
		perMsg := func(s float64) float64 { return s * 1000 / float64(len(msgs)) }
		for i, p := range procs {
			line += fmt.Sprintf(" cpu_%s=%.3f", p.name, perMsg(pcpu[i]-pcpu0[i]))
		}
		line += fmt.Sprintf(" cpu_client=%.3f", perMsg(self))
	}
	if *sinkStats != "" {
		// Every filter here answers 250 only once the sink has the
		// message; the stats file lags (100 ms, more on a busy machine):
		// wait up to 5 s for it to show at least the 250s.
		got := readStats(*sinkStats) - sink0
		for t := 0; t < 50 && got < counts[okay].Load(); t++ {
			time.Sleep(100 * time.Millisecond)
			got = readStats(*sinkStats) - sink0
		}
		line += fmt.Sprintf(" sink=%d", got)
	}
	fmt.Println(line)
	return nil
}
