// Package fakehttp holds what the adapters' fake servers share for
// simulating network failures.
package fakehttp

import (
	"net"
	"net/http"
)

// Reset ends the request's connection with a TCP reset (RST), as a server
// or middlebox that drops a connection does. The handler must return right
// after it.
func Reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}
