package sbm_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sbm"
	"github.com/dropsync/dropsync/targets/targettest"
)

// README (SBM): "401 (and a TokenService refusal) rejects the target's
// credentials and its files wait". A TokenService that refuses with another
// 4xx (400 for a malformed/expired account, 403 for a locked account, 404
// for a wrong token_service_url path) is about the target's credentials,
// never about one file: it must be Auth, as targets.tokenError makes every
// 4xx of an oauth2 token endpoint. Permanent puts every file of the backlog
// on the failed list.
func TestTokenServiceRefusalRejectsCredentials(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			fake := sbm.NewFake()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.Path, "TokenService") {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(status)
					w.Write([]byte(`{"status":"ERROR","message":"The account is locked."}`))
					return
				}
				fake.ServeHTTP(w, r)
			}))
			defer srv.Close()
			target := "type: sbm\nurl: " + srv.URL + "\nauth: {type: sso, token_service_url: " + srv.URL + sbm.FakeTokenPath +
				", username: " + sbm.FakeUsername + ", password: " + sbm.FakePassword + "}\n"
			env := targettest.Build(t, target, "destination: {table: 1000, item: 140, field: FILEFIELD}")
			f, _ := env.File(t, "a.txt", 100)
			_, err := env.Deliver(context.Background(), f, nil)
			if err == nil {
				t.Fatal("delivered without a token")
			}
			if k, _ := targets.Classify(err); k == targets.Permanent {
				t.Fatalf("TokenService refusal (HTTP %d) fails the file permanently: %v", status, err)
			}
		})
	}
}
