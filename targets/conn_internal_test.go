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
	"sync/atomic"
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

// passConn passes every write on and counts it in writes.
type passConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c passConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A request's head goes out with its body in one write, as the bare
// uploader's does: net/http writes the head of a body it does not know to
// be in memory on its own first, and two writes were two segments per
// file. A request without a body, and one that waits for 100 Continue
// before its body, still send their head at once.
func TestRequestHeadGoesOutWithItsBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	}))
	defer srv.Close()
	var writes atomic.Int64
	tr := &http.Transport{
		DialContext: copyBufferDial(func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			return passConn{Conn: c, writes: &writes}, err
		}),
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
		writes int64
		err    error
	}{
		{"a streamed body", http.MethodPost, io.MultiReader(strings.NewReader("form head"), bytes.NewReader(file)), 9 + 4096, false, 1, nil},
		{"no body", http.MethodGet, nil, 0, false, 1, nil},
		{"a body after 100 Continue", http.MethodPost, io.MultiReader(bytes.NewReader(file)), 4096, true, 2, nil},
		{"a body that fails", http.MethodPost, io.MultiReader(iotestErr{boom}), 10, false, -1, boom},
		{"a streamed body again", http.MethodPost, io.MultiReader(bytes.NewReader(file)), 4096, false, 1, nil},
	} {
		req, err := http.NewRequest(tc.method, srv.URL, tc.body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = tc.size
		if tc.expect {
			req.Header.Set("Expect", "100-continue")
		}
		before := writes.Load()
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
		if got := writes.Load() - before; got != tc.writes {
			t.Errorf("%s: the request went out in %d writes, want %d", tc.name, got, tc.writes)
		}
	}
}
