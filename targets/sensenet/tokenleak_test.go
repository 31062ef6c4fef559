package sensenet_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets/targettest"
)

// A server (a debugging proxy, a misconfigured gateway) answers the
// upload with 200 and a page that echoes the request's headers. The
// error dropsync makes of it goes to the log, the database and `dropsync
// status`, and must carry no part of the bearer token: Shorten replaces a
// registered credential before it cuts a message, so that no part of one
// survives the cut. The sensenet adapter's "unexpected answer" cuts the
// server's text at 200 bytes first (short), so a token that straddles the
// cut is no longer recognised and its first bytes reach the operator.
func TestUnexpectedAnswerDoesNotLeakPartOfTheToken(t *testing.T) {
	const token = "s3cr3tBearerToken-0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		// The token starts 190 bytes into the page.
		_, _ = io.WriteString(w, strings.Repeat("x", 167)+" Authorization: "+r.Header.Get("Authorization")+"\nHost: "+r.Host+"\n")
	}))
	defer srv.Close()
	env := targettest.Build(t, "type: sensenet\nurl: "+srv.URL+"\nauth: {type: bearer, token: "+token+"}\n", "destination: {path: /Root/Content/Documents}")
	f, _ := env.File(t, "a.txt", 100)
	_, err := env.Deliver(context.Background(), f, nil)
	if err == nil {
		t.Fatal("delivered against an echoing page")
	}
	if msg := err.Error(); strings.Contains(msg, token[:8]) {
		t.Fatalf("the error carries the start of the bearer token (%q): %s", token[:8], msg)
	}
}
