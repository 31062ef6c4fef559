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
	"sync/atomic"
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
		all := &countDeliveries{want: files, done: make(chan struct{})}
		d, err := daemon.New(ctx, c, daemon.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: all})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		select {
		case <-all.done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("stuck after %d deliveries", all.n.Load())
		}
		elapsed := time.Since(start)
		if c, err := d.Queue().Counts(ctx); err != nil || c[queue.Done] != files {
			b.Fatalf("queue counts %v, %v", c, err)
		}
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

// countDeliveries closes done after want deliveries.
type countDeliveries struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *countDeliveries) Delivered(daemon.Delivery) {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
}
func (c *countDeliveries) Failed(daemon.Failure)                 {}
func (c *countDeliveries) Progress(string, string, int64, int64) {}
func (c *countDeliveries) WatchEvent()                           {}
func (c *countDeliveries) Overflow()                             {}
