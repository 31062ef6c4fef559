package targets

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
)

// writeCountingConn counts the writes made to a client connection.
type writeCountingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *writeCountingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A small in-memory request body goes to the server with its headers in
// one write, one segment the server wakes for once: net/http flushes the
// headers on their own before any body it does not know to be in memory,
// and Do's wrapper of the body was such a body. A larger one is streamed
// (watched for stalls) and arrives whole too.
func TestSmallInMemoryBodyGoesOutWithItsHeaders(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(b)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	hc, err := NewHTTPClient(&config.Target{Timeout: config.Duration(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	tr := hc.Transport.(*deadlineTransport).next.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &writeCountingConn{Conn: c, writes: &writes}, nil
	}
	c := &Client{HTTP: hc, Stall: 5 * time.Second}
	for _, size := range []int{5 << 10, inMemoryMax, inMemoryMax + 1} {
		body := make([]byte, size)
		rand.Read(body)
		writes.Store(0)
		resp, err := c.Do(context.Background(), "test: upload", func() (*http.Request, error) {
			return http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		})
		if err != nil {
			t.Fatal(err)
		}
		if b := ReadBody(resp); string(b) != "ok" {
			t.Fatalf("answer %q", b)
		}
		if b, _ := got.Load().([]byte); !bytes.Equal(b, body) {
			t.Fatalf("%d bytes: the server got %d bytes, not the body", size, len(b))
		}
		if n := writes.Load(); size <= inMemoryMax && n != 1 {
			t.Errorf("a request with a %d-byte in-memory body took %d writes, want 1", size, n)
		}
	}
}

// Inline holds a small body whole, here a form around a file's Body,
// read as sending it would read it: hashed, and the file verified before
// its last byte; a refusal fails it. A larger body is not held, nor read.
func TestInline(t *testing.T) {
	data, f := randomFile(t, 4096)
	form := func(b *Body, head int) (io.Reader, int64) {
		h := make([]byte, head)
		return io.MultiReader(bytes.NewReader(h), b, strings.NewReader("tail")), int64(head+4) + b.Len()
	}

	b, err := newBody(f, 0, int64(len(data)), sha256.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	verified := 0
	b.verify = func() error { verified++; return nil }
	buf, err := Inline(form(b, 100))
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append(make([]byte, 100), data...), "tail"...); !bytes.Equal(buf, want) {
		t.Fatalf("inline form of %d bytes, want %d", len(buf), len(want))
	}
	sum := sha256.Sum256(data)
	if !b.complete() || verified != 1 || !bytes.Equal(b.h.Sum(nil), sum[:]) {
		t.Fatalf("complete %v, verified %d times, hash matches %v", b.complete(), verified, bytes.Equal(b.h.Sum(nil), sum[:]))
	}

	changed := errors.New("changed")
	b, _ = newBody(f, 0, int64(len(data)), sha256.New(), nil)
	b.verify = func() error { return changed }
	if buf, err := Inline(form(b, 100)); !errors.Is(err, changed) || buf != nil || !errors.Is(b.changed, changed) {
		t.Fatalf("a refused file: %d bytes, err %v, changed %v", len(buf), err, b.changed)
	}

	b, _ = newBody(f, 0, int64(len(data)), sha256.New(), nil)
	if buf, err := Inline(form(b, inMemoryMax-len(data)-3)); buf != nil || err != nil || b.read != 0 {
		t.Fatalf("over %d bytes: %d bytes held, %d read, err %v", inMemoryMax, len(buf), b.read, err)
	}

	if _, err := Inline(strings.NewReader("longer"), 3); err == nil {
		t.Fatal("a body longer than its length was held")
	}
}
