package oracledocs_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets/oracledocs"
	"github.com/dropsync/dropsync/targets/targettest"
)

// An error reply that echoes the request's Authorization header does not
// put the credential into dropsync's error (logged, stored, shown by
// status): the Basic form is registered with package redact.
func TestEchoedCredentialStaysOutOfErrors(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/files/data") {
			body, _ := json.Marshal(map[string]string{"errorCode": "-1",
				"errorMessage": "unexpected failure; request headers: Authorization=" + r.Header.Get("Authorization")})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(body)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s := fake.Setup(srv.URL)
	env := targettest.Build(t, s.Target, "destination: "+s.Destination+"\n")
	f, _ := env.File(t, "a.txt", 100)
	_, err := env.Deliver(context.Background(), f, nil)
	if err == nil {
		t.Fatal("no error")
	}
	cred := base64.StdEncoding.EncodeToString([]byte(oracledocs.FakeUser + ":" + oracledocs.FakePassword))
	if msg := err.Error(); strings.Contains(msg, cred) {
		t.Errorf("the basic credential is in the error message: %q", msg)
	}
}
