package targets_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// Oracle (and any oauth2 target without ClientAuthInBody) sends the client
// id and secret to the token endpoint as HTTP Basic. A token endpoint's
// error page that echoes the request headers must not put that Basic value
// (base64 of id:secret, trivially decoded) into the error, which reaches
// the log, jobs.last_error, target_health.reason and `dropsync status`.
func TestClientSecretSentAsBasicIsRedacted(t *testing.T) {
	const id, secret = "dropsync-client", "s3cr3t-client-value"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request; headers: Authorization=%s", r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	a, err := targets.NewAuth(config.Auth{Type: "oauth2", TokenURL: srv.URL, ClientID: id, ClientSecret: secret},
		targets.AuthOptions{HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	err = a.Authorize(context.Background(), r)
	if err == nil {
		t.Fatal("no error")
	}
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	if strings.Contains(err.Error(), basic) {
		t.Fatalf("the client credentials (Basic %s) are in the error: %q", basic, err.Error())
	}
}

// A token_url that redirects (http:// answered with a redirect to https://,
// a moved identity provider, an SSO login page) is a wrong url, about the
// target and never about a file: as Client.Do makes any unexpected redirect
// (README "Target health": down, "an unexpected redirect naming its
// Location"), it must not be a plain Retryable failure, which counts an
// attempt of every file (and fails them under retry.max_attempts) and says
// nothing of where the server points.
func TestTokenURLRedirectIsTheTargets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://idp.example.com/oauth2/v1/token", http.StatusFound)
	}))
	defer srv.Close()
	tc := &config.Target{Timeout: config.Duration(5 * time.Second)}
	hc, err := targets.NewHTTPClient(tc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := targets.NewAuth(config.Auth{Type: "oauth2", TokenURL: srv.URL, ClientID: "id", ClientSecret: "s3cr3t-value"},
		targets.AuthOptions{HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	err = a.Authorize(context.Background(), r)
	k, _ := targets.Classify(err)
	if k == targets.Retryable || k == targets.Permanent {
		t.Fatalf("token_url redirect: kind %v (a failure of the file, counted as its attempt): %v", k, err)
	}
	if !strings.Contains(err.Error(), "idp.example.com") {
		t.Errorf("error %q does not name where the token_url redirects", err)
	}
}
