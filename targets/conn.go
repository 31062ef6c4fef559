package targets

import (
	"bytes"
	"context"
	"io"
	"net"
)

// copyBufSize is the size of the buffer a request body is sent through:
// io.Copy's own, so each file read, hash update and socket write works on
// a block that stays in the processor's cache.
const copyBufSize = 32 << 10

// copyBufferConn is a client connection whose ReadFrom sends through a
// buffer of its own, filled before each write. net/http writes a request
// body of known length to the connection with io.Copy from an
// io.LimitedReader; a *net.TCPConn, which can splice or sendfile only from
// a socket or a plain *os.File, falls back to io.Copy with a fresh 32 KiB
// buffer for every request: 4 MiB of garbage per GiB uploaded in 8 MiB
// chunks, enough to lift a large upload's heap to the collector's minimum
// goal. No body dropsync sends could use sendfile: every file is hashed on
// its way (see Body).
//
// The buffer is the connection's, made at its first body and kept while
// it lives (one connection writes one request at a time). A sync.Pool was
// used before: its buffer, put back on one processor, is not found from
// another (the transport's writing goroutine moves between them) nor after
// a collection, and each miss was another 32 KiB of garbage.
//
// io.Copy also writes after every read, and a multipart body is read in
// parts (the form's head, the file, the form's tail): three writes, three
// segments the server wakes for, for a small file. Filling the buffer
// first sends a small request's body in one write, and a large one in
// full buffers.
//
// The transport also writes a request's head on its own before a body it
// does not know to be in memory (net/http's FlushHeaders), so the head
// and the body would be two segments too. The head of a request whose
// body follows at once (a Content-Length above zero, no Expect:
// 100-continue) is therefore held and goes out in the body's first write;
// any other write sends a held head first. A head is held only between
// the transport's flush of it and its body's copy, both on the
// connection's one writing goroutine.
//
// Under TLS the transport writes to the *tls.Conn above this one, which
// has no ReadFrom: there io.Copy still allocates its buffer per request,
// and what this connection sees are records, never held.
type copyBufferConn struct {
	net.Conn
	buf  *[copyBufSize]byte
	head []byte // a request head held for its body's first write; empty: none
}

// Write implements io.Writer.
func (c *copyBufferConn) Write(p []byte) (int, error) {
	if err := c.sendHead(); err != nil {
		return 0, err
	}
	if headWithBody(p) {
		c.head = append(c.head[:0], p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// sendHead writes a held head on its own.
func (c *copyBufferConn) sendHead() error {
	if len(c.head) == 0 {
		return nil
	}
	h := c.head
	c.head = c.head[:0]
	_, err := c.Conn.Write(h)
	return err
}

// headWithBody reports whether p is a whole HTTP/1.1 request head (as
// net/http writes it) announcing a body of known, non-zero length that
// the transport sends right after it, without waiting for 100 Continue.
func headWithBody(p []byte) bool {
	line, _, ok := bytes.Cut(p, []byte("\r\n"))
	if !ok || !bytes.HasSuffix(line, []byte(" HTTP/1.1")) || !bytes.HasSuffix(p, []byte("\r\n\r\n")) ||
		bytes.Contains(p, []byte("\r\nExpect: ")) {
		return false
	}
	_, v, ok := bytes.Cut(p, []byte("\r\nContent-Length: "))
	return ok && len(v) > 0 && v[0] >= '1' && v[0] <= '9'
}

// ReadFrom implements io.ReaderFrom.
func (c *copyBufferConn) ReadFrom(r io.Reader) (n int64, err error) {
	if c.buf == nil {
		c.buf = new([copyBufSize]byte)
	}
	buf := c.buf
	held := 0 // bytes of a held head at the start of the first write
	if len(c.head) <= len(buf) {
		held = copy(buf[:], c.head)
		c.head = c.head[:0]
	} else if err := c.sendHead(); err != nil {
		return 0, err
	}
	for {
		filled := held
		var rerr error
		for filled < len(buf) && rerr == nil {
			var m int
			m, rerr = r.Read(buf[filled:])
			filled += m
		}
		if filled > 0 {
			w, werr := c.Conn.Write(buf[:filled])
			n += int64(max(w-held, 0)) // the body's bytes
			held = 0
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// copyBufferDial wraps the connections dial makes in copyBufferConn.
func copyBufferDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &copyBufferConn{Conn: c}, nil
	}
}
