package mailer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"ave/internal/testkit"
	"ave/pkg/config"
	"ave/pkg/mailflow"
)

func qmailMailer(t *testing.T, exit int, sleep string) (*Mailer, string) {
	t.Helper()
	d := t.TempDir()
	prog := filepath.Join(d, "qmail-queue")
	if err := os.WriteFile(prog, []byte(testkit.FakeQmailQueue), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := "qmail:(" + prog + " " + d + " " + strconv.Itoa(exit)
	if sleep != "" {
		spec += " " + sleep
	}
	dest, err := config.ParseMailer(spec + ")")
	if err != nil {
		t.Fatal(err)
	}
	return &Mailer{Dest: dest, Timeout: 20 * time.Second}, d
}

func qmailEnv() *mailflow.Envelope {
	return &mailflow.Envelope{From: "sender@example.org", Body: "8BITMIME", EnvID: "E1",
		Rcpts: []mailflow.Recipient{{Addr: "a@example.net", Notify: []string{"NEVER"}}, {Addr: "b@example.net"}}}
}

func opener(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }

// TestQmailForwardGivesLFMessageAndEnvelope: the message goes with its
// CRLF line ends turned into LF (bare CRs kept), the envelope as
// qmail-queue(8) reads it, and exit 0 is a 250 for every recipient.
func TestQmailForwardGivesLFMessageAndEnvelope(t *testing.T) {
	m, d := qmailMailer(t, 0, "")
	msg := "X-Virus-Scanned: AVE\r\nSubject: hi\r\n\r\nline one\r\nbare\rcr\r\n.dot\r\nno end"
	replies := m.Forward(context.Background(), qmailEnv(), int64(len(msg)), opener(msg))
	for i, r := range replies {
		if r.Code != 250 {
			t.Fatalf("reply %d: %+v", i, r)
		}
	}
	got, _ := os.ReadFile(filepath.Join(d, "msg"))
	if want := "X-Virus-Scanned: AVE\nSubject: hi\n\nline one\nbare\rcr\n.dot\nno end"; string(got) != want {
		t.Fatalf("message:\n got %q\nwant %q", got, want)
	}
	env, _ := os.ReadFile(filepath.Join(d, "env"))
	if want := "Fsender@example.org\x00Ta@example.net\x00Tb@example.net\x00\x00"; string(env) != want {
		t.Fatalf("envelope %q, want %q", env, want)
	}
}

// TestQmailExitStatusesBecomeReplies: qmail-queue's statuses map to
// permanent (11-40) and temporary (the rest) replies for every recipient,
// with what the program said on stderr.
func TestQmailExitStatusesBecomeReplies(t *testing.T) {
	for _, tc := range []struct {
		exit     int
		code     int
		enhanced string
		text     string
	}{
		{31, 554, "5.3.0", "refused for good"},
		{11, 554, "5.1.3", "too long"},
		{25, 554, "5.3.0", "permanent"},
		{53, 451, "4.3.0", "write error"},
		{71, 451, "4.3.0", "temporary"},
		{81, 451, "4.3.0", "internal bug"},
		{45, 451, "4.3.0", "temporary"},
	} {
		m, d := qmailMailer(t, tc.exit, "")
		replies := m.Forward(context.Background(), qmailEnv(), 10, opener("Subject: x\r\n\r\nbody\r\n"))
		for _, r := range replies {
			if r.Code != tc.code || r.Enhanced != tc.enhanced || !strings.Contains(r.Text, tc.text) ||
				!strings.Contains(r.Text, "exit "+strconv.Itoa(tc.exit)) || !strings.Contains(r.Text, "fake qmail-queue says hello") {
				t.Errorf("exit %d: %+v", tc.exit, r)
			}
		}
		if _, err := os.Stat(filepath.Join(d, "queued")); err != nil {
			t.Errorf("exit %d: the fake did not get the whole message: %v", tc.exit, err)
		}
	}
}

// failingReader gives some bytes, then an error (a spool file that
// failed its sync withholds the message's end this way).
type failingReader struct{ left int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, errors.New("spool: sync failed")
	}
	n := min(len(p), f.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	f.left -= n
	return n, nil
}

// TestQmailNothingQueuedWhenTheMessageCannotBeReadWhole: a read error
// kills the program before it saw the end of the message or any
// envelope, so it queues nothing, and the reply is temporary.
func TestQmailNothingQueuedWhenTheMessageCannotBeReadWhole(t *testing.T) {
	for _, size := range []int{0, 100, 300 << 10} {
		m, d := qmailMailer(t, 0, "")
		replies := m.Forward(context.Background(), qmailEnv(), 1000, func() io.Reader { return &failingReader{left: size} })
		for _, r := range replies {
			if r.Code != 451 || !strings.Contains(r.Text, "sync failed") {
				t.Fatalf("size %d: %+v", size, r)
			}
		}
		for _, f := range []string{"queued", "eof"} {
			if _, err := os.Stat(filepath.Join(d, f)); err == nil {
				t.Fatalf("size %d: the program got to %q with a message that could not be read whole", size, f)
			}
		}
	}
}

// TestQmailTimeoutKillsTheProgram: past the forward time-out the program
// is killed, nothing is queued, the reply is temporary.
func TestQmailTimeoutKillsTheProgram(t *testing.T) {
	m, d := qmailMailer(t, 0, "5")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	replies := m.Forward(ctx, qmailEnv(), 10, opener("Subject: x\r\n\r\nbody\r\n"))
	if replies[0].Code != 451 || replies[0].Enhanced != "4.4.7" {
		t.Fatalf("got %+v", replies[0])
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("Forward returned after %v: the time-out did not end it", el)
	}
	if _, err := os.Stat(filepath.Join(d, "queued")); err == nil {
		t.Fatal("queued after the time-out")
	}
}

// TestQmailRefusesAddressesItCannotCarry: an address with NUL or a line
// break cannot go in the envelope: 554 5.1.3, the program is not run.
func TestQmailRefusesAddressesItCannotCarry(t *testing.T) {
	m, d := qmailMailer(t, 0, "")
	env := qmailEnv()
	env.Rcpts[1].Addr = "b@example.net\nTc@evil.example"
	replies := m.Forward(context.Background(), env, 10, opener("Subject: x\r\n\r\nbody\r\n"))
	for _, r := range replies {
		if r.Code != 554 || r.Enhanced != "5.1.3" {
			t.Fatalf("got %+v", r)
		}
	}
	if _, err := os.Stat(filepath.Join(d, "msg")); err == nil {
		t.Fatal("the program ran")
	}
}

// TestLFReaderMatchesReplaceAll: whatever the read sizes, the reader's
// output is the input with every CRLF made LF.
func TestLFReaderMatchesReplaceAll(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.Intn(300))
		for j := range b {
			b[j] = "\r\n.a"[rng.Intn(4)]
		}
		checkLF(t, b, rng.Intn(3))
	}
}

func checkLF(t testing.TB, in []byte, mode int) {
	var src io.Reader = bytes.NewReader(in)
	switch mode {
	case 1:
		src = iotest.OneByteReader(src)
	case 2:
		src = iotest.HalfReader(src)
	}
	r := newLFReader(src)
	var out []byte
	var err error
	if mode == 0 {
		out, err = io.ReadAll(r)
	} else {
		// Small destination buffers too.
		buf := make([]byte, 1+len(in)%3)
		for {
			n, rerr := r.Read(buf)
			out = append(out, buf[:n]...)
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				err = rerr
				break
			}
		}
	}
	if want := bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n")); err != nil || !bytes.Equal(out, want) {
		t.Fatalf("mode %d, %q: got %q, %v; want %q", mode, in, out, err, want)
	}
}

func FuzzLFReader(f *testing.F) {
	for _, s := range []string{"", "\r", "\r\n", "\r\r\n", "a\rb", "\n\r", "x\r\n.\r\n"} {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 1)
	}
	f.Fuzz(func(t *testing.T, in []byte, mode int) {
		checkLF(t, in, (mode%3+3)%3)
	})
}

// TestQmailExitZeroCountsEvenWhenAChildKeepsStderr: a wrapper that leaves
// a background child holding stderr open still queued the message when it
// exited 0: the reply is 250 (Wait's ErrWaitDelay is not a failure), or
// the MTA would send it again.
func TestQmailExitZeroCountsEvenWhenAChildKeepsStderr(t *testing.T) {
	m, d := qmailMailer(t, 0, "")
	wrapper := filepath.Join(d, "wrapper")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\n(sleep 3) &\nexec "+strings.Join(m.Dest.Argv, " ")+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m.Dest.Argv = []string{wrapper}
	replies := m.Forward(context.Background(), qmailEnv(), 10, opener("Subject: x\r\n\r\nbody\r\n"))
	for _, r := range replies {
		if r.Code != 250 {
			t.Fatalf("got %+v", r)
		}
	}
	if _, err := os.Stat(filepath.Join(d, "queued")); err != nil {
		t.Fatal(err)
	}
}

// TestQmailTimeoutEndsEvenWhenAHelperEscapesTheGroup: a helper started in
// its own session keeps the message pipe open and reads nothing; the
// forward still ends at its deadline, nothing queued.
func TestQmailTimeoutEndsEvenWhenAHelperEscapesTheGroup(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	d := t.TempDir()
	prog := filepath.Join(d, "qq")
	// The helper holds fd 0 (the message pipe) and never reads it.
	pidFile := filepath.Join(d, "helper.pid")
	os.WriteFile(prog, []byte("#!/bin/sh\nsetsid sleep 20 &\necho $! > "+pidFile+"\nexec sleep 20\n"), 0o755)
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	m := &Mailer{Dest: config.Mailer{Protocol: "qmail", Network: "exec", Argv: []string{prog}}}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	big := strings.Repeat("x", 4<<20) // more than the pipe holds
	start := time.Now()
	replies := m.Forward(ctx, qmailEnv(), int64(len(big)), opener(big))
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Forward returned after %v", el)
	}
	if replies[0].Code != 451 {
		t.Fatalf("got %+v", replies[0])
	}
}
