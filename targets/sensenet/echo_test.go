package sensenet_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

// A server (or a proxy in front of it) whose error text echoes the
// request's Authorization header, over thousands of lines, does not put
// the bearer token into dropsync's error, which is logged, stored as the
// job's last error and shown by status; and the error is one short line.
func TestEchoedBearerTokenStaysOutOfErrors(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Upload") {
			body, _ := json.Marshal(map[string]any{"error": map[string]any{
				"code": "InvalidOperation",
				"message": map[string]string{"lang": "en-us",
					"value": "Upload refused for request\nAuthorization: " + r.Header.Get("Authorization") + "\n" + strings.Repeat("at SenseNet.Services.Upload()\n", 5000)},
			}})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write(body)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); fake.Close() })
	b := &bundle{fake: fake, srv: srv}
	b.env = targettest.Build(t, b.target(""), "destination: {path: "+docs+"}\n")
	f, _ := b.env.File(t, "a.txt", 100)
	_, err := b.env.Deliver(context.Background(), f, nil)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if i := strings.Index(msg, sensenet.DemoToken); i >= 0 {
		t.Errorf("the bearer token is in the error message: %q", msg[max(0, i-40):i+len(sensenet.DemoToken)])
	}
	if n := strings.Count(msg, "\n"); n > 0 || len(msg) > 1000 {
		t.Errorf("the error message is %d bytes over %d lines", len(msg), n+1)
	}
}
