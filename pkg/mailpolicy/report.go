package mailpolicy

import (
	"fmt"
	"log/slog"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"ave/pkg/config"
	"ave/pkg/mailflow"
)

// reportLog is [smtpscan.report]: one line per message and group in
// ReportFileName (appended), and the same line to syslog (mail facility)
// when Syslog=yes. Clean messages are written only with ShowOk=yes.
type reportLog struct {
	cfg config.MailReport
	mu  sync.Mutex
	f   *os.File
	sys *syslog.Writer
}

func openReport(cfg config.MailReport) (*reportLog, error) {
	rl := &reportLog{cfg: cfg}
	if cfg.ReportFileName != "" {
		f, err := os.OpenFile(cfg.ReportFileName, os.O_WRONLY|os.O_APPEND|os.O_CREATE, cfg.ReportFilePermission)
		if err != nil {
			return nil, fmt.Errorf("[smtpscan.report] ReportFileName: %w", err)
		}
		if err := f.Chmod(cfg.ReportFilePermission); err != nil {
			f.Close()
			return nil, fmt.Errorf("[smtpscan.report] ReportFilePermission: %w", err)
		}
		rl.f = f
	}
	if cfg.Syslog {
		w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "smtpscanner")
		if err != nil {
			return nil, fmt.Errorf("[smtpscan.report] Syslog: %w", err)
		}
		rl.sys = w
	}
	return rl, nil
}

func (rl *reportLog) close() error {
	var err error
	if rl.f != nil {
		err = rl.f.Close()
	}
	if rl.sys != nil {
		rl.sys.Close()
	}
	return err
}

// quote renders a value for a key=value report field.
func quote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=\r\n") {
		return strconv.Quote(s)
	}
	return s
}

// write records one message: a line per group of recipients.
func (rl *reportLog) write(log *slog.Logger, m *message, o *mailflow.Outcome) {
	if rl.f == nil && rl.sys == nil {
		return
	}
	env := m.in.Env
	var lines []string
	for _, run := range m.runs {
		status, names := "", ""
		switch {
		case o.ScanErr != nil || o.PolicyErr != nil:
			status = "ERROR"
		case run.a == nil:
			status = "UNCHECKED-BY-POLICY"
		case run.a.Clean:
			status = "CLEAN"
		default:
			status = strings.ToUpper(run.a.Status.String())
			names = strings.Join(run.a.Names(), ",")
		}
		if status == "CLEAN" && !rl.cfg.ShowOk {
			continue
		}
		var rcpts, acts, replies []string
		for _, i := range run.idx {
			rcpts = append(rcpts, env.Rcpts[i].Addr)
			if i < len(o.Decisions) {
				acts = append(acts, o.Decisions[i].Action.String())
			}
			if i < len(o.Replies) {
				replies = append(replies, strconv.Itoa(o.Replies[i].Code))
			}
		}
		var errText string
		if o.ScanErr != nil {
			errText = " error=" + quote(o.ScanErr.Error())
		} else if o.PolicyErr != nil {
			errText = " error=" + quote(o.PolicyErr.Error())
		}
		lines = append(lines, fmt.Sprintf("queue_id=%s message_id=%s from=%s rcpts=%s group=%s status=%s names=%s action=%s replies=%s size=%d%s",
			quote(m.root), quote(o.MessageID), quote("<"+env.From+">"), quote(strings.Join(rcpts, ",")), quote(run.g.Name),
			status, quote(names), strings.Join(acts, ","), strings.Join(replies, ","), o.Size, errText))
	}
	if len(lines) == 0 {
		return
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	now := time.Now().Format(time.RFC3339)
	for _, l := range lines {
		if rl.f != nil {
			if _, err := fmt.Fprintf(rl.f, "%s %s\n", now, l); err != nil {
				log.Warn("report file write failed", "file", rl.cfg.ReportFileName, "error", err)
			}
		}
		if rl.sys != nil {
			rl.sys.Info(l)
		}
	}
}
