package targets_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// An identity provider in maintenance answers its token endpoint with 503
// and Retry-After, as any API does (targets.StatusError makes that
// Throttled, and SBM's TokenService gets it so): the target pauses for the
// server's time. The oauth2 token path drops the Retry-After and calls it
// a plain retryable failure, so every queued file hammers the endpoint
// with its own backoff (and five in a row take the target down, probed
// after retry.initial), ignoring the two minutes the server asked for.
func TestTokenEndpoint503WithRetryAfterIsThrottled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"Identity service under maintenance"}`))
	}))
	defer srv.Close()
	a, err := targets.NewAuth(config.Auth{Type: "oauth2", TokenURL: srv.URL, ClientID: "id", ClientSecret: "s3cr3t-value"},
		targets.AuthOptions{HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	err = a.Authorize(context.Background(), r)
	if k, wait := targets.Classify(err); k != targets.Throttled || wait != 2*time.Minute {
		t.Fatalf("token endpoint 503 with Retry-After 120: %v for %s, want throttled for 2m0s: %v", k, wait, err)
	}
}
