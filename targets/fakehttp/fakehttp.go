// Package fakehttp holds what the adapters' fake servers share for
// simulating network failures: a TCP reset, and Faults, which puts any fake
// behind an unreliable network or an overloaded server.
package fakehttp

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Reset ends the request's connection with a TCP reset (RST), as a server
// or middlebox that drops a connection does. The handler must return right
// after it.
func Reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// Action is what Faults does with one request.
type Action struct {
	// Status answers with this status (and Retry-After and Location, if
	// set) instead of passing the request on; the request does not take
	// effect.
	Status     int
	RetryAfter string
	Location   string
	// Reset reads the whole request and resets the connection without an
	// answer: the client cannot tell whether it took effect.
	Reset bool
	// AfterProcessing passes the request on (it takes effect) and then
	// resets the connection instead of answering, or, with Delay, answers
	// only after Delay: a server that commits and answers too late.
	AfterProcessing bool
	Delay           time.Duration
	// CutAnswer passes the request on (it takes effect) and sends half
	// of its answer, with the whole length announced, then drops the
	// connection: a server that commits and is cut off answering.
	CutAnswer bool
}

// Faults wraps a fake server and injects failures into its requests, as an
// unreliable network or an overloaded server does, for any API.
type Faults struct {
	next     http.Handler
	requests atomic.Int64
	mu       sync.Mutex
	decide   func(*http.Request) Action
}

// Wrap returns next behind a Faults that passes everything until Set.
func Wrap(next http.Handler) *Faults { return &Faults{next: next} }

// Set decides the fate of every request from now on; nil passes all.
func (f *Faults) Set(decide func(*http.Request) Action) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decide = decide
}

// Requests is how many requests arrived, faulty or not.
func (f *Faults) Requests() int64 { return f.requests.Load() }

// ServeHTTP implements http.Handler.
func (f *Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	decide := f.decide
	f.mu.Unlock()
	var a Action
	if decide != nil {
		a = decide(r)
	}
	switch {
	case a.CutAnswer:
		rec := httptest.NewRecorder()
		f.next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // the connection drops mid-answer
	case a.AfterProcessing:
		rec := httptest.NewRecorder()
		f.next.ServeHTTP(rec, r)
		if a.Delay <= 0 {
			Reset(w)
			return
		}
		select {
		case <-time.After(a.Delay):
		case <-r.Context().Done():
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	case a.Reset:
		_, _ = io.Copy(io.Discard, r.Body)
		Reset(w)
	case a.Status != 0:
		_, _ = io.Copy(io.Discard, r.Body)
		if a.RetryAfter != "" {
			w.Header().Set("Retry-After", a.RetryAfter)
		}
		if a.Location != "" {
			w.Header().Set("Location", a.Location)
		}
		http.Error(w, http.StatusText(a.Status)+" (injected)", a.Status)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// Random returns a decision that fails requests at random with the given
// shares of 5xx (500, 502, 503 without Retry-After), 429 (with retryAfter)
// and connection resets (half before, half after the request took effect),
// from a fixed seed so that runs repeat.
func Random(seed uint64, p5xx, p429, pReset float64, retryAfter string) func(*http.Request) Action {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	statuses := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
	return func(*http.Request) Action {
		mu.Lock()
		x, pick := rng.Float64(), rng.IntN(len(statuses))
		after := rng.IntN(2) == 0
		mu.Unlock()
		switch {
		case x < p5xx:
			return Action{Status: statuses[pick]}
		case x < p5xx+p429:
			return Action{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
		case x < p5xx+p429+pReset:
			return Action{Reset: true, AfterProcessing: after}
		}
		return Action{}
	}
}
