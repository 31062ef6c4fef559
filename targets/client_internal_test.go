package targets

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// heldTransport takes each request's body to its end and closes it, as a
// transport does, says so on arrived, and holds the exchange until release
// is closed (or the request is cancelled).
type heldTransport struct {
	arrived chan struct{}
	release chan struct{}
}

func (h *heldTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	h.arrived <- struct{}{}
	select {
	case <-h.release:
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
	case <-req.Context().Done():
		return nil, context.Cause(req.Context())
	}
}

// A request in flight costs no goroutine of its own: the stall watch and
// the deadline for the answer are timers, not goroutines waiting on them
// (on a burst of small files each such hand-off was a scheduler wake-up).
// Requests with and without a body are held after their body was sent,
// where both watches are armed.
func TestRequestsInFlightStartNoGoroutines(t *testing.T) {
	const n = 10
	held := &heldTransport{arrived: make(chan struct{}), release: make(chan struct{})}
	c := &Client{HTTP: &http.Client{Transport: &deadlineTransport{next: held, timeout: time.Minute}}, Stall: time.Minute}
	before := runtime.NumGoroutine()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			resp, err := c.Do(context.Background(), "test: send", func() (*http.Request, error) {
				if i%2 == 0 {
					return http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
				}
				return http.NewRequest(http.MethodPost, "http://example.invalid/", io.MultiReader(strings.NewReader("data")))
			})
			if err == nil {
				ReadBody(resp)
			}
			errs <- err
		}()
	}
	for range n {
		<-held.arrived
	}
	inFlight := runtime.NumGoroutine() - before
	close(held.release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if inFlight > n {
		t.Fatalf("%d requests in flight run %d goroutines besides their %d callers", n, inFlight-n, n)
	}
}
