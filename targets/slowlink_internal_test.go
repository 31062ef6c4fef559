//go:build linux

package targets

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// slowListener hands out server connections with a small receive
// buffer, as a slow link's small window.
type slowListener struct{ net.Listener }

func (l slowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(16 << 10)
	}
	return c, err
}

// the stall watch counts the transport's reads of the request
// body as progress, and copyBufferConn reads nothing while it writes a
// block: on a link that takes the body slowly, progress is seen once per
// drained block. At 256 KiB (was 32 KiB) a link must carry 256 KiB per
// target timeout, eight times the old floor: with the default 60s, below
// about 35 kbit/s (cellular, satellite, a throttled VPN) every upload is
// now aborted as stalled, retried, and aborted again; with timeout: 10s,
// below about 210 kbit/s. Here a server reading 400 KiB/s and a stall of
// 300ms: a 32 KiB block drains in 80ms, a 256 KiB one in 640ms.
func TestSlowButMovingLinkIsNotStalled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 8<<10)
		tick := time.NewTicker(20 * time.Millisecond) // the link's pace: 8 KiB per 20ms
		defer tick.Stop()
		for range tick.C {
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				break
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(slowListener{ln})
	t.Cleanup(func() { srv.Close() })

	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 16<<10) })
		return serr
	}}
	c := &Client{HTTP: &http.Client{Transport: &http.Transport{DialContext: copyBufferDial(dialer.DialContext)}}, Stall: 300 * time.Millisecond}
	body := bytes.Repeat([]byte("x"), 2<<20)
	resp, err := c.Do(context.Background(), "upload", func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/", bytes.NewReader(body))
		return req, err
	})
	if err != nil {
		t.Fatalf("an upload over a link that moves 400 KiB/s the whole time was aborted (stall 300ms, blocks of %d KiB): %v", copyBufSize>>10, err)
	}
	resp.Body.Close()
}
