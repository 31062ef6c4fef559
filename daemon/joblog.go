package daemon

import (
	"context"
	"log/slog"
)

// jobLogger returns base with a job's target and path on every record,
// as base.With("target", target, "path", path) would: the same output,
// the two attributes first, ahead of the record's own. Logger.With formats
// its attributes at once (about ten allocations with slog's text handler)
// for every job, also when nothing of it is logged (at level warn a
// delivery logs nothing); here they are added to the records a handler
// takes, and a job costs one allocation.
func jobLogger(base *slog.Logger, target, path string) *slog.Logger {
	jl := &jobLog{h: jobHandler{inner: base.Handler(), target: target, path: path}}
	jl.l = *slog.New(&jl.h)
	return &jl.l
}

// jobLog is a job's logger and its handler, in one allocation.
type jobLog struct {
	h jobHandler
	l slog.Logger
}

// jobHandler puts target and path ahead of each record's attributes.
type jobHandler struct {
	inner        slog.Handler
	target, path string
}

func (h *jobHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *jobHandler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(slog.String("target", h.target), slog.String("path", h.path))
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(a)
		return true
	})
	return h.inner.Handle(ctx, nr)
}

// WithAttrs and WithGroup (a job's logger given more attributes, or a
// group) hand over to the inner handler with the job's attributes
// formatted, as With would have done at once.
func (h *jobHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.formatted().WithAttrs(as)
}

func (h *jobHandler) WithGroup(name string) slog.Handler {
	return h.formatted().WithGroup(name)
}

func (h *jobHandler) formatted() slog.Handler {
	return h.inner.WithAttrs([]slog.Attr{slog.String("target", h.target), slog.String("path", h.path)})
}
