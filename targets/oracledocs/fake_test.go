package oracledocs_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets/oracledocs"
)

// rawPart is one part of a hand-built multipart request.
type rawPart struct{ name, filename, contentType, body string }

func multipartBody(t *testing.T, parts ...rawPart) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		if p.filename != "" {
			cd += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", cd)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.body)
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// call sends a request with the demo credentials and returns the status
// and the decoded JSON reply.
func call(t *testing.T, srv *httptest.Server, method, path string, body io.Reader, contentType string, auth bool) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.SetBasicAuth(oracledocs.FakeUser, oracledocs.FakePassword)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestFakeIsStrictAboutUploads(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	params := rawPart{name: "jsonInputParameters", body: `{"parentID":"` + oracledocs.FakeFolderID + `"}`}
	file := rawPart{name: "primaryFile", filename: "a.txt", contentType: "text/plain", body: "hello"}
	meta := rawPart{name: "metadataValues", body: `{"collection":"C","f":"v"}`}

	cases := []struct {
		what   string
		path   string
		parts  []rawPart
		auth   bool
		status int
		code   string
	}{
		{"no credentials", "/documents/api/1.2/files/data", []rawPart{params, file}, false, 401, "-1"},
		{"primaryFile first", "/documents/api/1.2/files/data", []rawPart{file, params}, true, 400, "-1"},
		{"no parentID", "/documents/api/1.2/files/data", []rawPart{{name: "jsonInputParameters", body: `{}`}, file}, true, 400, "-1"},
		{"unknown parent", "/documents/api/1.2/files/data", []rawPart{{name: "jsonInputParameters", body: `{"parentID":"FNOPE"}`}, file}, true, 404, "-16"},
		{"file without filename", "/documents/api/1.2/files/data", []rawPart{params, {name: "primaryFile", body: "x"}}, true, 400, "-1"},
		{"metadata not JSON-typed", "/documents/api/1.2/files/data", []rawPart{params, file, meta}, true, 400, "-1"},
		{"stray part", "/documents/api/1.2/files/data", []rawPart{params, file, {name: "other", body: "x"}}, true, 400, "-1"},
		{"version of unknown file", "/documents/api/1.2/files/DNOPE/data", []rawPart{file}, true, 404, "-16"},
		{"unknown API version", "/documents/api/1.3/files/data", []rawPart{params, file}, true, 404, ""},
	}
	for _, c := range cases {
		body, ct := multipartBody(t, c.parts...)
		status, reply := call(t, srv, http.MethodPost, c.path, body, ct, c.auth)
		if status != c.status || (c.code != "" && reply["errorCode"] != c.code) {
			t.Errorf("%s: %d %v, want %d errorCode %q", c.what, status, reply, c.status, c.code)
		}
	}
	if n := len(fake.Files()); n != 0 {
		t.Fatalf("the fake stored %d files from bad requests", n)
	}

	// The documented request works, with the trailing slash Oracle's toolkit
	// uses, and numbers come back as strings.
	meta.contentType = "application/json"
	body, ct := multipartBody(t, params, file, meta)
	status, reply := call(t, srv, http.MethodPost, "/documents/api/1.2/files/data/", body, ct, true)
	if status != 201 || reply["version"] != "1" || reply["size"] != "5" || reply["errorCode"] != "0" {
		t.Fatalf("upload: %d %v", status, reply)
	}
	id := reply["id"].(string)
	// The version upload takes no jsonInputParameters.
	body, ct = multipartBody(t, params, file)
	if status, reply := call(t, srv, http.MethodPost, "/documents/api/1.1/files/"+id+"/data", body, ct, true); status != 400 {
		t.Errorf("version upload with jsonInputParameters: %d %v", status, reply)
	}
	body, ct = multipartBody(t, file)
	if status, reply := call(t, srv, http.MethodPost, "/documents/api/1.1/files/"+id+"/data/", body, ct, true); status != 200 || reply["version"] != "2" {
		t.Errorf("version upload: %d %v", status, reply)
	}
}

func TestFakeFolderItemsFilterByExactName(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.AddFile(oracledocs.FakeFolderID, "Report.pdf", []byte("x"))
	fake.AddFile(oracledocs.FakeFolderID, "Report.pdf.bak", []byte("y"))
	fake.AddFolder(oracledocs.FakeFolderID, "reports")

	list := func(q url.Values) map[string]any {
		status, reply := call(t, srv, http.MethodGet, "/documents/api/1.2/folders/"+oracledocs.FakeFolderID+"/items?"+q.Encode(), nil, "", true)
		if status != 200 {
			t.Fatalf("items %v: %d %v", q, status, reply)
		}
		return reply
	}
	reply := list(url.Values{"filterName": {"report.PDF"}})
	items := reply["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["name"] != "Report.pdf" || reply["totalResults"] != "1" {
		t.Errorf("filterName report.PDF: %v", reply)
	}
	reply = list(url.Values{"limit": {"2"}})
	if reply["count"] != "2" || reply["totalResults"] != "3" || reply["hasMore"] != "1" {
		t.Errorf("paged listing: %v", reply)
	}
	reply = list(url.Values{"filterName": {"none"}})
	if len(reply["items"].([]any)) != 0 {
		t.Errorf("no match gave %v", reply)
	}

	status, reply := call(t, srv, http.MethodPost, "/documents/api/1.2/folders/"+oracledocs.FakeFolderID, strings.NewReader(`{"name":"REPORTS"}`), "application/json", true)
	if status != 409 || reply["errorCode"] != "-17" {
		t.Errorf("duplicate folder: %d %v", status, reply)
	}
}

func TestFakeTokenEndpointIsStrict(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {oracledocs.FakeScope}}
	post := func(form url.Values, basic bool) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+oracledocs.FakeTokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(oracledocs.FakeClientID, oracledocs.FakeClientSecret)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(form, true); s != 200 {
		t.Errorf("valid request: %d", s)
	}
	inBody := url.Values{"client_id": {oracledocs.FakeClientID}, "client_secret": {oracledocs.FakeClientSecret}}
	for k, v := range form {
		inBody[k] = v
	}
	if s := post(inBody, false); s != 401 {
		t.Errorf("client credentials in the body: %d, want 401 (IDCS wants HTTP Basic)", s)
	}
	if s := post(url.Values{"grant_type": {"client_credentials"}}, true); s != 400 {
		t.Errorf("no scope: %d, want 400", s)
	}
	if n := fake.TokenRequests(); n != 1 {
		t.Errorf("%d tokens issued, want 1", n)
	}
}
