package sensenet_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

// benchEnv serves a fake and builds a target with the default chunking:
// 10 MiB chunks at or above 10 MiB.
func benchEnv(b *testing.B) *bundle {
	bb := serve(b)
	bb.env = targettest.Build(b, "type: sensenet\nurl: "+bb.srv.URL+"\nauth: {type: bearer, token: "+sensenet.DemoToken+"}\n", "destination: {path: "+docs+"}")
	return bb
}

// plainPost sends the file at path as one multipart whole-file Upload with
// nothing but the standard library and the target's HTTP client: the
// baseline a chunked upload is measured against.
func plainPost(b *testing.B, hc *http.Client, url, path string, size int64) {
	var head bytes.Buffer
	w := multipart.NewWriter(&head)
	w.WriteField("FileName", "plain.bin")
	w.WriteField("ChunkToken", "0**True*True")
	w.CreateFormFile("files[]", "plain.bin")
	n := head.Len()
	w.Close()
	tail := append([]byte(nil), head.Bytes()[n:]...)
	head.Truncate(n)
	fh, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	req, err := http.NewRequest(http.MethodPost, url, io.MultiReader(&head, fh, bytes.NewReader(tail)))
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = int64(head.Len()+len(tail)) + size
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+sensenet.DemoToken)
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"Length":`+strconv.FormatInt(size, 10)) {
		b.Fatalf("plain POST: %d %s", resp.StatusCode, body)
	}
}

// BenchmarkUpload1GiB delivers 1 GiB in 10 MiB chunks through the driver
// and posts the same bytes to the same fake in one plain request, and
// reports both rates and their ratio (goal: chunked ≥ 80% of plain).
func BenchmarkUpload1GiB(b *testing.B) {
	const size = 1 << 30
	bb := benchEnv(b)
	f, sum := bb.env.File(b, "big.bin", size)
	hc, err := targets.NewHTTPClient(bb.env.Config.Targets["t"])
	if err != nil {
		b.Fatal(err)
	}
	url := bb.srv.URL + "/OData.svc/Root/Content('Documents')/Upload"
	var plain, chunked time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		plainPost(b, hc, url, f.Path, size)
		plain += time.Since(start)

		start = time.Now()
		res, err := bb.env.Deliver(context.Background(), f, &targettest.MemSessions{})
		chunked += time.Since(start)
		if err != nil || !res.Chunked || res.SHA256 != sum {
			b.Fatalf("chunked delivery: %+v, %v", res, err)
		}
	}
	b.StopTimer()
	mbs := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(plain), "plain-MB/s")
	b.ReportMetric(mbs(chunked), "chunked-MB/s")
	b.ReportMetric(100*mbs(chunked)/mbs(plain), "chunked/plain-%")
	if c := bb.content(b, docs+"/big.bin"); c.Current().SHA256 != sum {
		b.Fatalf("stored %+v", c.Current())
	}
}

// BenchmarkPeakRSS delivers a 1 MiB and a 1 GiB file (chunked) and reports
// the process's peak RSS (VmHWM, reset before each where the kernel
// allows) for each; the goal is a growth within 10%.
func BenchmarkPeakRSS(b *testing.B) {
	bb := benchEnv(b)
	small, _ := bb.env.File(b, "small.bin", 1<<20)
	big, _ := bb.env.File(b, "big.bin", 1<<30)
	// Warm up: connections, buffers and pools exist before measuring.
	bb.deliver(b, small, nil)
	b.ResetTimer()
	var peakSmall, peakBig int64
	for range b.N {
		resetHWM()
		bb.deliver(b, small, &targettest.MemSessions{})
		peakSmall = max(peakSmall, vmHWM(b))
		resetHWM()
		res := bb.deliver(b, big, &targettest.MemSessions{})
		peakBig = max(peakBig, vmHWM(b))
		if !res.Chunked {
			b.Fatal("the 1 GiB delivery was not chunked")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peakSmall)/1024, "peak-RSS-1MiB-MiB")
	b.ReportMetric(float64(peakBig)/1024, "peak-RSS-1GiB-MiB")
	b.ReportMetric(100*float64(peakBig-peakSmall)/float64(peakSmall), "RSS-growth-%")
}

// resetHWM resets the kernel's peak-RSS mark to the current RSS (Linux
// 4.0+); where that is refused, measurements stay valid because the small
// file is measured first.
func resetHWM() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// vmHWM returns the process's peak resident set size in KiB.
func vmHWM(b *testing.B) int64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(fmt.Errorf("parse VmHWM %q: %w", v, err))
			}
			return kb
		}
	}
	b.Skip("no VmHWM in /proc/self/status")
	return 0
}
