//go:build unix

package daemon_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/internal/hotbench"
)

// sinkEnv makes the test binary serve the hotbench sink instead of running
// tests (see TestMain), so a benchmark's sink runs out of process.
const sinkEnv = "DROPSYNC_DAEMON_TEST_SINK"

// TestMain serves the sink when the test binary is started as the sink
// process.
func TestMain(m *testing.M) {
	if os.Getenv(sinkEnv) == "1" {
		if err := hotbench.Serve(context.Background(), os.Stdout); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// BenchmarkBurstPerFile runs b.N new 4 KiB files (100 per new folder, as
// the hot-folder burst renames them in) through a running daemon to the
// hotbench sink, served by another process over loopback, so every
// allocation counted is the daemon's (and the renames'). One op is one
// file: with -benchmem, allocs/op and B/op are per delivered file. The
// daemon logs at warn, as the burst's does, and has delivered one file
// (connection, destination folder) before the clock starts. It also
// reports the process's CPU time per file, the garbage collections
// per 1,000 files, and the queue's shared commits: operations per commit
// round and rounds per file. Use a fixed count, e.g.
//
//	go test ./daemon/ -run '^$' -bench BurstPerFile -benchmem -benchtime 3000x
func BenchmarkBurstPerFile(b *testing.B) {
	b.StopTimer()
	const size, perFolder = 4 << 10, 100
	url := startSink(b)
	dir := b.TempDir()
	watch, stage := filepath.Join(dir, "watch"), filepath.Join(dir, "stage")
	folders := (b.N + perFolder - 1) / perFolder
	buf := make([]byte, size)
	for i := range folders + 1 {
		if err := os.MkdirAll(filepath.Join(stage, fmt.Sprintf("d%03d", i)), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.MkdirAll(watch, 0o700); err != nil {
		b.Fatal(err)
	}
	staged := make([]string, b.N)
	for i := range staged {
		staged[i] = filepath.Join(fmt.Sprintf("d%03d", i/perFolder), fmt.Sprintf("f%06d.dat", i))
		io.ReadFull(rand.Reader, buf)
		if err := os.WriteFile(filepath.Join(stage, staged[i]), buf, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	warm := filepath.Join(fmt.Sprintf("d%03d", folders), "warm.dat")
	if err := os.WriteFile(filepath.Join(stage, warm), buf, 0o600); err != nil {
		b.Fatal(err)
	}

	mkdirMove(b, stage, watch, warm)
	y := fmt.Sprintf("state_dir: %s\nworkers: 4\ntargets:\n  sink:\n    type: sensenet\n    url: %s\n    auth: {type: bearer, token: bench}\nwatches:\n  - path: %s\n    target: sink\n    destination: {path: %s}\n    settle: 50ms\n",
		filepath.Join(dir, "state"), url, watch, hotbench.BenchRoot)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	obs := &burstCounter{want: int64(b.N) + 1, warm: make(chan struct{}), all: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := daemon.New(ctx, c, daemon.Options{Log: log, Observer: obs})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	// The warm-up file, found by the start-up scan (the watch is up once it
	// has run), makes the connection and the destination folder.
	select {
	case <-obs.warm:
	case <-time.After(time.Minute):
		b.Fatal("the warm-up file was not delivered within a minute")
	}

	var ru0, ru1 syscall.Rusage
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	rounds0, ops0 := d.Queue().CommitRounds()
	start := time.Now()
	b.StartTimer()
	for i, rel := range staged {
		if i%perFolder == 0 {
			os.Mkdir(filepath.Join(watch, filepath.Dir(rel)), 0o700)
		}
		if err := os.Rename(filepath.Join(stage, rel), filepath.Join(watch, rel)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-obs.all:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d files delivered after 10 minutes", obs.n.Load()-1, b.N)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	runtime.ReadMemStats(&ms1)
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) + syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Utime) - syscall.TimevalToNsec(ru0.Stime))
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/file")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "files/s")
	b.ReportMetric(float64(ms1.NumGC-ms0.NumGC)*1000/float64(b.N), "GCs/1000files")
	rounds1, ops1 := d.Queue().CommitRounds()
	b.ReportMetric(float64(ops1-ops0)/float64(rounds1-rounds0), "ops/commit")
	b.ReportMetric(float64(rounds1-rounds0)/float64(b.N), "commits/file")
}

// mkdirMove renames from/rel to to/rel, making rel's folder in to.
func mkdirMove(b *testing.B, from, to, rel string) {
	os.MkdirAll(filepath.Join(to, filepath.Dir(rel)), 0o700)
	if err := os.Rename(filepath.Join(from, rel), filepath.Join(to, rel)); err != nil {
		b.Fatal(err)
	}
}

// burstCounter closes warm at the first delivery and all at the want-th.
type burstCounter struct {
	n         atomic.Int64
	want      int64
	warm, all chan struct{}
}

func (c *burstCounter) Delivered(daemon.Delivery) {
	switch c.n.Add(1) {
	case 1:
		close(c.warm)
	case c.want:
		close(c.all)
	}
}
func (c *burstCounter) Failed(daemon.Failure)                 {}
func (c *burstCounter) Progress(string, string, int64, int64) {}
func (c *burstCounter) WatchEvent()                           {}
func (c *burstCounter) Overflow()                             {}

// startSink starts this test binary as the hotbench sink and returns its
// URL; the sink stops when the benchmark ends.
func startSink(b *testing.B) string {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), sinkEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) == 0 || !strings.HasPrefix(f[len(f)-1], "http://") {
		b.Fatalf("the sink said %q (%v)", line, err)
	}
	return f[len(f)-1]
}
