// Package pionlog routes the logs of pion libraries (webrtc, ice, turn) to a
// log/slog logger, so they follow the process's level and format instead of
// pion's own stderr writer.
//
// Concurrency: a Factory and the loggers it returns are safe for concurrent use.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// LevelTrace is the slog level of pion's trace output (below Debug).
const LevelTrace = slog.LevelDebug - 4

// Factory makes pion loggers writing to a slog logger. Pion's info output
// (state changes of every connection) goes to Debug: a server would
// otherwise log at info per connection.
type Factory struct {
	Logger *slog.Logger
}

// NewLogger implements logging.LoggerFactory.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	l := f.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return logger{l: l.With("pion", scope)}
}

type logger struct {
	l *slog.Logger
}

func (g logger) log(level slog.Level, msg string) {
	g.l.Log(context.Background(), level, msg)
}

func (g logger) logf(level slog.Level, format string, args ...any) {
	if !g.l.Enabled(context.Background(), level) {
		return
	}
	g.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (g logger) Trace(msg string)                  { g.log(LevelTrace, msg) }
func (g logger) Tracef(format string, args ...any) { g.logf(LevelTrace, format, args...) }
func (g logger) Debug(msg string)                  { g.log(slog.LevelDebug, msg) }
func (g logger) Debugf(format string, args ...any) { g.logf(slog.LevelDebug, format, args...) }
func (g logger) Info(msg string)                   { g.log(slog.LevelDebug, msg) }
func (g logger) Infof(format string, args ...any)  { g.logf(slog.LevelDebug, format, args...) }
func (g logger) Warn(msg string)                   { g.log(slog.LevelWarn, msg) }
func (g logger) Warnf(format string, args ...any)  { g.logf(slog.LevelWarn, format, args...) }
func (g logger) Error(msg string)                  { g.log(slog.LevelError, msg) }
func (g logger) Errorf(format string, args ...any) { g.logf(slog.LevelError, format, args...) }
