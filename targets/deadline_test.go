package targets_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/fakehttp"
)

// client is the real client setup (NewHTTPClient) with the given timeout.
func client(t *testing.T, timeout time.Duration) *targets.Client {
	t.Helper()
	hc, err := targets.NewHTTPClient(&config.Target{Timeout: config.Duration(timeout)})
	if err != nil {
		t.Fatal(err)
	}
	return &targets.Client{HTTP: hc, Stall: timeout}
}

// within runs fn and fails the test when it does not return in d.
func within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %s: the server holds the worker", d)
	}
}

// A server that sends its headers and then trickles the body, 2 bytes at a
// time, cannot hold a worker: reading the answer has an overall deadline.
func TestTricklingAnswerIsCutAtTheDeadline(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := io.WriteString(w, "{}"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	defer close(stop)
	c := client(t, 500*time.Millisecond)
	within(t, 5*time.Second, func() {
		resp, err := c.Do(context.Background(), "test: get", func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, srv.URL, nil)
		})
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err == nil || !strings.Contains(err.Error(), "not read within 500ms") {
			t.Errorf("read err = %v", err)
		}
	})
}

// A redirect the adapter does not expect is a configuration problem about
// the target, and the message says where it pointed (without its query).
func TestUnexpectedRedirectNamesTheLocation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://login.example.com/sso/start?session=s3cr3t", http.StatusFound)
	}))
	defer srv.Close()
	_, err := client(t, time.Second).Do(context.Background(), "test: upload", func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("data"))
	})
	k, _ := targets.Classify(err)
	if k != targets.Unreachable || err == nil || !strings.Contains(err.Error(), "https://login.example.com/sso/start") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v (kind %v)", err, k)
	}
}

// The answer lost after the whole body was sent is ambiguous: the server
// may have stored the upload.
func TestAnswerLostAfterTheBodyIsAmbiguous(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fakehttp.Reset(w)
	}))
	defer srv.Close()
	_, err := client(t, time.Second).Do(context.Background(), "test: upload", func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(make([]byte, 64<<10)))
	})
	var te *targets.Error
	if !errors.As(err, &te) || te.Kind != targets.Retryable || !te.Ambiguous {
		t.Fatalf("err = %#v", err)
	}
	// Without a body nothing can have been stored.
	_, err = client(t, time.Second).Do(context.Background(), "test: get", func() (*http.Request, error) {
		return http.NewRequest(http.MethodGet, srv.URL, nil)
	})
	if !errors.As(err, &te) || te.Ambiguous {
		t.Fatalf("err = %#v", err)
	}
}

// A stop that ends the wait for the answer after the whole body was sent
// is Canceled and ambiguous: the server may have stored the upload. A stop
// before the body went is a plain cancellation.
func TestStopAfterTheBodyIsAmbiguous(t *testing.T) {
	got := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		close(got)
		<-r.Context().Done() // never answers
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-got; cancel() }()
	_, err := client(t, time.Minute).Do(ctx, "test: upload", func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(make([]byte, 64<<10)))
	})
	var te *targets.Error
	if !errors.As(err, &te) || te.Kind != targets.Canceled || !te.Ambiguous || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %#v", err)
	}
	_, err = client(t, time.Minute).Do(ctx, "test: upload", func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(make([]byte, 64<<10)))
	})
	if errors.As(err, &te) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %#v", err)
	}
}

// The wait for the answer grows with the size of the body the server must
// take in; a server that never answers still ends the attempt.
func TestResponseTimeoutGrowsWithTheBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if n == 0 {
			<-r.Context().Done() // never answers
			return
		}
		time.Sleep(700 * time.Millisecond) // storing 16 MiB takes its time
		io.WriteString(w, "stored")
	}))
	defer srv.Close()
	c := client(t, 300*time.Millisecond)
	resp, err := c.Do(context.Background(), "test: upload", func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(make([]byte, 16<<20)))
	})
	if err != nil {
		t.Fatalf("a 16 MiB upload answered after 700ms with timeout 300ms: %v", err)
	}
	if b := targets.ReadBody(resp); string(b) != "stored" {
		t.Fatalf("body %q", b)
	}
	within(t, 5*time.Second, func() {
		_, err := c.Do(context.Background(), "test: get", func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, srv.URL, nil)
		})
		if k, _ := targets.Classify(err); err == nil || k != targets.Retryable {
			t.Errorf("err = %v", err)
		}
	})
}

// The deadlines hold for a request sent with the HTTP client directly, not
// through Client.Do (a token fetch does that): a server that takes the
// body and never answers ends the request.
func TestDirectRequestWithoutAnswerEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	hc, err := targets.NewHTTPClient(&config.Target{Timeout: config.Duration(300 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, func() {
		resp, err := hc.Post(srv.URL, "text/plain", strings.NewReader("grant_type=client_credentials"))
		if err == nil {
			resp.Body.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "no answer in time") {
			t.Errorf("err = %v", err)
		}
	})
}

// A refused connection is about the target, not the file.
func TestRefusedConnectionIsUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = client(t, time.Second).Do(context.Background(), "test: upload", func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, "http://"+addr+"/x", strings.NewReader("data"))
	})
	if k, _ := targets.Classify(err); k != targets.Unreachable {
		t.Fatalf("err = %v (kind %v)", err, k)
	}
}

// Retry-After never overflows: a year is a year, and absurd values are
// bounded instead of wrapping into the past.
func TestRetryAfterIsParsedSafely(t *testing.T) {
	now := time.Now()
	for v, want := range map[string]time.Duration{
		"31536000":             365 * 24 * time.Hour,
		"10000000000":          targets.MaxRetryAfter,
		"99999999999999999999": targets.MaxRetryAfter,
		"2":                    2 * time.Second,
	} {
		if got, ok := targets.RetryAfter(v, now); !ok || got != want {
			t.Errorf("RetryAfter(%q) = %s, %v; want %s", v, got, ok, want)
		}
	}
	if _, ok := targets.RetryAfter("-5", now); ok {
		t.Error("a negative Retry-After was accepted")
	}
}
