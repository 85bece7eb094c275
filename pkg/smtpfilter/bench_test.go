package smtpfilter

import (
	"net/smtp"
	"strings"
	"testing"

	"ave/internal/testkit"
)

// BenchmarkMessage measures smtpscanner's own cost per message (receive,
// spool and sync, forward to a sink) with a scanner that only reads the
// message: go test -run XXX -bench Message -cpuprofile cpu.out ./pkg/smtpfilter
func BenchmarkMessage(b *testing.B) {
	r := newRig(b, false, false, Options{}, patternScanner{})
	r.mta.Sink = true
	msg := testkit.Mail("data.bin", []byte(strings.Repeat("0123456789abcdef", 4096)))
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := smtp.SendMail(r.addr, nil, "s@example.org", []string{"r@example.net"}, msg); err != nil {
			b.Fatal(err)
		}
	}
}
