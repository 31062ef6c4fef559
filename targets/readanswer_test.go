package targets_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// A 2xx answer that announces more than 1 MiB (or is chunked) and is cut
// off by the server after 1.5 MiB is the Ambiguous error of ReadAnswer (the
// server accepted the upload, its answer never came whole): ReadAnswer
// reads on past its 1 MiB limit, discarding, to see the cut.
func TestReadAnswerDetectsACutAnswerLongerThan1MiB(t *testing.T) {
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

// A whole 2xx answer longer than 1 MiB, announced or chunked, is no error:
// ReadAnswer returns its first MiB, as ReadBody does.
func TestReadAnswerOfAWholeAnswerLongerThan1MiB(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		}
		w.Write(big)
	}))
	defer srv.Close()
	hc, err := targets.NewHTTPClient(&config.Target{Timeout: config.Duration(0)})
	if err != nil {
		t.Fatal(err)
	}
	c := &targets.Client{HTTP: hc}
	for _, q := range []string{"", "chunked=1"} {
		resp, err := c.Do(context.Background(), "upload", func() (*http.Request, error) {
			return http.NewRequest(http.MethodPost, srv.URL+"/?"+q, bytes.NewReader([]byte("file")))
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := targets.ReadAnswer("upload", resp)
		if err != nil {
			t.Errorf("%q: a whole answer of 2 MiB: %v", q, err)
		}
		if !bytes.Equal(got, big[:1<<20]) {
			t.Errorf("%q: %d bytes, want the first %d", q, len(got), 1<<20)
		}
	}
}
