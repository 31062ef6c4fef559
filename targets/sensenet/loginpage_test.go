package sensenet_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

// An SSO proxy (or a maintenance page) answers 200 with an HTML page
// instead of sensenet's JSON. No request reached the API: every step of a
// delivery (folder creation, whole upload, chunked upload's start, skip's
// look-up) must fail as Unreachable, so that the target goes down and the
// file waits, not as a Retryable with MaxAttempts that puts it on the
// failed list. A JSON answer that is really malformed keeps MaxAttempts.
func TestTwoHundredPageIsUnreachable(t *testing.T) {
	const loginPage = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Your session has expired.</body></html>"
	for _, tc := range []struct {
		name, rel, watch string
		size             int64
		ctype, body      string
		kind             targets.Kind
	}{
		{"whole upload", "a.txt", "", 100, "text/html; charset=utf-8", loginPage, targets.Unreachable},
		{"whole upload, page without a content type", "a.txt", "", 100, "", loginPage, targets.Unreachable},
		{"whole upload, text", "a.txt", "", 100, "text/plain", "Service temporarily in maintenance", targets.Unreachable},
		{"chunked start", "big.bin", "", 2 << 20, "text/html", loginPage, targets.Unreachable},
		{"folder creation", "new/a.txt", "", 100, "text/html", loginPage, targets.Unreachable},
		{"skip look-up", "a.txt", "on_conflict: skip\n", 100, "text/html", loginPage, targets.Unreachable},
		{"malformed JSON", "a.txt", "", 100, "application/json", `{"Url":"/Root/Content/Documents/a.txt","Length":"many"}`, targets.Retryable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := sensenet.NewFake()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if tc.rel == "new/a.txt" && r.Method == http.MethodGet {
					w.WriteHeader(http.StatusNotFound) // the folder is missing: create it
					return
				}
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				} else {
					w.Header()["Content-Type"] = nil // no sniffing
				}
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(func() { srv.Close(); fake.Close() })
			b := &bundle{fake: fake, srv: srv}
			b.env = targettest.Build(t, b.target(""), "destination: {path: "+docs+"}\n"+tc.watch)
			f, _ := b.env.File(t, tc.rel, tc.size)
			_, err := b.env.Deliver(context.Background(), f, &targettest.MemSessions{})
			var te *targets.Error
			if !errors.As(err, &te) {
				t.Fatalf("deliver: %v, want a *targets.Error", err)
			}
			if te.Kind != tc.kind {
				t.Fatalf("deliver: %v is %s, want %s", err, te.Kind, tc.kind)
			}
			if tc.kind == targets.Unreachable && te.MaxAttempts != 0 {
				t.Errorf("deliver: %v has MaxAttempts %d: a page about the target must not count against the file", err, te.MaxAttempts)
			}
			if tc.kind == targets.Retryable && te.MaxAttempts != 3 {
				t.Errorf("deliver: %v has MaxAttempts %d, want 3 for a malformed JSON answer", err, te.MaxAttempts)
			}
			if tc.rel == "new/a.txt" && !strings.Contains(err.Error(), "create folder") {
				t.Errorf("deliver: %v, want the folder creation to fail: no folder was created", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "sensenet: ") || strings.Contains(msg, "<") {
				t.Errorf("deliver: %q: want the operation first and no markup", msg)
			}
		})
	}
}
