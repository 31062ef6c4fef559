package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/queue"
)

func TestStatusPrintsProgressTargetsPausesAndFailures(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	r := &statusReport{
		StateDir: "/var/lib/dropsync",
		Daemon:   "running",
		Counts:   map[string]int{queue.Pending: 3, queue.Leased: 1, queue.Done: 120, queue.Failed: 1},
		Uploading: []uploadStatus{{ID: 7, Target: "docs", Path: "scans/big.tif", BytesDone: 50 << 20, BytesTotal: 200 << 20,
			RateBps: 10 << 20, ETASeconds: 15, StartedAt: now.Add(-5 * time.Second)}},
		Targets: []targetRow{
			{Name: "blue", Type: "blueworks", State: queue.TargetThrottled, Since: now.Add(-time.Minute), NextProbe: now.Add(90 * time.Second), Backlog: 2,
				LastError: "blueworks: upload: Too Many Requests (HTTP 429)"},
			{Name: "docs", Type: "sensenet", State: queue.TargetCredentials, Since: now.Add(-time.Hour), NextProbe: now.Add(10 * time.Second), Backlog: 1,
				LastError: "sensenet: upload: The token is not valid (HTTP 401)"},
		},
		Throttled: []throttleState{{Pause: queue.Pause{Target: "blue", Until: now.Add(90 * time.Second), Reason: "blueworks: upload: Too Many Requests (HTTP 429)"}}},
		Failures:  []*queue.Job{{ID: 12, Target: "docs", Rel: "a.pdf", UpdatedAt: now, LastError: "sensenet: upload: Access denied (HTTP 403)"}},
		Writing:   []*queue.Job{{ID: 14, Target: "docs", Rel: "logs/app.log", LastError: queue.StillWriting + ": it changed during each of its last 3 uploads"}},
	}
	var b bytes.Buffer
	printStatus(&b, r, now)
	out := b.String()
	for _, want := range []string{
		"daemon: running   queue: 3 pending, 1 uploading, 120 done, 1 failed",
		"[#######.......................]  25% 50.0 MiB / 200.0 MiB  10.0 MiB/s  ETA 15s",
		"blue       paused until 2026-11-23 10:01:30 UTC (1m30s left): blueworks: upload: Too Many Requests (HTTP 429)",
		"blue    throttled             2026-11-23 09:59:00  resumes 2026-11-23 10:01:30 UTC (in 1m30s)  2        blueworks: upload: Too Many Requests (HTTP 429)",
		"docs    credentials rejected  2026-11-23 09:00:00  probe 2026-11-23 10:00:10 UTC (in 10s)      1        sensenet: upload: The token is not valid (HTTP 401)",
		"#12    docs       a.pdf",
		"sensenet: upload: Access denied (HTTP 403)",
		"still being written (changed during each upload; sent once they hold still):\n  #14    docs       logs/app.log",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// Uploads a stopped daemon left are listed under "interrupted": the
// heading was printed without them.
func TestStatusListsInterruptedUploads(t *testing.T) {
	now := time.Now()
	r := &statusReport{StateDir: "/s", Daemon: "stopped", Counts: map[string]int{queue.Leased: 1},
		Uploading: []uploadStatus{{ID: 7, Target: "docs", Path: "scans/big.tif", BytesDone: 50, BytesTotal: 200, StartedAt: now}}}
	var b bytes.Buffer
	printStatus(&b, r, now)
	if !strings.Contains(b.String(), "interrupted") || !strings.Contains(b.String(), "scans/big.tif") {
		t.Errorf("the interrupted upload is not listed:\n%s", b.String())
	}
}
