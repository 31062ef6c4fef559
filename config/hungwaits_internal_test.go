//go:build linux

package config

import (
	"fmt"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/hungfs"
)

// every folder on a hung mount costs its own pathWait, one
// after the other (the stat of each watch path, then the resolving of
// each move_to/failed_to under it): with 10s and a few drop folders on
// one dead share, loading alone passes systemd's 90s TimeoutStartSec, and
// the sandbox check's 10s comes on top. The sandbox check waits once for
// all folders; the configuration should not wait more than about that.
func TestManyFoldersOnOneHungMountCostAboutOneWait(t *testing.T) {
	fs := hungfs.Mount(t)
	old := pathWait
	pathWait = 300 * time.Millisecond
	t.Cleanup(func() { pathWait = old })
	y := hungHead(t.TempDir())
	for i := range 6 {
		y += fmt.Sprintf("  - path: %s/in%d\n    target: t\n    failed_to: %s/failed%d\n", fs.Dir, i, fs.Dir, i)
	}
	fs.Hang()
	start := time.Now()
	if _, err := parseBounded(t, fs, y, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*pathWait {
		t.Fatalf("12 folders on one hung mount took %s to load with pathWait %s (%.0f waits, one after the other); scaled to 10s that is %s",
			took.Round(time.Millisecond), pathWait, float64(took)/float64(pathWait), time.Duration(float64(took)/float64(pathWait)*10)*time.Second)
	}
}
