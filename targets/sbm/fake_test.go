package sbm_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets/sbm"
)

// fakeReply is what the fake answers, as a client reads it.
type fakeReply struct {
	Field *struct {
		Objects []struct {
			ID       int64  `json:"id"`
			UUID     string `json:"uuid"`
			Name     string `json:"name"`
			Filename string `json:"filename"`
			Size     int64  `json:"filesize"`
		} `json:"fileObjList"`
		Count int `json:"fileObjCount"`
	} `json:"fieldFileObj"`
	Result struct {
		Type string `json:"type"`
		Msg  string `json:"msg"`
	} `json:"result"`
}

type rawClient struct {
	t   *testing.T
	srv *httptest.Server
}

func newRaw(t *testing.T) (*sbm.Fake, *rawClient) {
	fake := sbm.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, &rawClient{t, srv}
}

// do sends body to path with the demo credentials and decodes the reply.
func (c *rawClient) do(method, path, body string) (int, fakeReply) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(sbm.FakeUsername, sbm.FakePassword)
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r fakeReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		c.t.Fatalf("%s %s: reply is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, r
}

const upd = "/jsonapi/UpdateFileField/1000/140/FILEFIELD/0"

func add(name, data string) string {
	return `{"breakLock":false,"fileObjList":[{"action":"NEW-ONLY","id":0,"name":"` + name + `","filename":"` + name + `","contentsbase64":{"data":"` + data + `"}}]}`
}

func TestFakeStrictness(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"not JSON", `{"fileObjList": [`, 400, "Invalid JSON"},
		{"trailing garbage", add("a.txt", "QQ==") + "x", 400, "after the JSON value"},
		{"unknown key", `{"fileObjLst":[]}`, 400, `unknown key "fileObjLst"`},
		{"no fileObjList", `{"breakLock":false}`, 400, "fileObjList is required"},
		{"breakLock as string", `{"breakLock":"no","fileObjList":[]}`, 400, "breakLock"},
		{"invalid base64", add("a.txt", "QQ=*"), 400, "invalid base64"},
		{"truncated base64", add("a.txt", "QUJD"+"QQ"), 400, "invalid base64"},
		{"response casing", `{"fileObjList":[{"filename":"a","contentsBase64":{"data":"QQ=="}}]}`, 400, `unknown key "contentsBase64"`},
		{"url contents", `{"fileObjList":[{"filename":"a","contents":"http://x"}]}`, 400, "URL fields"},
		{"bad action", `{"fileObjList":[{"action":"UPSERT","filename":"a","contentsbase64":{"data":""}}]}`, 400, "NEW-ONLY, UPDATE-ONLY"},
		{"add without filename", `{"fileObjList":[{"action":"NEW-ONLY","name":"a","contentsbase64":{"data":"QQ=="}}]}`, 200, "filename is required"},
		{"add without data", `{"fileObjList":[{"filename":"a.txt"}]}`, 200, "contentsbase64.data is required"},
		{"update-only missing", `{"fileObjList":[{"action":"UPDATE-ONLY","id":4711,"contentsbase64":{"data":"QQ=="}}]}`, 200, "UPDATE-ONLY never adds"},
		{"delete missing", `{"fileObjList":[{"action":"DELETE","id":4711}]}`, 200, "no file object matches id 4711"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake, cl := newRaw(t)
			status, r := cl.do("POST", upd, c.body)
			if status != c.status || r.Result.Type != "ERROR" || !strings.Contains(r.Result.Msg, c.msg) {
				t.Fatalf("HTTP %d %+v, want %d ERROR containing %q", status, r.Result, c.status, c.msg)
			}
			if n := len(fake.Files("1000", "140", "FILEFIELD")); n != 0 {
				t.Fatalf("a refused request stored %d objects", n)
			}
		})
	}
}

func TestFakeActions(t *testing.T) {
	fake, cl := newRaw(t)
	// JSON escapes are decoded before base64: "\/" is "/".
	data := base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 0xfd, 0x3f})
	if !strings.Contains(data, "/") {
		t.Fatalf("test data %q lacks a slash", data)
	}
	status, r := cl.do("POST", upd, add("a.txt", strings.ReplaceAll(data, "/", `\/`)))
	if status != 200 || r.Result.Type != "OK" || len(r.Field.Objects) != 1 || r.Field.Objects[0].ID != 27 || r.Field.Objects[0].Size != 4 {
		t.Fatalf("add: %d %+v %+v", status, r.Result, r.Field)
	}
	sum := sha256.Sum256([]byte{0xff, 0xfe, 0xfd, 0x3f})
	if o := fake.Files("1000", "140", "FILEFIELD"); o[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatal("content hash wrong")
	}

	// NEW-ONLY on an existing object fails; the whole list is refused.
	_, r = cl.do("POST", upd, `{"fileObjList":[{"action":"NEW-ONLY","filename":"b.txt","contentsbase64":{"data":"Qg=="}},{"action":"NEW-ONLY","filename":"a.txt","contentsbase64":{"data":"QQ=="}}]}`)
	if r.Result.Type != "ERROR" || !strings.Contains(r.Result.Msg, "already exists") || len(fake.Files("1000", "140", "FILEFIELD")) != 1 {
		t.Fatalf("NEW-ONLY existing: %+v, field %d objects", r.Result, len(fake.Files("1000", "140", "FILEFIELD")))
	}

	// UPDATE-ONLY by uuid replaces the content; a blank name takes the filename.
	uuid := fake.Files("1000", "140", "FILEFIELD")[0].UUID
	_, r = cl.do("POST", upd, `{"fileObjList":[{"action":"UPDATE-ONLY","uuid":"`+uuid+`","filename":"a2.txt","contentsbase64":{"data":"QUJD"}}]}`)
	o := fake.Files("1000", "140", "FILEFIELD")[0]
	if r.Result.Type != "OK" || o.Size != 3 || o.Name != "a2.txt" || o.Updates != 1 {
		t.Fatalf("UPDATE-ONLY: %+v %+v", r.Result, o)
	}

	// The action defaults to NEW-UPDATE, which upserts by name.
	cl.do("POST", upd, `{"fileObjList":[{"filename":"a2.txt","contentsbase64":{"data":"QUJDRA=="}}]}`)
	if objs := fake.Files("1000", "140", "FILEFIELD"); len(objs) != 1 || objs[0].Size != 4 {
		t.Fatalf("NEW-UPDATE by name: %+v", objs)
	}
	cl.do("POST", upd, add("c.txt", ""))

	// GetFileField, with and without /jsonapi, GET and POST, filtered.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/jsonapi/GetFileField/UBG_ISSUES/140/189", ""},
		{"POST", "/GetFileField/Issues/9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4/FileField", `{"includeFile":false}`},
		{"POST", "/jsonapi/GetFileField/1000/140/FILEFIELD", ""},
	} {
		status, r := cl.do(c.method, c.path, c.body)
		if status != 200 || r.Field == nil || r.Field.Count != 2 {
			t.Fatalf("%s %s: %d %+v", c.method, c.path, status, r)
		}
	}
	_, r = cl.do("POST", "/jsonapi/GetFileField/1000/140/FILEFIELD", `{"includeFile":false,"fileObjFilter":["c.txt"]}`)
	if len(r.Field.Objects) != 1 || r.Field.Objects[0].Filename != "c.txt" {
		t.Fatalf("filter: %+v", r.Field)
	}
	if status, r := cl.do("POST", "/jsonapi/GetFileField/1000/140/FILEFIELD", `{"fileObjList":[]}`); status != 400 {
		t.Fatalf("GetFileField with fileObjList: %d %+v", status, r.Result)
	}

	// DELETE by id, then deleteAll.
	_, r = cl.do("POST", upd, `{"fileObjList":[{"action":"DELETE","id":27}]}`)
	if r.Result.Type != "OK" || len(fake.Files("1000", "140", "FILEFIELD")) != 1 {
		t.Fatalf("DELETE: %+v", r.Result)
	}
	cl.do("POST", upd, `{"deleteAll":true,"fileObjList":[]}`)
	if n := len(fake.Files("1000", "140", "FILEFIELD")); n != 0 {
		t.Fatalf("deleteAll left %d objects", n)
	}
}

func TestFakeAuthAndLock(t *testing.T) {
	fake, cl := newRaw(t)
	resp, err := http.Post(cl.srv.URL+upd, "application/json", strings.NewReader(add("a.txt", "")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d", resp.StatusCode)
	}
	resp, err = http.Post(cl.srv.URL+sbm.FakeTokenPath, "application/json", strings.NewReader(`{"username":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("token request without credentials object: %d", resp.StatusCode)
	}

	fake.Lock("1000", "140", "jsmith")
	_, r := cl.do("POST", upd, add("a.txt", ""))
	if r.Result.Type != "ERROR" || !strings.Contains(r.Result.Msg, "locked by user jsmith") {
		t.Fatalf("locked, breakLock false: %+v", r.Result)
	}
	// breakLock absent: the API's default true steals the lock.
	cl.do("POST", upd, `{"fileObjList":[{"filename":"b.txt","contentsbase64":{"data":""}}]}`)
	reqs := fake.Requests()
	if !reqs[len(reqs)-1].LockBroken || fake.LockedBy("1000", "140") != "" {
		t.Fatal("breakLock default did not steal the lock")
	}
}

func TestFakeNotFound(t *testing.T) {
	_, cl := newRaw(t)
	for path, want := range map[string]string{
		"/jsonapi/UpdateFileField/2000/140/FILEFIELD/0": "Table '2000' was not found.",
		"/jsonapi/UpdateFileField/1000/1/FILEFIELD/0":   "Item 1000:1 was not found.",
		"/jsonapi/UpdateFileField/1000/140/TITLE/0":     "Field 'TITLE' was not found in table 1000.",
		"/jsonapi/UpdateFileField/1000/140/FILEFIELD/9": "Transition '9' was not found for item 1000:140.",
	} {
		status, r := cl.do("POST", path, add("a.txt", ""))
		if status != 404 || r.Result.Msg != want {
			t.Errorf("%s: %d %q, want 404 %q", path, status, r.Result.Msg, want)
		}
	}
	if status, r := cl.do("POST", "/jsonapi/UpdateFileField/1000/140/FILEFIELD/UPDATE", add("a.txt", "")); status != 200 || r.Result.Type != "OK" {
		t.Errorf("transition by internal name: %d %+v", status, r.Result)
	}
}
