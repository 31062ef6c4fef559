// Package metrics exposes dropsync's Prometheus metrics and health check.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/queue"
)

// Source is what the collector reads at scrape time: the daemon.
type Source interface {
	Queue() *queue.Queue
	Health(ctx context.Context) error
}

// Metrics is a daemon.Observer that counts what the daemon does, and a
// collector that reads the queue when scraped.
type Metrics struct {
	reg       *prometheus.Registry
	uploads   *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	events    prometheus.Counter
	overflows prometheus.Counter
	series    // series.go

	mu  sync.Mutex
	src Source
	srv *http.Server
}

// New registers dropsync's metrics in a fresh registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dropsync_uploads_total",
			Help: "Finished jobs by target and outcome (delivered, skipped, deleted, failed)."}, []string{"target", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dropsync_bytes_sent_total",
			Help: "Bytes of files delivered, by target."}, []string{"target"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dropsync_upload_duration_seconds",
			Help: "Time to deliver one file, by target.", Buckets: prometheus.ExponentialBuckets(0.005, 4, 10)}, []string{"target"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dropsync_retries_total",
			Help: "Failed attempts that will be retried, by target and kind (retryable, throttled)."}, []string{"target", "kind"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "dropsync_watcher_events_total",
			Help: "File-system events received."}),
		overflows: prometheus.NewCounter(prometheus.CounterOpts{Name: "dropsync_watcher_overflow_rescans_total",
			Help: "Full rescans after the kernel dropped file-system events."}),
	}
	m.reg.MustRegister(m.uploads, m.bytes, m.duration, m.retries, m.events, m.overflows, &queueCollector{m: m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.initSeries()
	return m
}

// Attach makes the collector read the daemon's queue and health.
func (m *Metrics) Attach(s Source) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.src = s
}

func (m *Metrics) source() Source {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.src
}

// Handler serves /metrics and /healthz (503 with the reason when the
// database or a watch is broken, or a target has been down or had its
// credentials rejected for longer than metrics.unhealthy_after).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		src := m.source()
		if src == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := src.Health(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Serve listens on addr and serves Handler until Close.
func (m *Metrics) Serve(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics.listen: %w", err)
	}
	m.srv = &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}

// Close stops the server started by Serve.
func (m *Metrics) Close() error {
	if m.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return m.srv.Shutdown(ctx)
}

// Delivered implements daemon.Observer.
func (m *Metrics) Delivered(d daemon.Delivery) {
	outcome := "delivered"
	switch {
	case d.Skipped:
		outcome = "skipped"
	case d.Deleted:
		outcome = "deleted"
	default:
		m.bytes.WithLabelValues(d.Target).Add(float64(d.Bytes))
		m.duration.WithLabelValues(d.Target).Observe(d.Duration.Seconds())
	}
	m.uploads.WithLabelValues(d.Target, outcome).Inc()
	m.lastSuccess.WithLabelValues(d.Watch).SetToCurrentTime()
}

// Failed implements daemon.Observer.
func (m *Metrics) Failed(f daemon.Failure) {
	if f.Final {
		m.uploads.WithLabelValues(f.Target, "failed").Inc()
		return
	}
	m.retries.WithLabelValues(f.Target, f.Kind.String()).Inc()
}

// Progress implements daemon.Observer.
func (m *Metrics) Progress(string, string, int64, int64) {}

// WatchEvent implements daemon.Observer.
func (m *Metrics) WatchEvent() { m.events.Inc() }

// Overflow implements daemon.Observer.
func (m *Metrics) Overflow() { m.overflows.Inc() }

// queueCollector reads the queue at scrape time.
type queueCollector struct{ m *Metrics }

var (
	jobsDesc      = prometheus.NewDesc("dropsync_jobs", "Jobs in the queue by state.", []string{"state"}, nil)
	throttledDesc = prometheus.NewDesc("dropsync_target_throttled_until_timestamp_seconds", "Unix time until which a target is paused after a throttling answer (0: not paused).", []string{"target"}, nil)
	oldestDesc    = prometheus.NewDesc("dropsync_oldest_pending_age_seconds", "Age of the oldest pending job (0 when none).", nil, nil)
	upDesc        = prometheus.NewDesc("dropsync_healthy", "1 when the database and every watch work.", nil, nil)
	targetUpDesc  = prometheus.NewDesc("dropsync_target_up", "1 while a target is up, 0 while it is throttled, down or its credentials are rejected.", []string{"target"}, nil)
	targetStDesc  = prometheus.NewDesc("dropsync_target_state", "1 for the state a target is in (up, throttled, down, credentials rejected), 0 for the others.", []string{"target", "state"}, nil)
)

// targetStates are the values of dropsync_target_state's state label.
var targetStates = []string{queue.TargetUp, queue.TargetThrottled, queue.TargetDown, queue.TargetCredentials}

// healthSource is a Source that knows its targets' health (the daemon).
type healthSource interface {
	TargetsHealth() []queue.TargetHealth
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- throttledDesc
	ch <- oldestDesc
	ch <- upDesc
	ch <- targetUpDesc
	ch <- targetStDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.source()
	if src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q := src.Queue()
	if counts, err := q.Counts(ctx); err == nil {
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), state)
		}
	}
	if ps, err := q.Pauses(ctx); err == nil {
		until := map[string]float64{}
		for _, t := range c.m.configuredTargets() {
			until[t] = 0
		}
		for _, p := range ps {
			until[p.Target] = float64(p.Until.Unix())
		}
		for t, u := range until {
			ch <- prometheus.MustNewConstMetric(throttledDesc, prometheus.GaugeValue, u, t)
		}
	}
	age := 0.0
	if t, ok, err := q.OldestPending(ctx); err == nil && ok {
		age = time.Since(t).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	up := 1.0
	if src.Health(ctx) != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	if hs, ok := src.(healthSource); ok {
		for _, th := range hs.TargetsHealth() {
			ch <- prometheus.MustNewConstMetric(targetUpDesc, prometheus.GaugeValue, b2f(th.State == queue.TargetUp), th.Target)
			for _, st := range targetStates {
				ch <- prometheus.MustNewConstMetric(targetStDesc, prometheus.GaugeValue, b2f(th.State == st), th.Target, st)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
