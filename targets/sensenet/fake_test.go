package sensenet_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

// part is one multipart part of a hand-built request: a field, or a file
// when file is set.
type part struct {
	name, value string
	file        string // file name; the part is a file with content value
}

// raw sends a hand-built request to the fake and returns status and body.
func raw(t *testing.T, b *bundle, method, path string, header map[string]string, parts ...part) (int, string) {
	t.Helper()
	var body bytes.Buffer
	ct := ""
	if len(parts) > 0 {
		w := multipart.NewWriter(&body)
		for _, p := range parts {
			if p.file == "" {
				w.WriteField(p.name, p.value)
				continue
			}
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", `form-data; name="`+p.name+`"; filename="`+p.file+`"`)
			pw, _ := w.CreatePart(h)
			io.WriteString(pw, p.value)
		}
		w.Close()
		ct = w.FormDataContentType()
	}
	if v, ok := header["body"]; ok {
		body.WriteString(v)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, &body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", "Bearer "+sensenet.DemoToken)
	for k, v := range header {
		switch {
		case k == "body":
		case v == "":
			req.Header.Del(k)
		default:
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestFakeSetupConfigWorks(t *testing.T) {
	fake, err := targets.NewFake("sensenet")
	if err != nil {
		t.Fatal(err)
	}
	b := serve(t)
	b.fake = fake.(*sensenet.Fake)
	b.srv.Config.Handler = fake
	setup := fake.Setup(b.srv.URL)
	env := targettest.Build(t, setup.Target, "destination: "+setup.Destination)
	b.env = env
	f, sum := env.File(t, "demo.txt", 1234)
	res := b.deliver(t, f, nil)
	if c := b.content(t, docs+"/demo.txt"); c.Current().SHA256 != sum || res.Remote.Version != "V1.0.A" {
		t.Fatalf("stored %+v, remote %+v", c.Current(), res.Remote)
	}
	if len(setup.Notes) == 0 || !strings.Contains(strings.Join(setup.Notes, " "), sensenet.DemoToken) {
		t.Fatalf("notes %q do not give the credentials", setup.Notes)
	}
}

// TestFakeJSClientProtocol replays what @sensenet/client-core sends: the
// lower-case URL with the entity after a slash, create in the multipart
// body with the first slice and a 0*0*False*False token, the first slice
// sent again, files under their own names.
func TestFakeJSClientProtocol(t *testing.T) {
	b := serve(t)
	data := strings.Repeat("0123456789", 30) // 300 bytes in chunks of 128
	url := "/odata.svc/Root/Content/('Documents')/upload"
	common := []part{{name: "FileName", value: "js file.txt"}, {name: "Overwrite", value: "true"}, {name: "PropertyName", value: "Binary"}, {name: "FileLength", value: "300"}, {name: "ContentType", value: "File"}}
	hdr := func(s, e int) map[string]string {
		return map[string]string{"Content-Range": "bytes " + strconv.Itoa(s) + "-" + strconv.Itoa(e) + "/300", "Content-Disposition": `attachment; filename="js%20file.txt"`}
	}
	status, token := raw(t, b, "POST", url, hdr(0, 127), append([]part{{name: "create", value: "1"}, {name: "UseChunk", value: "true"}, {name: "ChunkToken", value: "0*0*False*False"}}, append(common, part{name: "js file.txt", file: "js file.txt", value: data[:128]})...)...)
	if status != 200 || strings.Count(token, "*") != 3 || strings.Contains(token, "{") {
		t.Fatalf("create: %d %q, want a plain four-part token", status, token)
	}
	for _, r := range [][2]int{{0, 127}, {128, 255}, {256, 299}} {
		status, body := raw(t, b, "POST", url, hdr(r[0], r[1]), append([]part{{name: "ChunkToken", value: token}}, append(common, part{name: "js file.txt", file: "js file.txt", value: data[r[0] : r[1]+1]})...)...)
		var res struct {
			Name   string
			Length int64
			Id     int64
			Url    string
		}
		if status != 200 || json.Unmarshal([]byte(body), &res) != nil || res.Length != 300 || res.Name != "js file.txt" || res.Url != docs+"/js file.txt" {
			t.Fatalf("chunk %v: %d %s", r, status, body)
		}
	}
	c := b.content(t, docs+"/js file.txt")
	if c.Current().SHA256 != sha(data) || c.Current().FileName != "js file.txt" || c.Locked {
		t.Fatalf("stored %+v", c)
	}
	if n := b.fake.ChunkRequests(docs + "/js file.txt"); n[0] != 1 || len(n) != 3 {
		t.Fatalf("chunk counts %v; the create request's slice must not be stored", n)
	}
}

// TestFakeDotNetClientProtocol replays sensenet's .NET client: create in
// the query and a form-style body sent as JSON, file parts named files[].
func TestFakeDotNetClientProtocol(t *testing.T) {
	b := serve(t)
	status, token := raw(t, b, "POST", "/OData.svc/Root/Content('Documents')/Upload?create=1", map[string]string{
		"Content-Type": "application/json",
		"body":         "FileName=net.txt&ContentType=File&PropertyName=Binary&UseChunk=True&Overwrite=True&FileLength=5",
	})
	if status != 200 || !strings.HasSuffix(token, "*True*True") {
		t.Fatalf("create: %d %q", status, token)
	}
	status, body := raw(t, b, "POST", "/OData.svc/Root/Content('Documents')/Upload", map[string]string{"Content-Range": "bytes 0-4/5", "Content-Disposition": `attachment; filename="net.txt"`},
		part{name: "FileName", value: "net.txt"}, part{name: "ChunkToken", value: token}, part{name: "files[]", file: "net.txt", value: "hello"})
	if status != 200 || !strings.Contains(body, `"Length":5`) {
		t.Fatalf("chunk: %d %s", status, body)
	}
	if c := b.content(t, docs+"/NET.TXT"); c.Current().SHA256 != sha("hello") {
		t.Fatalf("stored %+v", c)
	}
}

func TestFakeStrictness(t *testing.T) {
	b := serve(t)
	up := "/OData.svc/Root/Content('Documents')/Upload"
	// A whole-file upload with the docs' three-part token is refused, as
	// the handler's CollectUploadData refuses it.
	status, body := raw(t, b, "POST", up, nil, part{name: "FileName", value: "a.txt"}, part{name: "ChunkToken", value: "5062*3196*True"}, part{name: "files[]", file: "a.txt", value: "x"})
	if status != 500 || !strings.Contains(body, "token") {
		t.Fatalf("three-part token: %d %s", status, body)
	}
	// No file and no FileText: the action returns null, 204.
	if status, _ := raw(t, b, "POST", up, nil, part{name: "FileName", value: "a.txt"}, part{name: "ChunkToken", value: "0**True*True"}); status != 204 {
		t.Fatalf("no file: %d, want 204", status)
	}
	// The file part may come first and have any field name.
	status, _ = raw(t, b, "POST", up, nil, part{name: "whatever", file: "a.txt", value: "first"}, part{name: "FileName", value: "a.txt"}, part{name: "ChunkToken", value: "0**True*True"})
	if c, ok := b.fake.Content(docs + "/a.txt"); status != 200 || !ok || c.Current().SHA256 != sha("first") {
		t.Fatalf("file before fields: %d %+v", status, c)
	}
	// A missing parent answers 404 without a body.
	status, body = raw(t, b, "POST", "/OData.svc/Root/Content('Nope')/Upload", nil, part{name: "FileName", value: "a.txt"}, part{name: "ChunkToken", value: "0**True*True"}, part{name: "f", file: "a.txt", value: "x"})
	if status != 404 || body != "" {
		t.Fatalf("missing parent: %d %q", status, body)
	}
	// No credentials, or wrong ones: 401. ?apikey= works.
	if status, _ := raw(t, b, "GET", "/OData.svc/Root/Content('Documents')", map[string]string{"Authorization": ""}); status != 401 {
		t.Fatalf("no credentials: %d", status)
	}
	if status, _ := raw(t, b, "GET", "/OData.svc/Root/Content('Documents')?apikey="+sensenet.DemoAPIKey, map[string]string{"Authorization": ""}); status != 200 {
		t.Fatalf("apikey in query: %d", status)
	}

	_, token := raw(t, b, "POST", up+"?create=1", nil, part{name: "FileName", value: "c.bin"}, part{name: "UseChunk", value: "true"}, part{name: "FileLength", value: "10"})
	chunk := func(h map[string]string, data string) (int, string) {
		return raw(t, b, "POST", up, h, part{name: "ChunkToken", value: token}, part{name: "FileName", value: "c.bin"}, part{name: "files[]", file: "c.bin", value: data})
	}
	if status, body := chunk(map[string]string{"Content-Range": "0-4/10"}, "01234"); status != 500 || !strings.Contains(body, "Content-Range") {
		t.Fatalf("Content-Range without bytes: %d %s", status, body)
	}
	if status, body := chunk(map[string]string{"Content-Range": "bytes 5-9/10"}, "56789"); status != 400 || !strings.Contains(body, "neither the next byte") {
		t.Fatalf("chunk leaving a gap: %d %s", status, body)
	}
	if status, body := chunk(map[string]string{"Content-Range": "bytes 0-4/10"}, "0123"); status != 400 || !strings.Contains(body, "declares 5") {
		t.Fatalf("short chunk: %d %s", status, body)
	}
	if status, _ := chunk(map[string]string{"Content-Range": "bytes 0-4/10"}, "01234"); status != 200 {
		t.Fatalf("chunk 1: %d", status)
	}
	if status, body := chunk(map[string]string{"Content-Range": "bytes 5-9/10"}, "56789"); status != 400 || !strings.Contains(body, "Content-Disposition") {
		t.Fatalf("last chunk without Content-Disposition: %d %s", status, body)
	}
	if status, body := chunk(map[string]string{"Content-Range": "bytes 5-9/10", "Content-Disposition": `attachment; filename="c.bin"`}, "56789"); status != 200 {
		t.Fatalf("last chunk: %d %s", status, body)
	}
	if c := b.content(t, docs+"/c.bin"); c.Current().SHA256 != sha("0123456789") {
		t.Fatalf("stored %+v", c)
	}
	// The token is spent once the upload committed.
	if status, body := chunk(map[string]string{"Content-Range": "bytes 5-9/10", "Content-Disposition": `attachment; filename="c.bin"`}, "56789"); status != 500 || !strings.Contains(body, "token mismatch") {
		t.Fatalf("spent token: %d %s", status, body)
	}
}

// TestFakeEmptyTrailingChunkResets shows why a client must never send the
// JS client's empty trailing chunk: sensenet resets the content to empty.
func TestFakeEmptyTrailingChunkResets(t *testing.T) {
	b := serve(t)
	up := "/OData.svc/Root/Content('Documents')/Upload"
	_, token := raw(t, b, "POST", up+"?create=1", nil, part{name: "FileName", value: "e.bin"}, part{name: "UseChunk", value: "true"}, part{name: "FileLength", value: "4"})
	h := map[string]string{"Content-Range": "bytes 0-3/4", "Content-Disposition": `attachment; filename="e.bin"`}
	raw(t, b, "POST", up, h, part{name: "ChunkToken", value: token}, part{name: "FileName", value: "e.bin"}, part{name: "files[]", file: "e.bin", value: "data"})
	if c := b.content(t, docs+"/e.bin"); c.Current().Size != 4 {
		t.Fatalf("after the data: %+v", c.Current())
	}
	h["Content-Range"] = "bytes 4-3/4"
	status, _ := raw(t, b, "POST", up, h, part{name: "ChunkToken", value: token}, part{name: "FileName", value: "e.bin"}, part{name: "files[]", file: "e.bin", value: ""})
	if c := b.content(t, docs+"/e.bin"); status != 200 || c.Current().Size != 0 || c.Current().SHA256 != sha("") {
		t.Fatalf("after the empty chunk: %d %+v, want the content reset to empty", status, c.Current())
	}
}

func TestFakeODataRequests(t *testing.T) {
	b := serve(t)
	// Folder creation with models=[...], a name clash, the JSON entity.
	create := func(name string) (int, string) {
		return raw(t, b, "POST", "/OData.svc/Root/Content/Documents", map[string]string{"Content-Type": "application/json", "body": `models=[{"__ContentType":"Folder","Name":"` + name + `"}]`})
	}
	if status, body := create("a&b=c"); status != 200 || !strings.Contains(body, `"Name":"a-b-c"`) {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body := create("A+B#C"); status != 403 || !strings.Contains(body, "ContentAlreadyExists") {
		t.Fatalf("clash: %d %s", status, body)
	}
	status, body := raw(t, b, "GET", "/OData.svc/Root/Content/Documents('A-B-C')?$select=Id,Name", nil)
	var e struct{ D map[string]any }
	if status != 200 || json.Unmarshal([]byte(body), &e) != nil || e.D["Name"] != "a-b-c" || len(e.D) != 2 {
		t.Fatalf("get: %d %s", status, body)
	}
	if status, _ := raw(t, b, "GET", "/OData.svc/Root/Content/Documents('nope')", nil); status != 404 {
		t.Fatalf("missing: %d", status)
	}
	if status, body := raw(t, b, "GET", "/OData.svc/('Root')", nil); status != 200 || !strings.Contains(body, `"Path":"/Root"`) {
		t.Fatalf("root: %d %s", status, body)
	}
	if status, _ := raw(t, b, "DELETE", "/OData.svc/Root/Content/Documents('nope')", nil); status/100 != 2 {
		t.Fatalf("delete missing: %d", status)
	}
	if status, _ := raw(t, b, "GET", "/api/Root", nil); status != 400 {
		t.Fatalf("not OData: %d", status)
	}
}

func TestFakeKnobs(t *testing.T) {
	b := setup(t, "")
	if _, err := b.fake.AddFolder(docs + "/pre/made"); err != nil {
		t.Fatal(err)
	}
	if c := b.content(t, docs+"/pre/made"); c.Type != "Folder" {
		t.Fatalf("AddFolder made %+v", c)
	}
	f, _ := b.env.File(t, "pre/made/k.txt", 100)
	try := func() error {
		_, err := b.env.Deliver(context.Background(), f, nil)
		return err
	}
	b.fake.FailNext(1, 500)
	if err := try(); kindOf(err) != targets.Retryable || !strings.Contains(err.Error(), "Injected failure") {
		t.Fatalf("FailNext: %v", err)
	}
	b.fake.ThrottleNext(1, 429, 9)
	if k, wait := targets.Classify(try()); k != targets.Throttled || wait != 9*time.Second {
		t.Fatalf("ThrottleNext: %v %v", k, wait)
	}
	b.fake.ResetNext(1)
	if err := try(); kindOf(err) != targets.Retryable {
		t.Fatalf("ResetNext: %v", err)
	}
	b.fake.Inject(5, sensenet.Fault{Status: 403})
	b.fake.ClearFaults()
	if err := try(); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
	// The version read-back fails after the upload: the delivery stands,
	// without a version.
	b.fake.Inject(1, sensenet.Fault{Op: sensenet.OpGet, AfterProcessing: true, Status: 500})
	res, err := b.env.Deliver(context.Background(), f, nil)
	if err != nil || res.Remote.ID == "" || res.Remote.Version != "" {
		t.Fatalf("lost version read-back: %+v, %v", res, err)
	}
	// A listing of the folder.
	status, body := raw(t, b, "GET", "/OData.svc/Root/Content/Documents/pre/made?$select=Name", nil)
	if status != 200 || !strings.Contains(body, `"results":[{"Name":"k.txt"}]`) {
		t.Fatalf("listing: %d %s", status, body)
	}
	b.fake.SetCredentials("rotated", "")
	if err := try(); kindOf(err) != targets.Auth {
		t.Fatalf("old token after SetCredentials: %v", err)
	}
	if status, _ := raw(t, b, "GET", "/OData.svc/('Root')?apikey="+sensenet.DemoAPIKey, map[string]string{"Authorization": ""}); status != 401 {
		t.Fatalf("disabled apikey: %d", status)
	}
}
