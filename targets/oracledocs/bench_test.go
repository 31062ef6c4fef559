package oracledocs_test

import (
	"bufio"
	"context"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets/oracledocs"
	"github.com/dropsync/dropsync/targets/targettest"
)

// BenchmarkUpload streams one file through the real driver to the fake over
// loopback and reports MB/s and the process's peak RSS (VmHWM, reset before
// the timed part). The fake hashes what it receives and keeps nothing, so
// the peak covers the client and the server side; it must not grow with the
// file size. Run one size per process for clean peaks:
//
//	go test -run '^$' -bench 'Upload/1MiB' ./targets/oracledocs/
//	go test -run '^$' -bench 'Upload/200MiB' -benchtime 3x ./targets/oracledocs/
func BenchmarkUpload(b *testing.B) {
	for _, c := range []struct {
		name string
		size int64
	}{{"1MiB", 1 << 20}, {"200MiB", 200 << 20}} {
		b.Run(c.name, func(b *testing.B) {
			fake := oracledocs.NewFake()
			srv := httptest.NewServer(fake)
			defer srv.Close()
			s := fake.Setup(srv.URL)
			env := targettest.Build(b, s.Target, "destination: "+s.Destination)
			f, sum := env.File(b, "big.bin", c.size)
			resetPeakRSS(b)
			b.SetBytes(c.size)
			b.ResetTimer()
			for range b.N {
				res, err := env.Deliver(context.Background(), f, nil)
				if err != nil {
					b.Fatal(err)
				}
				if res.SHA256 != sum {
					b.Fatalf("sent sha %s, want %s", res.SHA256, sum)
				}
			}
			b.StopTimer()
			if got, _ := fake.Find(oracledocs.FakeFolderID, "big.bin"); got.Latest().SHA256 != sum || got.Latest().Size != c.size {
				b.Fatalf("server holds %+v", got.Latest())
			}
			b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
		})
	}
}

// resetPeakRSS resets the kernel's VmHWM for this process (Linux ≥ 4.0).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS (%v); it includes the set-up", err)
	}
}

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Skip("no VmHWM in /proc/self/status")
	return 0
}
