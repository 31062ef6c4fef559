package connections_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets/connections"
)

// wire sends raw requests to a fake, as a client other than dropsync would.
type wire struct {
	t    *testing.T
	fake *connections.Fake
	base string
}

func newWire(t *testing.T) *wire {
	fake := connections.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return &wire{t: t, fake: fake, base: srv.URL + "/activities/service/atom2"}
}

// do sends a request with the demo credentials; body "" is no body, and
// chunked sends it without Content-Length.
func (w *wire) do(method, path string, hdr map[string]string, body string, chunked bool) *http.Response {
	w.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length
		}
	}
	req, err := http.NewRequest(method, w.base+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	req.SetBasicAuth(connections.FakeUser, connections.FakePassword)
	for k, v := range hdr {
		if k == "Authorization" {
			req.Header.Del(k)
		}
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (w *wire) expect(resp *http.Response, status int, words string) {
	w.t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || !strings.Contains(string(b), words) {
		w.t.Errorf("got %d %s, want %d with %q", resp.StatusCode, b, status, words)
	}
}

// phase1 starts a two-phase upload and returns the token.
func (w *wire) phase1(method, path string, size int) string {
	w.t.Helper()
	resp := w.do(method, path, map[string]string{"X-IBM-UPLOAD-METHOD": "phases", "X-IBM-UPLOAD-SIZE": strconv.Itoa(size)}, "", false)
	tok := resp.Header.Get("X-IBM-UPLOAD-TOKEN")
	if resp.StatusCode != http.StatusOK || tok == "" {
		w.t.Fatalf("phase 1: %d, token %q", resp.StatusCode, tok)
	}
	return tok
}

func phase2Headers(tok, name string) map[string]string {
	return map[string]string{"X-IBM-UPLOAD-METHOD": "phases", "X-IBM-UPLOAD-TOKEN": tok, "Slug": name, "Content-Type": "text/plain"}
}

const create = "/activity?activityUuid=" + connections.FakeActivityID

func TestFakeTwoPhaseIsStrict(t *testing.T) {
	w := newWire(t)
	t.Run("credentials", func(t *testing.T) {
		w.expect(w.do("POST", create, map[string]string{"Authorization": "Basic eDp5", "Slug": "a", "Content-Type": "text/plain"}, "x", false), 401, "authentication")
	})
	t.Run("method header value", func(t *testing.T) {
		w.expect(w.do("POST", create, map[string]string{"X-IBM-UPLOAD-METHOD": "chunks", "X-IBM-UPLOAD-SIZE": "3"}, "", false), 400, "phases")
	})
	t.Run("size required in phase 1", func(t *testing.T) {
		w.expect(w.do("POST", create, map[string]string{"X-IBM-UPLOAD-METHOD": "phases"}, "", false), 400, "X-IBM-UPLOAD-SIZE")
	})
	t.Run("unknown activity", func(t *testing.T) {
		w.expect(w.do("POST", "/activity?activityUuid=nope", map[string]string{"X-IBM-UPLOAD-METHOD": "phases", "X-IBM-UPLOAD-SIZE": "3"}, "", false), 404, "does not exist")
	})
	t.Run("unknown token", func(t *testing.T) {
		w.expect(w.do("POST", create, phase2Headers("made-up", "a.txt"), "abc", false), 400, "not valid")
	})
	t.Run("method header required in phase 2", func(t *testing.T) {
		tok := w.phase1("POST", create, 3)
		h := phase2Headers(tok, "a.txt")
		h["X-IBM-UPLOAD-METHOD"] = ""
		w.expect(w.do("POST", create, h, "abc", false), 400, "phases")
	})
	t.Run("Content-Length must match", func(t *testing.T) {
		tok := w.phase1("POST", create, 3)
		w.expect(w.do("POST", create, phase2Headers(tok, "a.txt"), "abcd", false), 400, "does not match")
	})
	t.Run("chunked body must match", func(t *testing.T) {
		tok := w.phase1("POST", create, 3)
		w.expect(w.do("POST", create, phase2Headers(tok, "a.txt"), "ab", true), 400, "announced 3")
		w.expect(w.do("POST", create, phase2Headers(tok, "a.txt"), "abcd", true), 400, "announced 3")
	})
	t.Run("Content-Type required", func(t *testing.T) {
		tok := w.phase1("POST", create, 3)
		h := phase2Headers(tok, "a.txt")
		h["Content-Type"] = ""
		w.expect(w.do("POST", create, h, "abc", false), 400, "Content-Type")
	})
	t.Run("Atom refused", func(t *testing.T) {
		tok := w.phase1("POST", create, 3)
		h := phase2Headers(tok, "a.txt")
		h["Content-Type"] = "application/atom+xml"
		w.expect(w.do("POST", create, h, "abc", false), 415, "not supported")
	})
	t.Run("Slug optional: the field is named generically", func(t *testing.T) {
		tok := w.phase1("POST", create, 3)
		w.expect(w.do("POST", create, phase2Headers(tok, ""), "abc", false), 200, "")
	})
	t.Run("token bound to its URL", func(t *testing.T) {
		other := w.fake.AddActivity("other")
		tok := w.phase1("POST", create, 3)
		w.expect(w.do("POST", "/activity?activityUuid="+other, phase2Headers(tok, "a.txt"), "abc", false), 400, "another upload")
	})
	t.Run("token single use", func(t *testing.T) {
		tok := w.phase1("POST", create, 3)
		w.expect(w.do("POST", create, phase2Headers(tok, "once.txt"), "abc", false), 200, "")
		w.expect(w.do("POST", create, phase2Headers(tok, "once.txt"), "abc", false), 400, "already been used")
	})
	t.Run("plain PUT refused", func(t *testing.T) {
		w.expect(w.do("PUT", "/activitynode?activityNodeUuid="+connections.FakeActivityID, map[string]string{"Content-Type": "text/plain"}, "abc", false), 400, "whole Atom entry")
	})
	var once []connections.Field
	for _, fl := range w.fake.Fields(connections.FakeActivityID) {
		if fl.Name == "once.txt" {
			once = append(once, fl)
		}
	}
	if len(once) != 1 || once[0].Size != 3 {
		t.Errorf("once.txt fields: %+v, want exactly one", once)
	}
	if n := len(w.fake.Fields(connections.FakeActivityID)); n != 2 {
		t.Errorf("%d fields, want once.txt and the unnamed one: every refused request must store nothing", n)
	}
}

func TestFakeUpdateAcceptsFidParameter(t *testing.T) {
	w := newWire(t)
	resp := w.do("POST", create, map[string]string{"Slug": "doc.txt", "Content-Type": "text/plain"}, "v1", false)
	w.expect(resp, 201, `type="file"`)
	fields := w.fake.Fields(connections.FakeActivityID)
	if len(fields) != 1 || !strings.HasSuffix(resp.Header.Get("Location"), "activityNodeUuid="+fields[0].ID) {
		t.Fatalf("fields %+v, Location %q", fields, resp.Header.Get("Location"))
	}
	for i, param := range []string{"fid", "activityNodeUuid"} {
		body := "version " + strconv.Itoa(i+2)
		path := "/activitynode?" + param + "=" + fields[0].ID
		tok := w.phase1("PUT", path, len(body))
		h := phase2Headers(tok, "")
		w.expect(w.do("PUT", path, h, body, false), 200, "")
		sum := sha256.Sum256([]byte(body))
		fl, _ := w.fake.Field(fields[0].ID)
		if fl.SHA256 != hex.EncodeToString(sum[:]) || fl.Version != i+2 || fl.Name != "doc.txt" {
			t.Errorf("after update with %s: %+v", param, fl)
		}
	}
	w.expect(w.do("PUT", "/activitynode?fid=nope", map[string]string{"X-IBM-UPLOAD-METHOD": "phases", "X-IBM-UPLOAD-SIZE": "1"}, "", false), 404, "does not exist")
}
