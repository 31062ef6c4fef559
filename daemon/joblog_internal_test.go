package daemon

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
)

// A job's logger writes what base.With("target", …, "path", …) writes:
// the same lines, byte for byte, with slog's text and JSON handlers, a
// logger that already has attributes and a group, levels, more attributes
// and groups on the job's logger.
func TestJobLoggerWritesWhatWithWrites(t *testing.T) {
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime}
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, opts) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, opts) },
	}
	bases := map[string]func(*slog.Logger) *slog.Logger{
		"plain":      func(l *slog.Logger) *slog.Logger { return l },
		"attributes": func(l *slog.Logger) *slog.Logger { return l.With("component", "daemon") },
		"group":      func(l *slog.Logger) *slog.Logger { return l.WithGroup("g").With("k", 1) },
	}
	logAll := func(l *slog.Logger) {
		l.Debug("not shown", "x", 1)
		l.Info("delivered", "bytes", 4096, "attempt", 1, "remote_id", "7", "version", "V1.0.A", "chunked", true)
		l.Warn("upload failed; will retry", "err", errors.New("HTTP 500"))
		l.Error("no attributes")
		l.With("path", "other.txt").Info("more attributes")
		l.WithGroup("sub").Info("a group", "n", 2)
	}
	for hn, newHandler := range handlers {
		for bn, base := range bases {
			var want, got bytes.Buffer
			logAll(base(slog.New(newHandler(&want))).With("target", "t", "path", "a/b c.pdf"))
			logAll(jobLogger(base(slog.New(newHandler(&got))), "t", "a/b c.pdf"))
			if got.String() != want.String() {
				t.Errorf("%s handler, %s logger: got\n%s\nwant\n%s", hn, bn, got.String(), want.String())
			}
		}
	}
}

// A job's logger costs one allocation, and a record below the level
// none.
func TestJobLoggerAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates on its own")
	}
	base := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if n := testing.AllocsPerRun(100, func() {
		l := jobLogger(base, "t", "a/b.pdf")
		l.Info("delivered")
	}); n > 1 {
		t.Fatalf("%.0f allocations per job, want 1", n)
	}
}
