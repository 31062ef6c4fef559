package hotbench_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/hotbench"
)

// TestMain serves the sink when the test binary is started as the sink
// process (the benchmark runs its sink out of process), and plays a
// daemon for the readiness test when started as one.
func TestMain(m *testing.M) {
	if os.Getenv("HOTBENCH_SINK") == "1" {
		if err := hotbench.Serve(context.Background(), os.Stdout); err != nil {
			os.Exit(1)
		}
		return
	}
	if how := os.Getenv("HOTBENCH_FAKE_DAEMON"); how != "" {
		fakeDaemon(how)
		return
	}
	os.Exit(m.Run())
}

// fakeDaemon stands in for `dropsync run` under a notify socket: "ready"
// takes a while, creates the file HOTBENCH_FAKE_MARK, says READY=1 and
// runs until SIGTERM; "exit" ends at once without a word.
func fakeDaemon(how string) {
	if how != "ready" {
		os.Exit(3)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	time.Sleep(300 * time.Millisecond) // a start that takes its time; not a synchronisation
	if err := os.WriteFile(os.Getenv("HOTBENCH_FAKE_MARK"), nil, 0o600); err != nil {
		os.Exit(4)
	}
	c, err := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
	if err != nil {
		os.Exit(5)
	}
	c.Write([]byte("STATUS=starting\nREADY=1\n"))
	c.Close()
	<-ctx.Done()
}

// TestSmallRun runs the whole benchmark on a small count against the real
// dropsync binary: every file arrives intact, every figure is measured, and
// a new small file costs one request (today's goal; it was two).
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the dropsync binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dropsync")
	build := exec.Command("go", "build", "-o", bin, "github.com/dropsync/dropsync/cmd/dropsync")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dropsync: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOTBENCH_SINK", "1") // inherited by the sink only: the test itself has read it already
	var log strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := hotbench.Run(ctx, hotbench.Options{
		Dropsync: bin, SinkCmd: []string{self, "-test.run=^$"}, Dir: dir,
		Files: 300, Folders: 6, Large: 3 << 20, Small: 64 << 10, Chunk: 1 << 20,
		Idle: time.Second, Latency: 3, Rounds: 2, Log: &log,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out strings.Builder
	r.Print(&out)
	t.Logf("\n%s\n%s", log.String(), out.String())
	// Two rounds: three bare bursts and two of dropsync, four files
	// through the latency watch, two small files (one per round), three
	// bare large files and two of dropsync.
	if want := 5*300 + 4 + 2 + 3 + 2; r.Verified != want {
		t.Fatalf("verified %d files, want %d", r.Verified, want)
	}
	if len(r.BurstRatios) != 2 || len(r.LargeRatios) != 2 || len(r.RSSSmalls) != 2 || len(r.RSSLarges) != 2 {
		t.Fatalf("ratios of %d burst and %d large rounds, peak RSS of %d small and %d large daemons, want 2 each",
			len(r.BurstRatios), len(r.LargeRatios), len(r.RSSSmalls), len(r.RSSLarges))
	}
	if r.BareFilesPerSec <= 0 || r.DropsyncFilesPerSec <= 0 || r.BareLargeMBps <= 0 || r.DropsyncLargeMBps <= 0 || r.RSSSmall <= 0 || r.RSSLarge <= 0 || r.LatencyP50 <= 0 {
		t.Fatalf("a figure is missing: %+v", r)
	}
	// The upload slots bound the requests in flight by the workers (4).
	// Connections are reused, not opened per file; a few more than the
	// workers may open: Go's transport dials for a request that finds no
	// idle connection and keeps the connection when another one freed up
	// first (seen under -race on a loaded machine: 5, two never used).
	if r.DropsyncInFlight > 4 {
		t.Fatalf("the sink served %d of dropsync's requests at once, want at most one per worker (4)", r.DropsyncInFlight)
	}
	if r.DropsyncInFlight < 1 {
		t.Fatalf("the sink saw no request of dropsync's burst in flight")
	}
	if r.DropsyncConns > 2*4 {
		t.Fatalf("dropsync opened %d connections for the burst of 300 files, want them reused (at most 8)", r.DropsyncConns)
	}
	// 300 files in 6 new folders: one upload each, plus a lookup and a
	// creation per folder.
	if r.DropsyncReqPerFile > float64(300+2*6)/300+0.001 {
		t.Fatalf("dropsync sent %.3f requests per file, want at most %.3f", r.DropsyncReqPerFile, float64(300+2*6)/300)
	}
}
