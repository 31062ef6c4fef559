package targets_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// A stop during an OAuth token fetch is honoured at once: the fetch runs
// under the request's context, whether or not the adapter gave its own
// HTTP client; and a later request still gets a token after the first
// one's context ended.
func TestOAuthTokenFetchHonoursContext(t *testing.T) {
	var hang atomic.Bool
	hang.Store(true)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"tok","token_type":"bearer","expires_in":3600}`)
	}))
	defer srv.Close()
	defer close(release)
	for _, withClient := range []bool{false, true} {
		t.Run(fmt.Sprintf("own client %v", withClient), func(t *testing.T) {
			hang.Store(true)
			o := targets.AuthOptions{}
			if withClient {
				o.HTTP = srv.Client()
			}
			a, err := targets.NewAuth(config.Auth{Type: "oauth2", TokenURL: srv.URL, ClientID: "id", ClientSecret: "secret"}, o)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				r, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
				done <- a.Authorize(ctx, r)
			}()
			cancel()
			select {
			case err := <-done:
				if err == nil || !errors.Is(err, context.Canceled) {
					t.Fatalf("Authorize after cancel: %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Authorize ignores the cancelled context while the token endpoint hangs")
			}
			hang.Store(false)
			r, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
			if err := a.Authorize(context.Background(), r); err != nil {
				t.Fatalf("Authorize after the first request's context ended: %v", err)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer tok" {
				t.Fatalf("Authorization %q", got)
			}
		})
	}
}
