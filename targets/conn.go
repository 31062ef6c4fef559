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
// pooled buffer. net/http writes a request body of known length to the
// connection with io.Copy from an io.LimitedReader; a *net.TCPConn, which
// can splice or sendfile only from a socket or a plain *os.File, falls
// back to io.Copy with a fresh 32 KiB buffer for every request: 4 MiB of
// garbage per GiB uploaded in 8 MiB chunks, enough to lift a large
// upload's heap to the collector's minimum goal. No body dropsync sends
// could use sendfile: every file is hashed on its way (see Body).
//
// Under TLS the transport writes to the *tls.Conn above this one, which
// has no ReadFrom: there io.Copy still allocates its buffer per request.
type pooledCopyConn struct{ net.Conn }

// ReadFrom implements io.ReaderFrom.
func (c pooledCopyConn) ReadFrom(r io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[copyBufSize]byte)
	defer copyBufs.Put(buf)
	return io.CopyBuffer(writerOnly{c.Conn}, r, buf[:])
}

// writerOnly hides the connection's own ReadFrom from io.CopyBuffer.
type writerOnly struct{ io.Writer }

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
