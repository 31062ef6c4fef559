package connections_test

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets/targettest"
)

// TestLargeUploadDoesNotBuffer checks that a 40 MiB two-phase upload
// allocates far less than the file's size, on both ends (the fake runs in
// this process): the file is streamed, not buffered.
func TestLargeUploadDoesNotBuffer(t *testing.T) {
	const size = 40 << 20
	b := setup(t, "version")
	f, sha := b.env.File(t, "flat.bin", size)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res := b.deliver(t, f, &targettest.MemSessions{})
	runtime.ReadMemStats(&after)
	if !res.Chunked || res.SHA256 != sha {
		t.Fatalf("result %+v, want a two-phase upload with sha %s", res, sha)
	}
	if fl := b.only(t); fl.SHA256 != sha {
		t.Fatalf("field %+v", fl)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %s for a %s upload", config.FormatBytes(int64(alloc)), config.FormatBytes(size))
	if alloc > size/8 {
		t.Errorf("allocated %s during a %s upload: the file is being buffered", config.FormatBytes(int64(alloc)), config.FormatBytes(size))
	}
}

// BenchmarkDeliver sends a 1 MiB file (raw POST the first time, a two-phase
// replacement after) and a 40 MiB one (two phases through the driver's
// session) to the fake over loopback, with chunk_threshold 30MiB as in the
// reference SDK. It reports MB/s and the process's peak RSS (VmHWM, reset
// before each size), which must not grow with the file.
func BenchmarkDeliver(b *testing.B) {
	for _, size := range []int64{1 << 20, 40 << 20} {
		b.Run(strconv.FormatInt(size>>20, 10)+"MiB", func(b *testing.B) {
			bd := setupThreshold(b, "version", "30MiB")
			f, _ := bd.env.File(b, "bench.bin", size)
			resetPeakRSS(b)
			b.SetBytes(size)
			for b.Loop() {
				bd.deliver(b, f, &targettest.MemSessions{})
			}
			b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
		})
	}
}

// resetPeakRSS resets VmHWM to the current RSS (Linux: clear_refs 5).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// peakRSS returns VmHWM from /proc/self/status, in bytes.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			f := bytes.Fields(rest)
			if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	b.Skip("no VmHWM in /proc/self/status")
	return 0
}
