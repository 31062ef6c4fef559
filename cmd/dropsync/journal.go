package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
)

// journald reads a "<N>" prefix on each line of a service's stderr as the
// line's priority (sd-daemon(3)) and stamps its own time. When stderr is
// the journal (JOURNAL_STREAM names it) or log.format is journal, the
// logger writes that prefix and no timestamp of its own.

// journalPriority maps a slog level to a syslog priority: err, warning,
// info, debug.
func journalPriority(l slog.Level) byte {
	switch {
	case l >= slog.LevelError:
		return '3'
	case l >= slog.LevelWarn:
		return '4'
	case l >= slog.LevelInfo:
		return '6'
	default:
		return '7'
	}
}

// journalHandler is a text handler whose lines start with the record's
// priority and carry no time.
type journalHandler struct {
	inner slog.Handler
	w     *journalWriter
}

// journalWriter prefixes each write (one record) with the priority set by
// the handler that holds mu.
type journalWriter struct {
	mu   sync.Mutex
	out  io.Writer
	prio byte
}

func (w *journalWriter) Write(p []byte) (int, error) {
	line := make([]byte, 0, len(p)+3)
	line = append(line, '<', w.prio, '>')
	line = append(line, p...)
	if _, err := w.out.Write(line); err != nil {
		return 0, err
	}
	return len(p), nil
}

func newJournalHandler(out io.Writer, level slog.Leveler) *journalHandler {
	w := &journalWriter{out: out}
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return redactAttr(groups, a)
	}
	return &journalHandler{inner: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: noTime}), w: w}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	h.w.prio = journalPriority(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(as), w: h.w}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), w: h.w}
}

// toJournal reports whether w is the journal: JOURNAL_STREAM names the
// device and inode of the stream systemd connected, and w is that stream
// (a child whose stderr was redirected elsewhere is not).
func toJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	js := os.Getenv("JOURNAL_STREAM")
	return ok && js != "" && sameStream(f, js)
}
