package targets

import (
	"context"
	"io"
	"net"
	"sync"
)

// copyBufSize is the size of the buffer a request body is sent through:
// io.Copy's own, so each file read, hash update and socket write works on
// a block that stays in the processor's cache.
const copyBufSize = 32 << 10

var copyBufs = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// pooledCopyConn is a client connection whose ReadFrom sends through a
// pooled buffer, filled before each write. net/http writes a request body
// of known length to the connection with io.Copy from an io.LimitedReader;
// a *net.TCPConn, which can splice or sendfile only from a socket or a
// plain *os.File, falls back to io.Copy with a fresh 32 KiB buffer for
// every request: 4 MiB of garbage per GiB uploaded in 8 MiB chunks, enough
// to lift a large upload's heap to the collector's minimum goal. No body
// dropsync sends could use sendfile: every file is hashed on its way (see
// Body).
//
// io.Copy also writes after every read, and a multipart body is read in
// parts (the form's head, the file, the form's tail): three writes, three
// segments the server wakes for, for a small file. Filling the buffer
// first sends a small request's body in one write, and a large one in
// full buffers.
//
// Under TLS the transport writes to the *tls.Conn above this one, which
// has no ReadFrom: there io.Copy still allocates its buffer per request.
type pooledCopyConn struct{ net.Conn }

// ReadFrom implements io.ReaderFrom.
func (c pooledCopyConn) ReadFrom(r io.Reader) (n int64, err error) {
	buf := copyBufs.Get().(*[copyBufSize]byte)
	defer copyBufs.Put(buf)
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

// pooledCopyDial wraps the connections dial makes in pooledCopyConn.
func pooledCopyDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return pooledCopyConn{c}, nil
	}
}
