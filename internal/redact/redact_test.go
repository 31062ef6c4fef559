package redact

import (
	"fmt"
	"strings"
	"testing"
)

func TestStringReplacesEveryRegisteredFormLongestFirst(t *testing.T) {
	Add("pa ss/wörd+1")
	Add("pa ss/wörd+1-and-more")
	Add("abc") // too short to keep
	for _, tc := range []struct{ in, want string }{
		{"Authorization: pa ss/wörd+1!", "Authorization: [redacted]!"},
		{"form: client_secret=pa+ss%2Fw%C3%B6rd%2B1&x=1", "form: client_secret=[redacted]&x=1"},
		{"json: pa ss/wörd+1-and-more", "json: [redacted]"},
		{"abc stays", "abc stays"},
		{"path: /x/pa%20ss%2Fw%C3%B6rd+1", "path: /x/[redacted]"},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The registry is bounded, and a value in use (registered again when it
// is revealed) outlives many newer ones.
func TestRegistryKeepsValuesInUse(t *testing.T) {
	Add("in-use-secret-value")
	for i := range 4 * maxValues {
		Add(fmt.Sprintf("expired-token-%06d", i))
		if i%100 == 0 {
			Add("in-use-secret-value")
		}
	}
	reg.RLock()
	n := len(reg.seen)
	reg.RUnlock()
	if n > maxValues {
		t.Errorf("%d values kept, want at most %d", n, maxValues)
	}
	if got := String("x in-use-secret-value x"); strings.Contains(got, "in-use") {
		t.Errorf("a value in use was dropped: %q", got)
	}
	if got := String("expired-token-000000"); got != "expired-token-000000" {
		t.Errorf("the oldest value was kept: %q", got)
	}
}

// A server echoes a value in the escaping of its own format: an error page
// or XML body (&amp; &lt;), a URL path (%20), JSON written without HTML
// escaping.
func TestEscapedFormsAreReplaced(t *testing.T) {
	Add(`p&ss<w0rd x9Zq"`)
	for _, in := range []string{
		"<error>bad password p&amp;ss&lt;w0rd x9Zq&#34;</error>",
		"GET /x/p&ss%3Cw0rd%20x9Zq%22 failed",
		`{"echo":"p&ss<w0rd x9Zq\""}`,
	} {
		if got := String(in); strings.Contains(got, "w0rd") {
			t.Errorf("String(%q) = %q: the secret survives", in, got)
		}
	}
}
