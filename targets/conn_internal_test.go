package targets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countingConn records each Write it is given.
type countingConn struct {
	net.Conn
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

// A small request body made of several parts (a form's head, the file, the
// form's tail) goes to the socket in one write, as the bare uploader's
// request does not: each write is a segment the server wakes for, and on
// a burst of small files those segments cost both sides more than the
// bytes.
func TestRequestBodyGoesOutInWholeBuffers(t *testing.T) {
	head, file, tail := bytes.Repeat([]byte("h"), 1000), bytes.Repeat([]byte("f"), 4096), []byte("\r\n--b--\r\n")
	c := &countingConn{}
	n, err := (&copyBufferConn{Conn: c}).ReadFrom(io.MultiReader(bytes.NewReader(head), bytes.NewReader(file), bytes.NewReader(tail)))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{}, head...), file...), tail...)
	if n != int64(len(want)) || len(c.writes) != 1 || !bytes.Equal(c.writes[0], want) {
		t.Fatalf("sent %d bytes in %d writes, want %d bytes in 1", n, len(c.writes), len(want))
	}

	// A large body goes in full buffers, the last one holding the rest.
	c = &countingConn{}
	big := bytes.Repeat([]byte("x"), 2*copyBufSize+100)
	if n, err = (&copyBufferConn{Conn: c}).ReadFrom(io.MultiReader(bytes.NewReader(big[:10]), bytes.NewReader(big[10:]))); err != nil || n != int64(len(big)) {
		t.Fatalf("sent %d, %v", n, err)
	}
	if len(c.writes) != 3 || len(c.writes[0]) != copyBufSize || len(c.writes[2]) != 100 || !bytes.Equal(bytes.Join(c.writes, nil), big) {
		t.Fatalf("%d writes", len(c.writes))
	}

	// A failing read ends the copy with its error.
	boom := errors.New("boom")
	c = &countingConn{}
	if _, err := (&copyBufferConn{Conn: c}).ReadFrom(io.MultiReader(bytes.NewReader(head), iotestErr{boom})); !errors.Is(err, boom) {
		t.Fatalf("err %v, want %v", err, boom)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// discardConn takes every write and keeps nothing.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }

// A connection sends every body through the same buffer: a pool's buffer,
// put back on one processor, was not found again from another (the
// transport's writing goroutine moves between them) nor after a
// collection, and each miss made 32 KiB of garbage (seven per GiB sent in
// 8 MiB chunks).
func TestConnectionKeepsItsCopyBuffer(t *testing.T) {
	c, err := copyBufferDial(func(context.Context, string, string) (net.Conn, error) { return discardConn{}, nil })(context.Background(), "tcp", "sink:80")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.NewReader(bytes.Repeat([]byte("x"), 3*copyBufSize))
	send := func() {
		body.Seek(0, io.SeekStart)
		if _, err := c.(io.ReaderFrom).ReadFrom(body); err != nil {
			t.Fatal(err)
		}
	}
	send()
	allocs := testing.AllocsPerRun(5, func() {
		runtime.GC() // twice: a pool keeps its objects for one collection
		runtime.GC()
		send()
	})
	if allocs > 0 {
		t.Fatalf("a body sent on a connection that sent one before makes %.0f allocations", allocs)
	}
}

// Requests through the connection's copy buffer reach the server whole:
// a streamed body, none, a body after 100 Continue, and the same
// connection used again; a body that fails ends its request with its
// error.
func TestRequestsWithTheirHeadsArriveWhole(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	}))
	defer srv.Close()
	tr := &http.Transport{
		DialContext:           copyBufferDial((&net.Dialer{}).DialContext),
		ExpectContinueTimeout: time.Minute, // the server's 100 Continue, not this, must let the body go
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	file := bytes.Repeat([]byte("f"), 4096)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name   string
		method string
		body   io.Reader // not one net/http knows to be in memory
		size   int64
		expect bool
		err    error
	}{
		{"a streamed body", http.MethodPost, io.MultiReader(strings.NewReader("form head"), bytes.NewReader(file)), 9 + 4096, false, nil},
		{"no body", http.MethodGet, nil, 0, false, nil},
		{"a body after 100 Continue", http.MethodPost, io.MultiReader(bytes.NewReader(file)), 4096, true, nil},
		{"a body that fails", http.MethodPost, io.MultiReader(iotestErr{boom}), 10, false, boom},
		{"a streamed body again", http.MethodPost, io.MultiReader(bytes.NewReader(file)), 4096, false, nil},
	} {
		req, err := http.NewRequest(tc.method, srv.URL, tc.body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = tc.size
		if tc.expect {
			req.Header.Set("Expect", "100-continue")
		}
		resp, err := client.Do(req)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Fatalf("%s: err %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(answer) != fmt.Sprint(tc.size) {
			t.Fatalf("%s: the server read %q bytes (%v), want %d", tc.name, answer, err, tc.size)
		}
	}
}

// resetConn fails every Write once broken, as a socket whose peer has
// reset it (a load balancer's idle timeout, a restarted server) does.
type resetConn struct {
	net.Conn
	broken *atomic.Bool
}

func (c resetConn) Write(p []byte) (int, error) {
	if c.broken.Load() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return c.Conn.Write(p)
}

type streamBody struct{ io.Reader } // not an in-memory type: the transport flushes the head first

func (streamBody) Close() error { return nil }

// A request on a kept-alive connection that turns out dead before any of
// it was written goes out again on a fresh connection (net/http's
// nothingWrittenError, for a body it can replay): the head must be
// written, or fail, when the transport writes it. (A head held in the
// connection until its body counted as written and the request failed,
// after its body was read whole: an ambiguous attempt.)
func TestDeadKeptAliveConnectionIsRetried(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	defer srv.Close()
	var mu sync.Mutex
	var first *atomic.Bool
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		b := new(atomic.Bool)
		mu.Lock()
		if first == nil {
			first = b
		}
		mu.Unlock()
		return resetConn{Conn: c, broken: b}, nil
	}
	cl := &http.Client{Transport: &http.Transport{DialContext: copyBufferDial(dial)}}
	defer cl.CloseIdleConnections()
	post := func() (string, error) {
		const body = "hello"
		req, err := http.NewRequest(http.MethodPost, srv.URL, streamBody{strings.NewReader(body)})
		if err != nil {
			return "", err
		}
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return streamBody{strings.NewReader(body)}, nil }
		resp, err := cl.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := post(); err != nil || got != "hello" {
		t.Fatalf("first request: %q, %v", got, err)
	}
	first.Store(true) // the kept-alive connection is dead now
	if got, err := post(); err != nil || got != "hello" {
		t.Fatalf("a request on a dead kept-alive connection, of which nothing was sent, failed instead of going out on a fresh one: %q, %v", got, err)
	}
}
