package daemon

import (
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
)

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	d := &Daemon{cfg: &config.Config{Retry: config.Retry{Initial: config.Duration(time.Second), Max: config.Duration(time.Minute)}}}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 50: time.Minute} {
		seen := map[time.Duration]bool{}
		for range 200 {
			got := d.backoff(attempt)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, got, want/2, want)
			}
			seen[got] = true
		}
		if len(seen) < 10 {
			t.Fatalf("backoff(%d) has no jitter: %v", attempt, seen)
		}
	}
}

// probeWait never falls below minProbeWait, even for a Config that escaped
// validation with a tiny (or zero, or negative) retry.initial and retry.max.
func TestProbeWaitHasAFloor(t *testing.T) {
	for _, r := range []config.Retry{
		{Initial: 1, Max: 1},
		{},
		{Initial: -config.Duration(time.Second), Max: -config.Duration(time.Second)},
		{Initial: config.Duration(10 * time.Millisecond), Max: config.Duration(100 * time.Millisecond)},
	} {
		d := &Daemon{cfg: &config.Config{Retry: r}}
		for _, down := range []time.Duration{0, time.Millisecond, time.Second, time.Hour} {
			for range 50 {
				if got := d.probeWait(down); got < minProbeWait {
					t.Fatalf("retry %+v, down for %s: probeWait %s, want at least %s", r, down, got, minProbeWait)
				}
			}
		}
	}
}
