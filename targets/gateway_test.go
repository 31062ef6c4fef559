package targets_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
)

// A 504 (a gateway gave up waiting for the server) after a whole body was
// sent is ambiguous, as no answer at all is: the server may have stored
// it. A 504 to a request without a body, or to a read marked ReadOnly,
// stored nothing and is the adapter's to classify.
func TestGatewayTimeoutIsAmbiguousOnlyAfterAWholeBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusGatewayTimeout)
		_, _ = io.WriteString(w, "<html><body><h1>504 Gateway Time-out</h1></body></html>")
	}))
	defer srv.Close()
	c := &targets.Client{HTTP: srv.Client()}
	do := func(ctx context.Context, method string, body string) (*http.Response, error) {
		return c.Do(ctx, "test: upload", func() (*http.Request, error) {
			var r io.Reader
			if body != "" {
				r = strings.NewReader(body)
			}
			return http.NewRequest(method, srv.URL, r)
		})
	}
	_, err := do(context.Background(), http.MethodPost, "the file")
	var te *targets.Error
	if !errors.As(err, &te) || !te.Ambiguous || te.Kind != targets.Retryable || !strings.Contains(te.Msg, "504 Gateway Time-out") {
		t.Fatalf("504 after the whole body: %#v, want a retryable ambiguous error with the gateway's words", err)
	}
	for name, ctx := range map[string]context.Context{"GET": context.Background(), "read-only POST": targets.ReadOnly(context.Background())} {
		method := http.MethodGet
		body := ""
		if name != "GET" {
			method, body = http.MethodPost, "a query"
		}
		resp, err := do(ctx, method, body)
		if err != nil {
			t.Fatalf("%s answered 504: %v, want the answer for the adapter", name, err)
		}
		targets.DrainClose(resp)
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
	}
}
