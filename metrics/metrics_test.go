package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/metrics"
	"github.com/dropsync/dropsync/targets/sensenet"
)

func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsMoveWithUploads(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	m := metrics.New()
	h := daemontest.StartObserved(t, m, fmt.Sprintf("type: sensenet\nurl: %s\nauth: {type: bearer, token: %s}\n", srv.URL, sensenet.DemoToken),
		"destination: {path: "+sensenet.DocumentsPath+"}")
	m.Attach(h.Daemon())
	web := httptest.NewServer(m.Handler())
	defer web.Close()

	if code, body := scrape(t, web.URL+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("healthz %d %q", code, body)
	}
	fake.Inject(1, sensenet.Fault{Status: 503})
	sha := h.WriteRandom(t, "a.bin", 3000)
	h.WaitDelivered(t, "a.bin", sha)
	fake.Inject(1, sensenet.Fault{Status: 403})
	h.WriteRandom(t, "b.bin", 10)
	h.WaitFailed(t, "b.bin")
	_, body := scrape(t, web.URL+"/metrics")
	for _, want := range []string{
		`dropsync_uploads_total{outcome="delivered",target="t"} 1`,
		`dropsync_uploads_total{outcome="failed",target="t"} 1`,
		`dropsync_bytes_sent_total{target="t"} 3000`,
		`dropsync_upload_duration_seconds_count{target="t"} 1`,
		`dropsync_retries_total{kind="retryable",target="t"} 1`,
		`dropsync_jobs{state="failed"} 1`,
		`dropsync_oldest_pending_age_seconds 0`,
		`dropsync_healthy 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(body, "dropsync_watcher_events_total ") || strings.Contains(body, "dropsync_watcher_events_total 0\n") {
		t.Error("watcher events not counted")
	}

	// A watch whose folder disappears makes /healthz answer 503.
	os.RemoveAll(h.Inbox)
	daemontest.Eventually(t, "healthz 503", func() bool {
		code, _ := scrape(t, web.URL+"/healthz")
		return code == http.StatusServiceUnavailable
	})
}

// Series used to appear only once their first event happened, so an alert
// on the first failure had nothing to compare with; the throttle metric
// was a timestamp without the _timestamp_seconds suffix; there was no
// build info, no count of failed after_upload actions and no last success
// per watch.
func TestSeriesExistFromTheStart(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	h := daemontest.StartObserved(t, m, fmt.Sprintf("type: sensenet\nurl: %s\nauth: {type: bearer, token: %s}\n", srv.URL, sensenet.DemoToken),
		"destination: {path: "+sensenet.DocumentsPath+"}\nafter_upload: move\nmove_to: "+filepath.Join(blocker, "done"))
	m.Configure(h.Config)
	m.Attach(h.Daemon())
	web := httptest.NewServer(m.Handler())
	defer web.Close()
	watch := h.WatchPath()

	_, body := scrape(t, web.URL+"/metrics")
	for _, want := range []string{
		`dropsync_uploads_total{outcome="failed",target="t"} 0`,
		`dropsync_uploads_total{outcome="delivered",target="t"} 0`,
		`dropsync_retries_total{kind="throttled",target="t"} 0`,
		`dropsync_bytes_sent_total{target="t"} 0`,
		`dropsync_target_throttled_until_timestamp_seconds{target="t"} 0`,
		`dropsync_after_upload_failures_total{action="move",watch="` + watch + `"} 0`,
		`dropsync_watch_last_success_timestamp_seconds{watch="` + watch + `"} 0`,
		`dropsync_build_info{goarch="` + runtime.GOARCH + `",goos="` + runtime.GOOS + `",goversion="` + runtime.Version() + `",version="dev"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics before any upload lack %q", want)
		}
	}
	if strings.Contains(body, "dropsync_target_throttled_until_seconds") {
		t.Error("the throttle timestamp still has its old name")
	}
	checkMonitoringKit(t, body)

	h.WriteRandom(t, "a.bin", 100)
	h.WaitDelivered(t, "a.bin", "")
	daemontest.Eventually(t, "the failed move and the last success in the metrics", func() bool {
		_, body := scrape(t, web.URL+"/metrics")
		return strings.Contains(body, `dropsync_after_upload_failures_total{action="move",watch="`+watch+`"} 1`) &&
			!strings.Contains(body, `dropsync_watch_last_success_timestamp_seconds{watch="`+watch+`"} 0`)
	})
}

// checkMonitoringKit checks that every dropsync metric the alert rules and
// the Grafana dashboard use is one the daemon exports (scraped: body),
// besides the target health series (dropsync_target_up, _state).
func checkMonitoringKit(t *testing.T, body string) {
	t.Helper()
	exported := map[string]bool{"dropsync_target_up": true, "dropsync_target_state": true}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (dropsync_\w+) (\w+)`).FindAllStringSubmatch(body, -1) {
		exported[m[1]] = true
		if m[2] == "histogram" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				exported[m[1]+suf] = true
			}
		}
	}
	files, _ := filepath.Glob("../packaging/monitoring/*")
	if len(files) < 3 {
		t.Fatalf("monitoring kit: %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`dropsync_[a-z_]+`).FindAllString(string(b), -1) {
			if !exported[name] && !strings.HasSuffix(f, ".test.yml") {
				t.Errorf("%s uses %s, which the daemon does not export", filepath.Base(f), name)
			}
		}
	}
}

// A reload that removes a target or a watch drops its series; one that
// adds them creates theirs at 0.
func TestConfigureFollowsReloads(t *testing.T) {
	m := metrics.New()
	web := httptest.NewServer(m.Handler())
	defer web.Close()
	cfg := func(target, watch string) *config.Config {
		return &config.Config{Targets: map[string]*config.Target{target: {Type: "sensenet"}},
			Watches: []*config.Watch{{Path: watch, Target: target, AfterUpload: "keep"}}}
	}
	m.Configure(cfg("old", "/srv/old"))
	m.Configure(cfg("new", "/srv/new"))
	_, body := scrape(t, web.URL+"/metrics")
	if strings.Contains(body, `target="old"`) || strings.Contains(body, `watch="/srv/old"`) {
		t.Errorf("series of a removed target or watch remain:\n%s", body)
	}
	if !strings.Contains(body, `dropsync_uploads_total{outcome="failed",target="new"} 0`) || !strings.Contains(body, `dropsync_watch_last_success_timestamp_seconds{watch="/srv/new"} 0`) {
		t.Errorf("series of an added target or watch are missing:\n%s", body)
	}
}

// A target whose credentials are rejected shows in dropsync_target_up and
// dropsync_target_state at once, and in /healthz (503 with the reason) once
// it has lasted longer than metrics.unhealthy_after.
func TestTargetHealthInMetricsAndHealthz(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	m := metrics.New()
	y := fmt.Sprintf("state_dir: {{state}}\nmetrics: {unhealthy_after: 300ms}\nretry: {initial: 50ms, max: 10s}\n"+
		"targets:\n  t:\n    type: sensenet\n    url: %s\n    auth: {type: bearer, token: wrong}\n"+
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n    destination: {path: %s}\n", srv.URL, sensenet.DocumentsPath)
	h := daemontest.StartYAML(t, y)
	m.Attach(h.Daemon())
	web := httptest.NewServer(m.Handler())
	defer web.Close()
	if _, body := scrape(t, web.URL+"/metrics"); !strings.Contains(body, `dropsync_target_up{target="t"} 1`) ||
		!strings.Contains(body, `dropsync_target_state{state="up",target="t"} 1`) {
		t.Fatalf("metrics before:\n%s", body)
	}
	h.WriteRandom(t, "a.bin", 10)
	daemontest.Eventually(t, "target_up 0", func() bool {
		_, body := scrape(t, web.URL+"/metrics")
		return strings.Contains(body, `dropsync_target_up{target="t"} 0`) &&
			strings.Contains(body, `dropsync_target_state{state="credentials rejected",target="t"} 1`) &&
			strings.Contains(body, `dropsync_target_state{state="up",target="t"} 0`)
	})
	var body string
	daemontest.Eventually(t, "healthz 503", func() bool {
		var code int
		code, body = scrape(t, web.URL+"/healthz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "target t: credentials rejected since") || !strings.Contains(body, "HTTP 401") {
		t.Fatalf("healthz reason %q", body)
	}
}
