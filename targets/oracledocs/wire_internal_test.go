package oracledocs

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
)

func TestNumAcceptsStringsAndNumbers(t *testing.T) {
	var it item
	body := `{"id":"D1","size":13,"version":"3","errorCode":"-20"}`
	if err := json.Unmarshal([]byte(body), &it); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    num
		want int64
	}{{it.Size, 13}, {it.Version, 3}, {it.ErrorCode, -20}} {
		if v, ok := c.n.Int(); !ok || v != c.want {
			t.Errorf("%q → %d %v, want %d", c.n, v, ok, c.want)
		}
	}
	for _, in := range []string{`{"version":null}`, `{"version":" 2.0 "}`, `{"version":2.0}`, `{}`} {
		var it item
		if err := json.Unmarshal([]byte(in), &it); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		v, ok := it.Version.Int()
		want := in != `{"version":null}` && in != `{}`
		if ok != want || (ok && v != 2) {
			t.Errorf("%s → %d %v", in, v, ok)
		}
	}
	if err := json.Unmarshal([]byte(`{"size":[1]}`), &it); err == nil {
		t.Error("an array was accepted as a number")
	}
}

func TestClassifyPrefersErrorCodeAndReadsOddBodies(t *testing.T) {
	cases := []struct {
		status int
		body   string
		kind   targets.Kind
		msg    string
	}{
		// -18 arrives with 403: the code names it, not the status.
		{403, `{"errorCode":"-18","errorMessage":"Code needed."}`, targets.Permanent, "access code required: Code needed."},
		{404, `{"errorCode":-16,"title":"Not there."}`, targets.Permanent, "folder or file not found: Not there."},
		{403, ``, targets.Permanent, "insufficient privileges"},
		{502, "<html><body>\n  Bad   gateway\n</body></html>", targets.Retryable, "Bad gateway"},
		{401, `{"errorCode":"-1","errorMessage":"Who are you?"}`, targets.Auth, "Who are you?"},
		// A 2xx that reports a failure in errorCode.
		{200, `{"errorCode":"-20","errorMessage":"No."}`, targets.Permanent, "insufficient privileges: No."},
	}
	for _, c := range cases {
		resp := &http.Response{StatusCode: c.status, Header: http.Header{}}
		e := classify("op", resp, []byte(c.body))
		if e.Kind != c.kind || e.Msg != c.msg {
			t.Errorf("%d %s: %v %q, want %v %q", c.status, c.body, e.Kind, e.Msg, c.kind, c.msg)
		}
	}
}

func TestNumbered(t *testing.T) {
	for in, want := range map[string]string{"a.txt": "a(3).txt", "a.tar.gz": "a.tar(3).gz", ".env": ".env(3)", "README": "README(3)"} {
		if got := numbered(in, 3); got != want {
			t.Errorf("numbered(%q) = %q, want %q", in, got, want)
		}
	}
	if got := numbered("a.txt", 1); got != "a.txt" {
		t.Errorf("numbered(a.txt, 1) = %q", got)
	}
}

func TestFormLengthIsExact(t *testing.T) {
	fm, err := newForm([]byte(`{"parentID":"F1"}`), `we"ird\name.pdf`, []byte(`{"collection":"C"}`))
	if err != nil {
		t.Fatal(err)
	}
	content := "file content"
	raw, err := io.ReadAll(fm.reader(strings.NewReader(content)))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(raw)) != fm.size(int64(len(content))) {
		t.Errorf("body is %d bytes, size says %d", len(raw), fm.size(int64(len(content))))
	}
	_, params, err := mime.ParseMediaType(fm.contentType)
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	var got []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(p)
		got = append(got, p.FormName()+"|"+p.FileName()+"|"+string(data))
	}
	want := []string{`jsonInputParameters||{"parentID":"F1"}`, `primaryFile|we"ird\name.pdf|file content`, `metadataValues||{"collection":"C"}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("parts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := newForm(nil, "bad\nname", nil); err == nil {
		t.Error("a name with a line break was accepted")
	}
}

func TestDecodeItemFallsBackToLocationAndCapsRetries(t *testing.T) {
	reply := func(body, loc string) *http.Response {
		h := http.Header{}
		if loc != "" {
			h.Set("Location", loc)
		}
		return &http.Response{StatusCode: 201, Header: h, Body: io.NopCloser(strings.NewReader(body))}
	}
	it, err := decodeItem("op", reply("", "https://x.example.com/documents/api/1.2/files/D123ABC"))
	if err != nil || it.ID != "D123ABC" {
		t.Fatalf("item %+v, err %v: want the id from Location", it, err)
	}
	_, err = decodeItem("op", reply(`{"errorCode":"0"}`, ""))
	var te *targets.Error
	if !errors.As(err, &te) || te.Kind != targets.Retryable || te.MaxAttempts != 3 {
		t.Fatalf("err %v: want a retryable error capped at 3 attempts (each retry adds a revision)", err)
	}
}

// TestDecodeItemLoginPageIsAboutTheTarget: a 2xx reply that is not JSON at
// all (an SSO proxy's login page, a maintenance page) reached no API: it
// is Unreachable (the target goes down, the file waits), with the page's
// words short and without markup; a JSON reply that is malformed keeps the
// capped retry.
func TestDecodeItemLoginPageIsAboutTheTarget(t *testing.T) {
	reply := func(ct, body string) *http.Response {
		h := http.Header{}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(body))}
	}
	page := "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Your session has expired. " +
		strings.Repeat("Please sign in. ", 100) + "</form></body></html>"
	for _, r := range []*http.Response{
		reply("text/html; charset=utf-8", page),
		reply("", page),
		reply("text/plain", "Service under maintenance"),
		reply("text/html", `{"not":"really"`), // labelled a page
	} {
		_, err := decodeItem("op", r)
		var te *targets.Error
		if !errors.As(err, &te) || te.Kind != targets.Unreachable || te.MaxAttempts != 0 {
			t.Fatalf("err %v (%+v): want Unreachable, not a capped retry of the file", err, te)
		}
		if msg := err.Error(); strings.Contains(msg, "<") || len(msg) > 400 {
			t.Errorf("message %q: want the page's words short and without markup", msg)
		}
	}
	for _, body := range []string{`{"id":"D1",`, `[1,2`, ``} {
		_, err := decodeItem("op", reply("application/json", body))
		var te *targets.Error
		if !errors.As(err, &te) || te.Kind != targets.Retryable || te.MaxAttempts != 3 {
			t.Fatalf("body %q: err %v: want a retryable error capped at 3 attempts", body, err)
		}
	}
}

// TestLinkInvalidWithAppLinkSaysHowToRecover: -26 on a request that
// carried an applink is most often an expired access token; the failed
// file's message says how to bring it back (the daemon has no per-watch
// hold that would make it wait for the rotated token). Without an applink
// the message is Oracle's alone.
func TestLinkInvalidWithAppLinkSaysHowToRecover(t *testing.T) {
	body := []byte(`{"errorCode":"-26","errorMessage":"The applink has expired."}`)
	req := &http.Request{Header: http.Header{}}
	req.Header["AppLinkID"] = []string{"LF1"}
	e := classify("op", &http.Response{StatusCode: 400, Header: http.Header{}, Request: req}, body)
	if e.Kind != targets.Permanent || !strings.HasPrefix(e.Msg, "link invalid or expired: The applink has expired.") ||
		!strings.Contains(e.Msg, "access_token_file") || !strings.Contains(e.Msg, "dropsync queue retry --failed") {
		t.Errorf("with an applink: %v %q; want permanent naming access_token_file and queue retry", e.Kind, e.Msg)
	}
	e = classify("op", &http.Response{StatusCode: 400, Header: http.Header{}, Request: &http.Request{Header: http.Header{}}}, body)
	if e.Msg != "link invalid or expired: The applink has expired." {
		t.Errorf("without an applink: %q", e.Msg)
	}
}
