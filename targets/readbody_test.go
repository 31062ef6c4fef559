package targets_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// ReadBody returns the answer (up to 1 MiB) whether its length is
// announced or not, and leaves the connection for the next request.
func TestReadBodyReadsAnswersAndKeepsTheConnection(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.Write(big[:n])
		if f, ok := w.(http.Flusher); ok && r.URL.Query().Get("chunked") != "" {
			f.Flush()
		}
	}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	hc, err := targets.NewHTTPClient(&config.Target{Timeout: config.Duration(0)})
	if err != nil {
		t.Fatal(err)
	}
	c := &targets.Client{HTTP: hc}
	for _, q := range []string{"n=0", "n=1", "n=120", "n=5000", "n=1048575", "n=1048576", "n=2000000",
		"n=0&chunked=1", "n=120&chunked=1", "n=2000000&chunked=1"} {
		resp, err := c.Do(context.Background(), "test", func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, srv.URL+"/?"+q, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		got := targets.ReadBody(resp)
		n, _ := strconv.Atoi(q[2:min(len(q), strings.IndexByte(q+"&", '&'))])
		if want := big[:min(n, 1<<20)]; !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, want %d", q, len(got), len(want))
		}
	}
	if n := conns.Load(); n > 3 {
		// An answer cut at 1 MiB leaves the rest unread: that connection
		// closes (two such answers), the others are reused.
		t.Errorf("%d connections, want at most 3", n)
	}
}

// A body longer than its announced length (not one net/http delivers) is
// read whole, up to 1 MiB, as before.
func TestReadBodyOfABodyLongerThanAnnounced(t *testing.T) {
	resp := &http.Response{ContentLength: 3, Body: io.NopCloser(strings.NewReader("longer than three"))}
	if got := string(targets.ReadBody(resp)); got != "longer than three" {
		t.Fatalf("got %q", got)
	}
}
