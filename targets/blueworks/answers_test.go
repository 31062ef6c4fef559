package blueworks

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/targettest"
)

// answering builds a target whose FileUpload requests are answered by
// answer (token requests go to the fake), and one file to deliver.
func answering(t *testing.T, dest string, answer func(w http.ResponseWriter, r *http.Request)) (*targettest.Env, *targets.File) {
	t.Helper()
	fake := NewFake()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == UploadPath {
			_, _ = io.Copy(io.Discard, r.Body)
			answer(w, r)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e := targettest.Build(t, fake.Setup(srv.URL).Target, "destination: "+dest+"\non_conflict: rename")
	f, _ := e.File(t, "x.pdf", 100)
	return e, f
}

// A 2xx answer that is not JSON at all (an SSO proxy's login page, a
// maintenance page) reached no API: it is about the target (Unreachable:
// down, probed, files wait), not a capped retry that puts every file on
// the failed list while the page lasts. The page's words are short and
// without markup. Malformed JSON keeps the capped retry.
func TestNonJSONSuccessAnswerIsAboutTheTarget(t *testing.T) {
	page := "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Your session has expired. " +
		strings.Repeat("Please sign in. ", 100) + "</form></body></html>"
	for _, c := range []struct {
		name, ct, body string
		kind           targets.Kind
		attempts       int
	}{
		{"html page", "text/html; charset=utf-8", page, targets.Unreachable, 0},
		{"html without content type", "", page, targets.Unreachable, 0},
		{"plain text", "text/plain", "Down for maintenance", targets.Unreachable, 0},
		{"malformed JSON", "application/json", `{"status":"SUCC`, targets.Retryable, failedAttempts},
		{"empty", "application/json", ``, targets.Retryable, failedAttempts},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, f := answering(t, instanceDest, func(w http.ResponseWriter, r *http.Request) {
				if c.ct != "" {
					w.Header().Set("Content-Type", c.ct)
				}
				_, _ = io.WriteString(w, c.body)
			})
			_, err := e.Deliver(t.Context(), f, nil)
			te := targetError(t, err)
			if te.Kind != c.kind || te.MaxAttempts != c.attempts {
				t.Fatalf("got %s (max attempts %d): %v; want %s (max attempts %d)", te.Kind, te.MaxAttempts, err, c.kind, c.attempts)
			}
			if msg := err.Error(); strings.Contains(msg, "<") || len(msg) > 450 {
				t.Errorf("message %q: want the server's words short and without markup", msg)
			}
		})
	}
}

// With X-On-Behalf-Of, a 403 is about that user (may not attach to that
// item): the file fails with the server's words, and the target's
// credentials are not rejected, which would hold every other watch's
// files. Without it, a 403 is about the Service ID itself: Auth.
func TestForbiddenOnBehalfOfIsAboutTheUser(t *testing.T) {
	forbid := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"message":"User `+r.Header.Get("X-On-Behalf-Of")+` does not have permission to attach files to W-1"}`)
	}
	e, f := answering(t, "{location: instance, ancestor_id: W-1, parent_id: W-1, on_behalf_of: bob@example.com}", forbid)
	_, err := e.Deliver(t.Context(), f, nil)
	te := targetError(t, err)
	if te.Kind != targets.Permanent || !strings.Contains(err.Error(), "User bob@example.com does not have permission to attach files to W-1") ||
		!strings.Contains(err.Error(), "(HTTP 403)") {
		t.Errorf("with on_behalf_of: got %s: %v; want permanent with the server's words", te.Kind, err)
	}
	e, f = answering(t, instanceDest, forbid)
	_, err = e.Deliver(t.Context(), f, nil)
	if te := targetError(t, err); te.Kind != targets.Auth {
		t.Errorf("without on_behalf_of: got %s: %v; want auth (the Service ID may not upload)", te.Kind, err)
	}
}
