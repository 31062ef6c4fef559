package blueworks

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
)

// token gets a token from the fake at base.
func token(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.PostForm(base+TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.AccessToken == "" || tok.ExpiresIn != 3600 {
		t.Fatalf("token: HTTP %d, %+v, %v", resp.StatusCode, tok, err)
	}
	return tok.AccessToken
}

type part struct{ name, filename, value string }

// post sends a FileUpload form built from parts and returns the status code
// and body.
func post(t *testing.T, base, tok string, hdr map[string]string, parts ...part) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.filename != "" {
			w, err = mw.CreateFormFile(p.name, p.filename)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.value)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+UploadPath, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-IBM-API-Version", APIVersion)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(targets.ReadBody(resp))
}

func TestFakeIsStrict(t *testing.T) {
	fake, srv := newServer(t)
	tok := token(t, srv.URL)
	file := part{"fileData", "a.txt", "hello"}
	inst := []part{{"locationField", "", "instance"}, {"ancestorIdField", "", "W-1"}, {"parentIdField", "", "W-1"}}
	for _, c := range []struct {
		name  string
		tok   string
		hdr   map[string]string
		parts []part
		code  int
		want  string
	}{
		{"no token", "", nil, append(inst, file), 401, "isn't authorized"},
		{"foreign token", "abc", nil, append(inst, file), 401, "isn't authorized"},
		{"no API version (optional)", tok, map[string]string{"X-IBM-API-Version": ""}, append(inst, file), 200, `"status":"SUCCESS"`},
		{"other API version", tok, map[string]string{"X-IBM-API-Version": "1.0.0"}, append(inst, file), 400, "X-IBM-API-Version must be 20160630"},
		{"not multipart", tok, map[string]string{"Content-Type": "application/json"}, append(inst, file), 400, "multipart/form-data"},
		{"unknown field", tok, nil, append(inst, file, part{"file", "", "x"}), 400, `unknown form field "file"`},
		{"file without name", tok, nil, append(inst, part{"fileData", "", "x"}), 400, "fileData must be a file part with a filename"},
		{"field as file", tok, nil, []part{{"locationField", "x.txt", "instance"}, file}, 400, "locationField must be a form field"},
		{"no file", tok, nil, inst, 400, "fileData is required"},
		{"twice", tok, nil, append(inst, file, file), 400, "fileData sent twice"},
		{"bad location", tok, nil, []part{{"locationField", "", "folder"}, file}, 400, `locationField "folder": must be one of`},
		{"instance without ancestor", tok, nil, []part{{"locationField", "", "instance"}, {"parentIdField", "", "W-1"}, file}, 400, "ancestorIdField is required for instance: the work ID"},
		{"policy without parent", tok, nil, []part{{"locationField", "", "policy"}, file}, 400, "parentIdField is required for policy: the policy ID"},
		{"post, file first", tok, nil, []part{file, {"locationField", "", "post"}}, 200, `"status":"SUCCESS"`},
		{"policy with empty ancestor", tok, nil, []part{{"locationField", "", "policy"}, {"ancestorIdField", "", ""}, {"parentIdField", "", "P-1"}, file}, 200, `"status":"SUCCESS"`},
	} {
		code, body := post(t, srv.URL, c.tok, c.hdr, c.parts...)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: HTTP %d %q, want %d with %q", c.name, code, body, c.code, c.want)
		}
	}
	if n := len(fake.Attachments()); n != 3 {
		t.Errorf("fake kept %d attachments, want the 3 accepted", n)
	}

	resp, err := http.Get(srv.URL + UploadPath)
	if err != nil {
		t.Fatal(err)
	}
	if body := string(targets.ReadBody(resp)); resp.StatusCode != 405 || !strings.Contains(body, "Select POST method") {
		t.Errorf("GET: HTTP %d %q", resp.StatusCode, body)
	}
}

func TestFakeTokenEndpoint(t *testing.T) {
	fake, srv := newServer(t)
	for _, c := range []struct {
		name string
		form url.Values
		code int
		want string
	}{
		{"password grant", url.Values{"grant_type": {"password"}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}}, 400, "unsupported_grant_type"},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {DemoClientID}, "client_secret": {"x"}}, 401, "invalid_client"},
		{"credentials missing", url.Values{"grant_type": {"client_credentials"}}, 401, "invalid_client"},
	} {
		resp, err := http.PostForm(srv.URL+TokenPath, c.form)
		if err != nil {
			t.Fatal(err)
		}
		if body := string(targets.ReadBody(resp)); resp.StatusCode != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: HTTP %d %q, want %d with %q", c.name, resp.StatusCode, body, c.code, c.want)
		}
	}
	// The client credentials belong in the form body, not in Basic auth.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+TokenPath, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(DemoClientID, DemoClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if targets.DrainClose(resp); resp.StatusCode != 401 {
		t.Errorf("Basic credentials: HTTP %d, want 401", resp.StatusCode)
	}
	if s := fake.Stats(); s.TokensIssued != 0 || s.TokenRequests != 4 {
		t.Errorf("stats %+v", s)
	}

	// An expired token is refused.
	tok := token(t, srv.URL)
	fake.ExpireTokens()
	if code, _ := post(t, srv.URL, tok, nil, part{"locationField", "", "post"}, part{"fileData", "a.txt", "x"}); code != 401 {
		t.Errorf("expired token: HTTP %d, want 401", code)
	}
}

func TestFakeIsRegisteredWithItsSetup(t *testing.T) {
	f, err := targets.NewFake(Type)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Setup("http://127.0.0.1:9")
	for _, want := range []string{"type: blueworks\n", "url: http://127.0.0.1:9\n", "client_id: " + DemoClientID, "client_secret: " + DemoClientSecret} {
		if !strings.Contains(s.Target, want) {
			t.Errorf("Setup target %q lacks %q", s.Target, want)
		}
	}
	if s.Destination != "{location: instance, ancestor_id: W-1001, parent_id: W-1001}" || len(s.Notes) == 0 {
		t.Errorf("Setup %+v", s)
	}
}
