//go:build !race

// The race detector's sync.Pool drops a quarter of what is put back, so
// allocation counts are only meaningful without it.

package targets_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// sinkServer answers every request on one connection with an empty 200
// after discarding its body of exactly n bytes, without allocating per
// request, so that a test can count what the client allocates.
func sinkServer(t *testing.T, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		have := 0 // bytes of buf not yet consumed
		for {
			// The header ends at the first empty line.
			end := -1
			for end < 0 {
				if end = bytes.Index(buf[:have], []byte("\r\n\r\n")); end >= 0 {
					break
				}
				m, err := c.Read(buf[have:])
				if err != nil {
					return
				}
				have += m
			}
			body := have - (end + 4)
			copy(buf, buf[end+4:have])
			have = 0
			for left := n - body; left > 0; {
				m, err := c.Read(buf[:min(left, len(buf))])
				if err != nil {
					return
				}
				left -= m
			}
			if _, err := c.Write(answer); err != nil {
				return
			}
		}
	}()
	return "http://" + ln.Addr().String()
}

// Sending a large request body allocates no copy buffer per request: the
// transport's io.Copy to a plain TCP connection used to make a fresh 32 KiB
// one for every chunk of an upload (4 MiB of garbage per GiB in 8 MiB
// chunks), which lifted a large upload's heap to Go's minimum goal.
func TestRequestBodyAllocatesNoCopyBuffer(t *testing.T) {
	const size = 1 << 20
	path := filepath.Join(t.TempDir(), "chunk")
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), size), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head, tail := []byte("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n"), []byte("\r\n--b--\r\n")
	u := sinkServer(t, len(head)+size+len(tail))
	hc, err := targets.NewHTTPClient(&config.Target{Timeout: config.Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	send := func() {
		body := io.MultiReader(bytes.NewReader(head), io.NewSectionReader(f, 0, size), bytes.NewReader(tail))
		req, err := http.NewRequest(http.MethodPost, u, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(head) + size + len(tail))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for range 3 { // the connection, its buffers and pools
		send()
	}
	const requests = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range requests {
		send()
	}
	runtime.ReadMemStats(&after)
	perRequest := (after.TotalAlloc - before.TotalAlloc) / requests
	t.Logf("%d bytes allocated per request of %d bytes", perRequest, size)
	if perRequest >= 24<<10 {
		t.Fatalf("a request of %d bytes allocates %d bytes: a copy buffer per request (limit %d)", size, perRequest, 24<<10)
	}
}
