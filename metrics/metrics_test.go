package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

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
