package targets

import (
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
// The transport writes a request's head on its own before a body it does
// not know to be in memory (net/http's FlushHeaders), and that write stays
// its own: holding the head for the body's first write saved a syscall per
// small upload (about 4 % of the daemon's CPU in a burst) but counted the
// head as written when nothing was, so a request on a kept-alive
// connection found dead was no longer sent again on a fresh one
// (TestDeadKeptAliveConnectionIsRetried). Writing it with MSG_MORE (one
// segment, the head still written for real) measured no gain.
//
// Under TLS the transport writes to the *tls.Conn above this one, which
// has no ReadFrom: there io.Copy still allocates its buffer per request.
type copyBufferConn struct {
	net.Conn
	buf *[copyBufSize]byte
}

// ReadFrom implements io.ReaderFrom.
func (c *copyBufferConn) ReadFrom(r io.Reader) (n int64, err error) {
	if c.buf == nil {
		c.buf = new([copyBufSize]byte)
	}
	buf := c.buf
	for {
		filled := 0
		var rerr error
		for filled < len(buf) && rerr == nil {
			var m int
			m, rerr = r.Read(buf[filled:])
			filled += m
		}
		if filled > 0 {
			w, werr := c.Conn.Write(buf[:filled])
			n += int64(w)
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
