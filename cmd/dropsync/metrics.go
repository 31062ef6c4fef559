package main

import (
	"log/slog"

	"github.com/dropsync/dropsync/metrics"
)

// startMetrics serves /metrics and /healthz on listen; it returns nil when
// metrics are off.
func startMetrics(listen string, log *slog.Logger) (*metrics.Metrics, error) {
	if listen == "" {
		return nil, nil
	}
	m := metrics.New()
	if err := m.Serve(listen, log); err != nil {
		return nil, err
	}
	return m, nil
}
