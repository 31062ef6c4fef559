package connections_test

import (
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/targettest"
)

// An unset chunk_threshold means the SDK's 30 MiB; a configured one wins.
func TestTwoPhaseThresholdDefaultsTo30MiB(t *testing.T) {
	const target = "type: connections-activities\nurl: http://127.0.0.1:1\nauth: {type: basic, username: u, password: p}\n"
	const watch = "destination: {activity_id: A1}"
	env := targettest.Build(t, target, watch)
	if got := targets.ChunkThreshold(env.Target, env.Config.Targets["t"]); got != 30<<20 {
		t.Fatalf("default threshold %d, want 30 MiB", got)
	}
	env = targettest.Build(t, target+"chunk_threshold: 5MiB\n", watch)
	if got := targets.ChunkThreshold(env.Target, env.Config.Targets["t"]); got != 5<<20 {
		t.Fatalf("configured threshold %d, want 5 MiB", got)
	}
}
