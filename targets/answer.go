package targets

import (
	"bytes"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// The answers that are not the API's: a 2xx whose body is a web page (an
// SSO proxy's login form once its session lapsed, a maintenance page) or
// other text where the API answers JSON or Atom came from something in
// front of the server, and no request reached the API. That is about the
// target, not the file: NotTheAPI makes it Unreachable, so the target goes
// down, a probe tests it and the files wait however long the page is
// served, where a permanent or capped failure put every file of a burst on
// the failed list, and a 2xx taken for a delivery lost the file. Each
// adapter asks NotJSON or IsPage of every 2xx it reads.

// Markup reports whether a Content-Type is a web page's (HTML, XHTML).
func Markup(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// NotJSON reports whether a 2xx answer is not JSON at all: a web page by
// its Content-Type, or a body that does not start as a JSON object or
// array does (a byte-order mark and white space skipped). An empty body is
// not counted: it says nothing about who answered.
func NotJSON(h http.Header, body []byte) bool {
	b := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\uFEFF")))
	if len(b) == 0 {
		return false
	}
	return Markup(h.Get("Content-Type")) || (b[0] != '{' && b[0] != '[')
}

// IsPage reports whether an answer is a web page: by its Content-Type, or
// a body that starts as an HTML document does (for APIs whose own answers
// are XML). An empty body is not a page, whatever its Content-Type (a
// servlet container labels an empty answer text/html).
func IsPage(h http.Header, body []byte) bool {
	if len(bytes.TrimSpace(body)) == 0 {
		return false
	}
	if Markup(h.Get("Content-Type")) {
		return true
	}
	head := bytes.ToLower(bytes.TrimSpace(body[:min(len(body), 512)]))
	return bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.HasPrefix(head, []byte("<html"))
}

// NotTheAPI is the Unreachable error for a 2xx answer that is not the
// API's; api names what was expected ("the Documents API's JSON"). The
// page's words are shortened and redacted (Shorten).
func NotTheAPI(op string, status int, body []byte, api string) *Error {
	msg := "the answer is not " + api + " (a login or maintenance page in front of the server?)"
	if w := Shorten(string(body)); w != "" {
		msg += ": " + w
	}
	return &Error{Kind: Unreachable, Op: op, Status: status, Msg: msg}
}

// StoredName is name as a server stores it when it is sent in JSON or XML
// written by Go's encoders: each byte that is not UTF-8 becomes U+FFFD (a
// Linux file name is bytes: "scan\xff.pdf" is stored, and listed, as
// "scan\ufffd.pdf"). Adapters compare local names with the server's, and
// key them (NameKeyer), through it: otherwise a file is never found again
// under its own name, and two names the server stores alike are not seen
// as one.
func StoredName(name string) string {
	if utf8.ValidString(name) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		r, n := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(name[i : i+n])
		}
		i += n
	}
	return b.String()
}
