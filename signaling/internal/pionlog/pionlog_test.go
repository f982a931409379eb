package pionlog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/securecam/securecam/signaling/internal/pionlog"
)

func TestLevels(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log := pionlog.Factory{Logger: l}.NewLogger("ice")

	log.Tracef("trace %d", 1) // below Debug: dropped
	log.Debug("debug")
	log.Infof("info %s", "x") // pion's info is our debug
	log.Warn("warn")
	log.Errorf("error %d", 2)

	tests := []struct{ msg, level string }{
		{"debug", "DEBUG"}, {"info x", "DEBUG"}, {"warn", "WARN"}, {"error 2", "ERROR"},
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(tests) {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	for i, tt := range tests {
		if !strings.Contains(lines[i], "level="+tt.level) || !strings.Contains(lines[i], `msg="`+tt.msg+`"`) &&
			!strings.Contains(lines[i], "msg="+tt.msg) || !strings.Contains(lines[i], "pion=ice") {
			t.Errorf("line %d = %s, want %s at %s", i, lines[i], tt.msg, tt.level)
		}
	}
}

func TestNilLoggerDiscards(t *testing.T) {
	pionlog.Factory{}.NewLogger("x").Errorf("nothing %d", 1)
}
