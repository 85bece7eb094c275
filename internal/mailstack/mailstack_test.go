package mailstack

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"ave/pkg/config"
)

// TestNewFailsCleanly: a configuration that parses but cannot be built
// (a template directory that does not exist) is an error, not a panic,
// and what was opened before it is closed.
func TestNewFailsCleanly(t *testing.T) {
	cfg := config.DefaultSMTPScan()
	cfg.ServerAddress = filepath.Join(t.TempDir(), "none.sock")
	mp, err := config.LoadMailPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	mp.Notify.TemplatePath = filepath.Join(t.TempDir(), "missing")
	st, err := New(cfg, mp, slog.New(slog.NewTextHandler(io.Discard, nil)), true)
	if err == nil || st != nil || !strings.Contains(err.Error(), "template") {
		t.Fatalf("got %v, %v", st, err)
	}
	mp.Notify.TemplatePath = ""
	cfg.QuarantineKeyFile = filepath.Join(t.TempDir(), "key")
	mp.Groups[0].QuarantinePath = filepath.Join(t.TempDir(), "q") // opened at New
	if st, err = New(cfg, mp, slog.New(slog.NewTextHandler(io.Discard, nil)), true); err != nil || st.Flow == nil {
		t.Fatalf("good configuration: %v", err)
	}
	st.Close()
}
