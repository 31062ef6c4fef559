package watcher

import (
	"context"
	"log/slog"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// BenchmarkScan100k compares scans of 100,000 unchanged files (100
// folders of 1,000) with `find DIR -printf '%s %T@\n'` on the same tree,
// measured in the same run: a poll (walk, stat, compare with the recorded
// state) and a full events-mode scan (watch every folder, note every
// file). The goal is at most 2× find.
//
//	go test -run '^$' -bench Scan100k -benchtime 3x ./watcher/
func BenchmarkScan100k(b *testing.B) {
	find, err := exec.LookPath("find")
	if err != nil {
		b.Skip("no find")
	}
	root := b.TempDir()
	tree(b, root, 100, 1000)
	ctx := context.Background()
	runFind := func() time.Duration {
		start := time.Now()
		cmd := exec.Command(find, root, "-printf", "%s %T@\n")
		if err := cmd.Run(); err != nil { // output to /dev/null
			b.Fatal(err)
		}
		return time.Since(start)
	}
	quiet := slog.New(slog.DiscardHandler)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	poller, err := New(Options{Root: root, Recursive: true, Mode: "poll", Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer poller.Close()
	if err := poller.scan(ctx); err != nil { // records the state; warms the cache
		b.Fatal(err)
	}
	if n := len(poller.known); n != 100_000 {
		b.Fatalf("poll state has %d files", n)
	}
	clear(poller.pending) // as if sent: the queue has them
	runtime.GC()
	runtime.ReadMemStats(&after)
	stateBytes := float64(after.HeapAlloc-before.HeapAlloc) / 100_000
	runFind()
	var findT, pollT, scanT time.Duration
	for b.Loop() {
		findT += runFind()
		start := time.Now()
		poller.poll(ctx)
		pollT += time.Since(start)
		if len(poller.pending) != 0 {
			b.Fatalf("an unchanged tree left %d files pending", len(poller.pending))
		}
		w, err := New(Options{Root: root, Recursive: true, Mode: "events", Log: quiet})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := w.scan(ctx); err != nil {
			b.Fatal(err)
		}
		scanT += time.Since(start)
		w.Close()
	}
	n := float64(b.N)
	b.ReportMetric(findT.Seconds()*1e3/n, "find-ms")
	b.ReportMetric(pollT.Seconds()*1e3/n, "poll-ms")
	b.ReportMetric(scanT.Seconds()*1e3/n, "scan-ms")
	b.ReportMetric(pollT.Seconds()/findT.Seconds(), "poll/find")
	b.ReportMetric(scanT.Seconds()/findT.Seconds(), "scan/find")
	b.ReportMetric(stateBytes, "poll-state-B/file")
}
