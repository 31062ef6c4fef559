//go:build unix

package queue_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// BenchmarkBurstQueueWork is the queue's share of the hot-folder burst
// (see internal/hotbench): 10,000 new files in 100 folders enqueued in
// batches of 500, while 4 workers each complete a job with its file state
// and one remote name and claim their next in the same transaction, as the
// daemon's workers do. It
// reports the process CPU time per file, steadier than wall time on a
// shared machine. The sub-benchmark "ahead" claims as a daemon's runner
// does in a burst, when every upload slot already has a job heading for
// it: one job ahead, only while more than 3×workers stay behind, reading
// the claimed job's remote-name owner in the same transaction.
func BenchmarkBurstQueueWork(b *testing.B) {
	nameKey := func(j *queue.Job) (string, string, bool) { return j.Target, j.Rel, true }
	b.Run("now", func(b *testing.B) { burstQueueWork(b, queue.Want{Now: 1}) })
	b.Run("ahead", func(b *testing.B) { burstQueueWork(b, queue.Want{Ahead: 1, Keep: 12, NameKey: nameKey}) })
}

func burstQueueWork(b *testing.B, want queue.Want) {
	const files, folders, workers, batch = 10_000, 100, 4, 500
	ctx := context.Background()
	var cpu, wall time.Duration
	for i := 0; i < b.N; i++ {
		q, _ := open(b)
		items := make([]queue.Item, files)
		for k := range items {
			items[k] = queue.Item{Watch: "/w", Rel: fmt.Sprintf("d%03d/f%05d.bin", k%folders, k), Target: "t",
				FP: fsid.Fingerprint{Size: 4096, ModTime: int64(k), Inode: uint64(k + 1)}}
		}
		c0, t0 := cpuTime(b), time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		more := sync.NewCond(&mu)
		batches, finished := 0, false // under mu
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < files; k += batch {
				_, err := q.Enqueue(ctx, items[k:k+batch])
				if err != nil {
					b.Error(err)
				}
				mu.Lock()
				batches++
				finished = finished || k+batch >= files || err != nil
				more.Broadcast()
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var j *queue.Job // the job the last completion claimed, as a daemon worker takes it
				for {
					mu.Lock()
					seen, last := batches, finished
					mu.Unlock()
					if j == nil {
						var err error
						if j, err = q.Claim(ctx); err != nil {
							b.Error(err)
							return
						}
					}
					if j == nil {
						if last {
							return
						}
						mu.Lock()
						for batches == seen && !finished {
							more.Wait()
						}
						mu.Unlock()
						continue
					}
					o := queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
						Remote: targets.Remote{ID: "id-" + j.Rel, Name: j.Rel}}, Names: []string{j.Rel}}
					_, next, err := q.CompleteNext(ctx, j, o, want)
					if err != nil {
						b.Error(err)
						return
					}
					j = nil
					if len(next) > 0 {
						j = next[0]
					}
				}
			}()
		}
		wg.Wait()
		cpu += cpuTime(b) - c0
		wall += time.Since(t0)
		q.Close()
	}
	n := float64(b.N * files)
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/file")
	b.ReportMetric(float64(wall.Microseconds())/n, "wall-µs/file")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
