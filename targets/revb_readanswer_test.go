package targets_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// revB: a 2xx answer that announces more than 1 MiB and is cut off by the
// server after 1.5 MiB must be the Ambiguous error of ReadAnswer (the
// server accepted the upload, its answer never came whole). readBody stops
// at its 1 MiB limit before it reaches the cut, so ReadAnswer returns no
// error and the adapter parses a truncated answer as if it were whole.
func TestRevBReadAnswerDetectsACutAnswerLongerThan1MiB(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)                  // no unread bytes: the close is a FIN, not a reset
			body := bytes.Repeat([]byte("x"), 1<<20+1<<19) // 1.5 MiB of a 2 MiB answer
			if chunked {
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"))
				c.Write([]byte("180000\r\n"))
				c.Write(body)
				c.Write([]byte("\r\n"))
				// no terminating chunk: the connection drops
			} else {
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n"))
				c.Write(body)
			}
		}()
		hc, err := targets.NewHTTPClient(&config.Target{Timeout: config.Duration(0)})
		if err != nil {
			t.Fatal(err)
		}
		c := &targets.Client{HTTP: hc}
		resp, err := c.Do(context.Background(), "upload", func() (*http.Request, error) {
			return http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/", bytes.NewReader([]byte("file")))
		})
		if err != nil {
			ln.Close()
			t.Fatal(err)
		}
		_, cut := targets.ReadAnswer("upload", resp)
		ln.Close()
		var te *targets.Error
		if !errors.As(cut, &te) || !te.Ambiguous {
			t.Errorf("chunked=%v: a 2xx answer cut off after 1.5 MiB: ReadAnswer returned %v, want an Ambiguous error", chunked, cut)
		}
	}
}
