package index

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// pebbleLogger sends Pebble's own log lines to slog: routine messages at
// debug level, errors at error level.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) emit(level slog.Level, format string, args []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, "Pebble", slog.String("detail", strings.TrimSpace(fmt.Sprintf(format, args...))))
}

func (l pebbleLogger) Infof(format string, args ...any)  { l.emit(slog.LevelDebug, format, args) }
func (l pebbleLogger) Errorf(format string, args ...any) { l.emit(slog.LevelError, format, args) }

// Fatalf is called when Pebble cannot continue (for example the WAL cannot
// be written). Pebble expects it not to return.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.emit(slog.LevelError, format, args)
	panic(fmt.Sprintf("pebble: "+format, args...))
}
