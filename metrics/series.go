package metrics

import (
	"runtime"
	"slices"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/version"
	"github.com/dropsync/dropsync/targets"
)

// Every labelled series exists from the start, at 0, for each configured
// target and watch: an alert on the first failure (increase(...) > 0)
// needs a series that was there before it.

// series are the metrics added for operations: build info, after_upload
// failures and the last success per watch.
type series struct {
	buildInfo   *prometheus.GaugeVec
	afterUpload *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec

	targetNames []string // guarded by Metrics.mu
	watchPaths  []string // guarded by Metrics.mu
}

func (m *Metrics) initSeries() {
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dropsync_build_info",
		Help: "Always 1; the labels say which build runs."}, []string{"version", "goversion", "goos", "goarch"})
	m.afterUpload = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dropsync_after_upload_failures_total",
		Help: "after_upload actions (delete, move) that failed, by watch and action; the next scan tries again."}, []string{"watch", "action"})
	m.lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dropsync_watch_last_success_timestamp_seconds",
		Help: "Unix time of the last file delivered (or skipped, or deleted remotely) from a watch; 0 before the first."}, []string{"watch"})
	m.reg.MustRegister(m.buildInfo, m.afterUpload, m.lastSuccess)
	m.buildInfo.WithLabelValues(version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH).Set(1)
}

// Configure creates every labelled series of c's targets and watches at 0
// (existing series keep their values) and drops the series of targets and
// watches that are no longer configured. Call it at start and after each
// reload.
func (m *Metrics) Configure(c *config.Config) {
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
		for _, outcome := range []string{"delivered", "skipped", "deleted", "failed"} {
			m.uploads.WithLabelValues(n, outcome)
		}
		for _, kind := range []targets.Kind{targets.Retryable, targets.Throttled} {
			m.retries.WithLabelValues(n, kind.String())
		}
		m.bytes.WithLabelValues(n)
		m.duration.WithLabelValues(n)
	}
	sort.Strings(names)
	for _, w := range c.Watches {
		m.lastSuccess.WithLabelValues(w.Path)
		if w.AfterUpload == "delete" || w.AfterUpload == "move" {
			m.afterUpload.WithLabelValues(w.Path, w.AfterUpload)
		}
	}
	paths := make([]string, 0, len(c.Watches))
	for _, w := range c.Watches {
		paths = append(paths, w.Path)
	}
	m.mu.Lock()
	oldNames, oldPaths := m.targetNames, m.watchPaths
	m.targetNames, m.watchPaths = names, paths
	m.mu.Unlock()
	for _, n := range oldNames {
		if _, ok := c.Targets[n]; !ok {
			for _, v := range []interface {
				DeletePartialMatch(prometheus.Labels) int
			}{m.uploads, m.bytes, m.duration, m.retries} {
				v.DeletePartialMatch(prometheus.Labels{"target": n})
			}
		}
	}
	for _, p := range oldPaths {
		if !slices.Contains(paths, p) {
			m.lastSuccess.DeletePartialMatch(prometheus.Labels{"watch": p})
			m.afterUpload.DeletePartialMatch(prometheus.Labels{"watch": p})
		}
	}
}

func (m *Metrics) configuredTargets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.targetNames
}

// AfterUploadFailed implements daemon.AfterUploadObserver.
func (m *Metrics) AfterUploadFailed(watch, action string, _ error) {
	m.afterUpload.WithLabelValues(watch, action).Inc()
}
