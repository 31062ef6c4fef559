package targets_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// A credential in the target's url (https://user:password@host, which
// config's url message says it "may hold", and which net/http sends as
// Basic auth) is registered with package redact, so a server that echoes
// the request in an error page does not put it in targets.Error's text,
// and from there in the log, the database and `dropsync status`.
func TestPasswordInTheTargetURLIsRedactedFromAnEchoedErrorPage(t *testing.T) {
	const pw = "UrlPassw0rdXyz"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		http.Error(w, "upstream failed for request with Authorization: "+r.Header.Get("Authorization")+" (user "+u+", password "+p+")", http.StatusBadGateway)
	}))
	defer srv.Close()
	base := strings.Replace(srv.URL, "http://", "http://svc:"+pw+"@", 1)
	tc := &config.Target{Name: "t", Type: "sensenet", URL: base, Timeout: config.Duration(0)}
	hc, err := targets.NewHTTPClient(tc)
	if err != nil {
		t.Fatal(err)
	}
	c := &targets.Client{HTTP: hc}
	resp, err := c.Do(context.Background(), "upload", func() (*http.Request, error) {
		return http.NewRequest(http.MethodGet, base+"/odata.svc/Root", nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := targets.StatusError("upload", resp, targets.Shorten(string(targets.ReadBody(resp)))).Error()
	b64 := base64.StdEncoding.EncodeToString([]byte("svc:" + pw))
	if strings.Contains(msg, pw) || strings.Contains(msg, b64) {
		t.Fatalf("the url's password reached the error text: %s", msg)
	}
}

// The password is also registered as written in the url (percent-encoded),
// and so is one in auth.token_url.
func TestPasswordInAURLIsRedactedAsWritten(t *testing.T) {
	tc := &config.Target{Name: "t", Type: "sensenet", URL: "https://svc:S3cr%40t-Url-pw@example.com/x",
		Auth: config.Auth{TokenURL: "https://client:T0ken%2FUrl-pw@login.example.com/token"}}
	if _, err := targets.NewHTTPClient(tc); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"S3cr%40t-Url-pw", "S3cr@t-Url-pw", "T0ken%2FUrl-pw", "T0ken/Url-pw",
		base64.StdEncoding.EncodeToString([]byte("svc:S3cr@t-Url-pw")), base64.StdEncoding.EncodeToString([]byte("client:T0ken/Url-pw"))} {
		if got := targets.Shorten("the server said: " + v + "."); strings.Contains(got, v) {
			t.Errorf("%s: not redacted: %s", v, got)
		}
	}
	if got := targets.Shorten("user svc at example.com"); got != "user svc at example.com" {
		t.Errorf("the user name or host was redacted: %s", got)
	}
}
