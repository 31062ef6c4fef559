package targets

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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

// gatedBody is a request body whose first Read waits, once it has begun,
// until release is closed; it counts the Reads that begin once the
// answer has been closed.
type gatedBody struct {
	entered, release chan struct{}
	once             sync.Once
	answerClosed     atomic.Bool
	lateReads        atomic.Int32
	reading          atomic.Bool
}

func (g *gatedBody) Read(p []byte) (int, error) {
	if g.answerClosed.Load() {
		g.lateReads.Add(1)
	}
	first := false
	g.once.Do(func() { first = true })
	if first {
		g.reading.Store(true)
		close(g.entered)
		<-g.release
		g.reading.Store(false)
	}
	return copy(p, "x"), nil
}

func (g *gatedBody) Close() error { return nil }

// h2Transport behaves as HTTP/2's does when the server answers with a
// status of 300 or more before it has the whole body (a 401, a 409): it
// returns the answer and closes the request body from another goroutine
// while its writer goroutine is still inside a Read of it, and the writer
// may read once more after that Read.
type h2Transport struct {
	g     *gatedBody // under the request's body
	wrote chan struct{}
}

func (h *h2Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body := req.Body
	go func() {
		defer close(h.wrote)
		var buf [1]byte
		body.Read(buf[:]) // the writer's Read in progress
		body.Read(buf[:]) // and one more, as the writer's check for the end does
	}()
	<-h.g.entered
	go body.Close() // as abortRequestBodyWrite does
	return &http.Response{StatusCode: http.StatusConflict, Body: http.NoBody, Request: req}, nil
}

// Closing the answer waits until the transport has finished the Read of
// the request body that it was in when it closed the body, and no Read
// reaches the body after that: HTTP/2 closes the body from one goroutine
// while its writer reads it in another, and a body rewound and sent again
// (after a 401, or an adapter's 409) was read by the old request's writer
// too, which took bytes from the new request and hashed them twice.
func TestAnswerCloseWaitsForTheTransportsLastRead(t *testing.T) {
	g := &gatedBody{entered: make(chan struct{}), release: make(chan struct{})}
	tr := &h2Transport{g: g, wrote: make(chan struct{})}
	c := &Client{HTTP: &http.Client{Transport: tr}}
	resp, err := c.Do(context.Background(), "test: send", func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, "http://example.invalid/", g)
		if err == nil {
			req.ContentLength = 2
		}
		return req, err
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan bool, 1)
	go func() {
		resp.Body.Close()
		g.answerClosed.Store(true)
		closed <- g.reading.Load()
	}()
	// A Close that does not wait returns at once; one that waits cannot
	// return before the Read is released, so the bound only limits how
	// long a wrong Close has to show itself.
	var stillReading bool
	select {
	case stillReading = <-closed:
		close(g.release)
	case <-time.After(200 * time.Millisecond):
		close(g.release)
		stillReading = <-closed
	}
	<-tr.wrote
	if stillReading {
		t.Fatal("the answer was closed while the transport was still reading the request body: rewinding it now would corrupt the next request")
	}
	if n := g.lateReads.Load(); n > 0 {
		t.Fatalf("the request body was read %d times after the answer was closed", n)
	}
}

// lateEOFTransport answers at once, and takes the end of the request body
// only once told to: HTTP/1's writer reads the body's end after writing
// its last bytes, and the server may have answered by then. The answer
// sends a few bytes and then nothing until the request is cancelled.
type lateEOFTransport struct {
	readEOF chan struct{} // closed by the test: take the body's end now
	tookEOF chan struct{} // closed once it has
}

func (l *lateEOFTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body := req.Body
	var buf [16]byte
	io.ReadFull(body, buf[:4]) // the body's bytes, not its end
	go func() {
		defer close(l.tookEOF)
		<-l.readEOF
		body.Read(buf[:])
		body.Close()
	}()
	answer := io.MultiReader(strings.NewReader("part"), stalledReader{req.Context()})
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(answer), Request: req}, nil
}

// stalledReader yields nothing until ctx ends.
type stalledReader struct{ ctx context.Context }

func (s stalledReader) Read([]byte) (int, error) {
	<-s.ctx.Done()
	return 0, context.Cause(s.ctx)
}

// The stall watch keeps watching the answer when the transport takes the
// request body's end after the answer arrived: that end used to pause the
// watch, and an answer that stopped half-way then held the reader for
// ever (TestStalledAnswerIsAborted hung about once in 40 runs).
func TestBodysEndAfterTheAnswerDoesNotPauseTheStallWatch(t *testing.T) {
	tr := &lateEOFTransport{readEOF: make(chan struct{}), tookEOF: make(chan struct{})}
	c := &Client{HTTP: &http.Client{Transport: tr}, Stall: 50 * time.Millisecond}
	resp, err := c.Do(context.Background(), "test: send", func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, "http://example.invalid/", strings.NewReader("data"))
	})
	if err != nil {
		t.Fatal(err)
	}
	close(tr.readEOF)
	<-tr.tookEOF
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		read <- err
	}()
	select {
	case err := <-read:
		if err == nil || !strings.Contains(err.Error(), "no progress while reading the answer") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an answer that stopped was still being read after 100 stall periods")
	}
}
