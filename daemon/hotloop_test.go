package daemon_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/fakehttp"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// retry.initial and retry.max had no lower bound (reconcile_interval and
// timeout had one, "a busy loop"), so `retry: {initial: 1ns, max: 1ns}` was
// accepted. With it, a target that is down was probed back to back:
// probeWait was 0, and every probe is a request plus a target_health write.
// Either the configuration is refused, or the probes stay few.
func TestTinyRetryIsRefusedOrDoesNotHotLoopTheProbe(t *testing.T) {
	const retry = "{initial: 1ns, max: 1ns}"
	if _, err := config.Parse(strings.NewReader("state_dir: /tmp/x\nretry: " + retry + "\n" +
		"targets:\n  t:\n    type: sensenet\n    url: http://127.0.0.1:1\n    auth: {type: bearer, token: abcd}\n" +
		"watches:\n  - path: /tmp\n    target: t\n    destination: {path: /Root}\n")); err != nil && strings.Contains(err.Error(), "retry") {
		return // refused: fine
	}
	h, _, faults := faultySensenet(t, retry, "auth: {type: bearer, token: "+sensenet.DemoToken+"}")
	faults.Set(func(*http.Request) fakehttp.Action { return fakehttp.Action{Status: http.StatusServiceUnavailable} })
	h.WriteRandom(t, "a.bin", 100)
	daemontest.Eventually(t, "the target down", func() bool { return targetState(h).State == queue.TargetDown })
	start := faults.Requests()
	time.Sleep(time.Second) // the outage goes on: this is the scenario, not synchronisation
	during := faults.Requests() - start
	t.Logf("%d requests in one second of outage", during)
	if during > 50 {
		t.Errorf("retry %s accepted, and a down target was probed %d times in one second: a hot loop", retry, during)
	}
}
