package targets_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/targettest"
)

// A server that stops reading an upload does not hang the worker: the
// request is aborted after the stall period as retryable.
func TestStalledUploadIsAborted(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, 1024) // read a little, then stop
		<-release
	}))
	defer srv.Close()
	defer close(release)
	c := &targets.Client{HTTP: srv.Client(), Stall: 300 * time.Millisecond}
	start := time.Now()
	_, err := c.Do(context.Background(), "test: upload", func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, srv.URL, io.LimitReader(rand.Reader, 256<<20))
	})
	if k, _ := targets.Classify(err); k != targets.Retryable || !strings.Contains(err.Error(), "no progress for 300ms") {
		t.Fatalf("err = %v (kind %v)", err, k)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s to give up", d)
	}
}

// A slow but steady upload is not mistaken for a stall.
func TestSlowSteadyUploadIsNotAborted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 4096)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			<-tick.C // a slow reader: 4 KiB every 20ms
			if _, err := r.Body.Read(buf); err != nil {
				break
			}
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := &targets.Client{HTTP: srv.Client(), Stall: 200 * time.Millisecond}
	resp, err := c.Do(context.Background(), "test: upload", func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(strings.Repeat("x", 64<<10)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if b := targets.ReadBody(resp); string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
}

// A server that sends its headers and part of the answer and then nothing
// more is cut off after the stall period while the answer is read, and
// the error says so.
func TestStalledAnswerIsAborted(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "part of the answer")
		w.(http.Flusher).Flush()
		<-release
	}))
	defer srv.Close()
	defer close(release)
	c := &targets.Client{HTTP: srv.Client(), Stall: 200 * time.Millisecond}
	for _, body := range []io.Reader{nil, strings.NewReader("data")} {
		resp, err := c.Do(context.Background(), "test: send", func() (*http.Request, error) {
			return http.NewRequest(http.MethodPost, srv.URL, body)
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "part of the answer" || err == nil || !strings.Contains(err.Error(), "no progress while reading the answer") {
			t.Fatalf("read %q, err = %v", b, err)
		}
	}
}

// A server that answers before reading the body: closing the answer waits
// until the transport let go of the body, so rewinding and re-sending it
// (here twice, as an adapter does after a 409) sends intact bytes.
func TestResendAfterEarlyAnswerSendsIntactBody(t *testing.T) {
	got := &bodySums{}
	srv := httptest.NewServer(got.handler(func(n int) int {
		if n == 1 {
			return http.StatusConflict // answer without reading the body
		}
		return 0
	}, 0))
	defer srv.Close()
	body, sha := fileBody(t, srv.URL, 8<<20)
	c := &targets.Client{HTTP: srv.Client(), Stall: 10 * time.Second}
	for range 2 {
		resp, err := c.Do(context.Background(), "test: upload", body.request(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		targets.ReadBody(resp)
	}
	if sums := got.all(); len(sums) != 1 || sums[0] != sha {
		t.Fatalf("server received %v, want the file's %s", sums, sha)
	}
}

// bodySums records the SHA-256 of the request bodies a server received.
type bodySums struct {
	mu   sync.Mutex
	n    int
	sums []string
}

// handler answers the nth request (from 1) with refuse(n) when that is not
// 0, after reading skip bytes of its body; it records the SHA-256 of every
// other request's body.
func (b *bodySums) handler(refuse func(n int) int, skip int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.n++
		status := refuse(b.n)
		b.mu.Unlock()
		if status != 0 {
			io.CopyN(io.Discard, r.Body, skip)
			w.WriteHeader(status)
			return
		}
		h := sha256.New()
		io.Copy(h, r.Body)
		b.mu.Lock()
		b.sums = append(b.sums, hex.EncodeToString(h.Sum(nil)))
		b.mu.Unlock()
	})
}

func (b *bodySums) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.sums...)
}

// testBody is a file's Body, rewound for every request.
type testBody struct {
	*targets.Body
	size int64
}

// fileBody writes a file of size random bytes and returns a Body over it
// and the file's SHA-256.
func fileBody(t *testing.T, url string, size int64) (testBody, string) {
	t.Helper()
	env := targettest.Build(t, "type: test-chunks\nurl: "+url+"\n", "")
	f, sha := env.File(t, "x.bin", size)
	fh, err := os.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return testBody{targets.NewBodyForTest(fh, f.Size), f.Size}, sha
}

// request builds a POST of the rewound body to url.
func (b testBody) request(url string) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		if err := b.Rewind(); err != nil {
			return nil, err
		}
		req, err := http.NewRequest(http.MethodPost, url, b.Body)
		req.ContentLength = b.size
		return req, err
	}
}

// refreshingAuth is a credential that a 401 refreshes.
type refreshingAuth struct{}

func (refreshingAuth) Authorize(context.Context, *http.Request) error { return nil }
func (refreshingAuth) Refresh(*http.Request) bool                     { return true }

// Over HTTP/2 a server that answers 401 part-way through the body has the
// request sent again with the rewound body, and the second request
// carries the file intact. HTTP/2's transport closes the first request's
// body while its writer is still reading it; that Read used to land in the
// rewound body, taking bytes from the second request.
func TestResendAfter401OverHTTP2SendsIntactBody(t *testing.T) {
	got := &bodySums{}
	srv := httptest.NewUnstartedServer(got.handler(func(n int) int {
		if n%2 == 1 {
			return http.StatusUnauthorized // part-way through the body
		}
		return 0
	}, 100<<10))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	body, sha := fileBody(t, srv.URL, 4<<20)
	c := &targets.Client{HTTP: srv.Client(), Auth: refreshingAuth{}, Stall: 10 * time.Second}
	const rounds = 5
	for range rounds {
		resp, err := c.Do(context.Background(), "test: upload", body.request(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("the exchange used %s, not HTTP/2", resp.Proto)
		}
		targets.ReadBody(resp)
	}
	sums := got.all()
	for i, g := range sums {
		if g != sha {
			t.Fatalf("request %d of %d after a 401: the server received %s, want the file's %s", i+1, len(sums), g, sha)
		}
	}
	if len(sums) != rounds {
		t.Fatalf("the server received %d files, want %d", len(sums), rounds)
	}
}
