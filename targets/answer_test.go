package targets_test

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
)

// StoredName is the name as Go's JSON and XML encoders write it (each
// byte that is not UTF-8 becomes U+FFFD, one per byte); valid names are
// unchanged.
func TestStoredNameIsWhatTheEncodersWrite(t *testing.T) {
	for in, want := range map[string]string{
		"scan.pdf":         "scan.pdf",
		"scan\uFFFD.pdf":   "scan\uFFFD.pdf",
		"scan\xff.pdf":     "scan\uFFFD.pdf",
		"scan\xff\xfe.pdf": "scan\uFFFD\uFFFD.pdf",
		"für\xc3.txt":      "für\uFFFD.txt",
	} {
		if got := targets.StoredName(in); got != want {
			t.Errorf("StoredName(%q) = %q, want %q", in, got, want)
		}
		var b strings.Builder
		if err := xml.EscapeText(&b, []byte(in)); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("encoding/xml writes %q as %q; StoredName says %q", in, b.String(), want)
		}
		j, _ := json.Marshal(in)
		var back string
		if err := json.Unmarshal(j, &back); err != nil || back != want {
			t.Errorf("encoding/json writes %q as %s; StoredName says %q", in, j, want)
		}
	}
}

// A 2xx answer that is a web page, or text where JSON was due, is not the
// API's; an empty body or JSON (behind a byte-order mark) is.
func TestNotJSONAndIsPage(t *testing.T) {
	html := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	plain := http.Header{"Content-Type": {"text/plain"}}
	for _, tc := range []struct {
		h       http.Header
		body    string
		notJSON bool
		page    bool
		why     string
	}{
		{html, "<!DOCTYPE html><html><body>Sign in</body></html>", true, true, "a login page"},
		{plain, "<html><body>Sign in</body></html>", true, true, "a page without its type"},
		{plain, "Service under maintenance", true, false, "text"},
		{html, "", false, false, "an empty answer labelled text/html (a servlet container's)"},
		{plain, "", false, false, "no body"},
		{plain, "\uFEFF {\"id\": \"1\"}", false, false, "JSON behind a byte-order mark"},
		{http.Header{"Content-Type": {"application/atom+xml"}}, "<?xml version=\"1.0\"?><entry/>", true, false, "Atom"},
	} {
		if got := targets.NotJSON(tc.h, []byte(tc.body)); got != tc.notJSON {
			t.Errorf("%s: NotJSON = %v", tc.why, got)
		}
		if got := targets.IsPage(tc.h, []byte(tc.body)); got != tc.page {
			t.Errorf("%s: IsPage = %v", tc.why, got)
		}
	}
	e := targets.NotTheAPI("x: upload", 200, []byte("<html><body><h1>Sign in</h1></body></html>"), "X's JSON")
	if e.Kind != targets.Unreachable || strings.Contains(e.Msg, "<") || !strings.Contains(e.Msg, "Sign in") {
		t.Errorf("NotTheAPI: %v (%v)", e, e.Kind)
	}
}
