package targets_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// A token endpoint that rejects the client with 400 (RFC 6749 §5.2:
// invalid_client, unauthorized_client, invalid_scope are 400 by default)
// is about the target's credentials, never about a file: Auth (the target
// waits, files stay queued), not Permanent (every file of a burst on the
// failed list, never tried again when the secret is fixed).
func TestTokenEndpointRefusalIsAuth(t *testing.T) {
	for _, code := range []string{"invalid_client", "unauthorized_client", "invalid_scope"} {
		t.Run(code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":%q,"error_description":"Client authentication failed"}`, code)
			}))
			defer srv.Close()
			a, err := targets.NewAuth(config.Auth{Type: "oauth2", TokenURL: srv.URL, ClientID: "id", ClientSecret: "s3cr3t-value"},
				targets.AuthOptions{ClientAuthInBody: true, HTTP: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
			err = a.Authorize(context.Background(), r)
			if k, _ := targets.Classify(err); k != targets.Auth {
				t.Fatalf("token endpoint %s (400): kind %v, want auth: %v", code, k, err)
			}
		})
	}
}

// A token endpoint's error page does not go into the error whole (up to
// 1 MiB, over many lines) nor with what it echoes of the request, such as
// the client_secret form field (Blueworks sends it in the body).
func TestTokenEndpointErrorPageIsOneShortLineWithoutSecret(t *testing.T) {
	const secret = "s3cr3t-client-value"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "<html>\n<body>\n<h1>Internal error</h1>\n<pre>request: %s</pre>\n", r.PostForm.Encode())
		fmt.Fprint(w, strings.Repeat("<p>stack frame</p>\n", 20000))
		fmt.Fprint(w, "</body></html>\n")
	}))
	defer srv.Close()
	a, err := targets.NewAuth(config.Auth{Type: "oauth2", TokenURL: srv.URL, ClientID: "id", ClientSecret: secret},
		targets.AuthOptions{ClientAuthInBody: true, HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	err = a.Authorize(context.Background(), r)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, secret) {
		t.Errorf("the client secret is in the error message: %.200q…", msg[strings.Index(msg, "request:"):])
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("the error message spans %d lines", strings.Count(msg, "\n")+1)
	}
	if len(msg) > 1000 {
		t.Errorf("the error message is %d bytes long", len(msg))
	}
}

// One token expiry met by two requests in flight costs one new token:
// Refresh dropped whatever token was cached, also one fetched after the
// rejected request was sent, so every further 401 of the same expiry threw
// the fresh token away and fetched yet another (a stampede on the token
// endpoint with N workers).
func TestConcurrentExpiryFetchesOneToken(t *testing.T) {
	var fetches atomic.Int32
	tokSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"t%d","token_type":"bearer","expires_in":3600}`, n)
	}))
	defer tokSrv.Close()

	var both sync.WaitGroup
	both.Add(2)
	aRetried := make(chan struct{})
	var once sync.Once
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok == "t1" { // the token that expired while A and B were in flight
			both.Done()
			both.Wait()
			if r.URL.Path == "/b" {
				<-aRetried // B's 401 arrives after A refreshed and succeeded
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/a" {
			once.Do(func() { close(aRetried) })
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer api.Close()

	a, err := targets.NewAuth(config.Auth{Type: "oauth2", TokenURL: tokSrv.URL, ClientID: "id", ClientSecret: "secret"},
		targets.AuthOptions{HTTP: tokSrv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	c := &targets.Client{HTTP: api.Client(), Auth: a}
	// Fetch t1 first so that both requests go out with it.
	r0, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	if err := a.Authorize(context.Background(), r0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range []string{"/a", "/b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Do(context.Background(), "get "+p, func() (*http.Request, error) {
				return http.NewRequest(http.MethodGet, api.URL+p, nil)
			})
			if err == nil {
				targets.DrainClose(resp)
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("one expiry seen by two requests fetched %d tokens in all, want 2 (t1, then one new token)", n)
	}
}

// A token endpoint that throttles pauses the target for the time it
// names, like any other throttled answer.
func TestTokenEndpointThrottleIsThrottled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
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
		t.Fatalf("token endpoint 429 with Retry-After 120: %v for %s, want throttled for 2m0s: %v", k, wait, err)
	}
}
