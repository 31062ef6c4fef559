package daemon_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// BenchmarkEndToEnd10kFiles drops 10,000 files of 4 KiB (in 100 folders)
// and measures the daemon delivering them all to the sensenet fake over
// loopback: start-up scan, settle, queue, upload, state. One iteration is
// the whole batch; run with -benchtime 1x.
func BenchmarkEndToEnd10kFiles(b *testing.B) {
	const files, size = 10_000, 4 << 10
	for range b.N {
		b.StopTimer()
		fake := sensenet.NewFake()
		srv := httptest.NewServer(fake)
		dir := b.TempDir()
		in := filepath.Join(dir, "in")
		buf := make([]byte, size)
		for i := range files {
			p := filepath.Join(in, fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d.dat", i))
			if i < 100 {
				os.MkdirAll(filepath.Dir(p), 0o700)
			}
			io.ReadFull(rand.Reader, buf)
			if err := os.WriteFile(p, buf, 0o600); err != nil {
				b.Fatal(err)
			}
		}
		y := fmt.Sprintf("state_dir: %s\nworkers: 8\ntargets:\n  t:\n    type: sensenet\n    url: %s\n    auth: {type: bearer, token: %s}\nwatches:\n  - path: %s\n    target: t\n    destination: {path: %s}\n    settle: 50ms\n",
			filepath.Join(dir, "state"), srv.URL, sensenet.DemoToken, in, sensenet.DocumentsPath)
		c, err := config.Parse(strings.NewReader(y))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		b.StartTimer()
		start := time.Now()
		d, err := daemon.New(ctx, c, daemon.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		tick := time.NewTicker(20 * time.Millisecond)
		for {
			<-tick.C
			counts, err := d.Queue().Counts(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if counts[queue.Done] == files {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("stuck: %v", counts)
			}
		}
		tick.Stop()
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		srv.Close()
		fake.Close()
		b.ReportMetric(files/elapsed.Seconds(), "files/s")
		b.ReportMetric(float64(files*size)/elapsed.Seconds()/1e6, "MB/s")
		b.StartTimer()
	}
}
