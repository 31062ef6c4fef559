package targets

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
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
