package sbm_test

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkPut delivers a 1 MiB and then a 300 MiB file through the real
// driver to the in-process fake, reporting throughput and the process's
// peak RSS (VmHWM) after each size: a flat figure shows that neither the
// adapter nor the fake holds the file or its base64. It also checks that
// every request's Content-Length equalled the bytes received and that the
// stored content is the file's.
//
//	go test -run '^$' -bench Put -benchtime 3x ./targets/sbm/
func BenchmarkPut(b *testing.B) {
	for _, size := range []int64{1 << 20, 300 << 20} {
		b.Run(strconv.FormatInt(size>>20, 10)+"MiB", func(b *testing.B) {
			bd := setup(b, "", "")
			f, sum := bd.env.File(b, "bench.bin", size)
			b.SetBytes(size)
			for b.Loop() {
				if _, err := bd.env.Deliver(context.Background(), f, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			for _, u := range bd.updates() {
				if u.ContentLength != u.BodyBytes || u.Objects[0].Size != size {
					b.Fatalf("Content-Length %d, received %d bytes carrying %d of %d file bytes", u.ContentLength, u.BodyBytes, u.Objects[0].Size, size)
				}
			}
			if objs := bd.files(); len(objs) != 1 || objs[0].SHA256 != sum {
				b.Fatalf("stored %+v, want the file's content", objs)
			}
			hwm := vmHWM(b)
			b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
		})
	}
}

// vmHWM returns the process's peak resident set size in bytes, from
// /proc/self/status.
func vmHWM(tb testing.TB) int64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Skip("no VmHWM in /proc/self/status")
	return 0
}
