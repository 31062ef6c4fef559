package sensenet_test

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets/sensenet"
)

// TestFakeReadsWholeFormBeforeDeciding replays the initial request of
// @sensenet/client-core 4.2.0 in its real field order: the token
// 0*0*False*False and the parameters, then the first slice of the file,
// then UseChunk and create, with Content-Range and Content-Disposition
// headers. sensenet reads the whole form before it acts, so this is an
// initial request (create is present) and the answer is a chunk token;
// the data chunks that follow carry only FileLength, ChunkToken,
// PropertyName and the slice.
func TestFakeReadsWholeFormBeforeDeciding(t *testing.T) {
	b := serve(t)
	data := strings.Repeat("abcdefghij", 30) // 300 bytes in chunks of 128
	url := "/odata.svc/Root/Content/('Documents')/upload"
	hdr := func(s, e int) map[string]string {
		return map[string]string{"Content-Range": "bytes " + strconv.Itoa(s) + "-" + strconv.Itoa(e) + "/300", "Content-Disposition": `attachment; filename="js%20order.txt"`}
	}
	status, token := raw(t, b, "POST", url, hdr(0, 127),
		part{name: "ChunkToken", value: "0*0*False*False"}, part{name: "FileName", value: "js order.txt"}, part{name: "Overwrite", value: "true"},
		part{name: "PropertyName", value: "Binary"}, part{name: "FileLength", value: "300"}, part{name: "ContentType", value: "File"},
		part{name: "js order.txt", file: "js order.txt", value: data[:128]},
		part{name: "UseChunk", value: "true"}, part{name: "create", value: "1"})
	if status != 200 || strings.Count(token, "*") != 3 || strings.Contains(token, "**") {
		t.Fatalf("initial request: %d %q, want a four-part token with a blob token", status, token)
	}
	if n := b.fake.Requests(sensenet.OpCreate); n != 1 {
		t.Fatalf("%d create requests counted, want 1", n)
	}
	for _, r := range [][2]int{{0, 127}, {128, 255}, {256, 299}} {
		status, body := raw(t, b, "POST", url, hdr(r[0], r[1]),
			part{name: "FileLength", value: "300"}, part{name: "ChunkToken", value: token}, part{name: "PropertyName", value: "Binary"},
			part{name: "js order.txt", file: "js order.txt", value: data[r[0] : r[1]+1]})
		if status != 200 || !strings.Contains(body, `"Length":300`) {
			t.Fatalf("chunk %v: %d %s", r, status, body)
		}
	}
	c := b.content(t, docs+"/js order.txt")
	if c.Current().SHA256 != sha(data) || c.Locked || len(c.Versions) != 1 {
		t.Fatalf("stored %+v", c)
	}
}

// TestFakeSpoolsFilePartsAndCleansUp: a file part is held (in memory up
// to 64 KiB, beyond in a temporary file) while the rest of the form is
// read; the file is gone once the request is answered, and a part over
// the spool limit is refused.
func TestFakeSpoolsFilePartsAndCleansUp(t *testing.T) {
	b := serve(t)
	dir := t.TempDir()
	b.fake.SetSpool(dir, 100<<10)
	up := "/OData.svc/Root/Content('Documents')/Upload"
	for _, size := range []int{7, 64 << 10, 64<<10 + 1, 100 << 10} {
		data := strings.Repeat("s", size)
		status, body := raw(t, b, "POST", up, nil, part{name: "ChunkToken", value: "0**True*True"}, part{name: "f", file: "s.txt", value: data}, part{name: "FileName", value: "s.txt"})
		if status != 200 || b.content(t, docs+"/s.txt").Current().SHA256 != sha(data) {
			t.Fatalf("upload of %d bytes: %d %s", size, status, body)
		}
	}
	status, body := raw(t, b, "POST", up, nil, part{name: "FileName", value: "big.txt"}, part{name: "ChunkToken", value: "0**True*True"}, part{name: "f", file: "big.txt", value: strings.Repeat("x", 100<<10+1)})
	if status != 413 || !strings.Contains(body, "102400") {
		t.Fatalf("part over the spool limit: %d %s, want 413", status, body)
	}
	if _, ok := b.fake.Content(docs + "/big.txt"); ok {
		t.Fatal("a refused upload created a content")
	}
	left, err := os.ReadDir(dir)
	if err != nil || len(left) != 0 {
		t.Fatalf("spool folder holds %v (%v), want nothing", left, err)
	}
}

// TestFakeNamesContentLikeTheServer: the Upload action and OData creation
// derive the content name through the ContentNamingProvider (FACTS.md
// §5.6), names are case-insensitive, and incremental names come after
// sanitising.
func TestFakeNamesContentLikeTheServer(t *testing.T) {
	b := serve(t)
	up := "/OData.svc/Root/Content('Documents')/Upload"
	upload := func(name, data, overwrite string) (int, string) {
		return raw(t, b, "POST", up, nil, part{name: "FileName", value: name}, part{name: "Overwrite", value: overwrite},
			part{name: "ChunkToken", value: "0**True*True"}, part{name: "files[]", file: "f.bin", value: data})
	}
	for _, c := range []struct{ local, server string }{
		{"a+b#c.txt", "a-b-c.txt"},
		{"Q&A: notes?.pdf", "Q-A- notes-.pdf"},
		{"draft-", "draft"},
		{"x--z...", "x-z"},
		{`$&+\,:;=?@"<>#%{}|^~[]'’` + "`*.bin", "-.bin"},
		{"ünï cödé.txt", "ünï cödé.txt"},
	} {
		status, body := upload(c.local, c.local, "true")
		var res struct{ Name, Url string }
		if status != 200 || json.Unmarshal([]byte(body), &res) != nil || res.Name != c.server || res.Url != docs+"/"+c.server {
			t.Errorf("%q: %d %s, want the name %q", c.local, status, body, c.server)
			continue
		}
		if got := b.content(t, docs+"/"+c.server); got.Current().SHA256 != sha(c.local) {
			t.Errorf("%q: stored %+v", c.local, got)
		}
	}
	// Another spelling of the same name is the same content.
	if status, body := upload("A+B&C.TXT", "v2", "true"); status != 200 || !strings.Contains(body, `"Name":"a-b-c.txt"`) {
		t.Fatalf("same name, other case and characters: %d %s", status, body)
	}
	if c := b.content(t, docs+"/a-b-c.txt"); len(c.Versions) != 2 || c.Current().SHA256 != sha("v2") {
		t.Fatalf("versions %+v, want the second upload as version 2", c.Versions)
	}
	// Overwrite=false: name(1).ext of the sanitised name.
	if status, body := upload("a#b#c.txt", "v3", "false"); status != 200 || !strings.Contains(body, `"Name":"a-b-c(1).txt"`) {
		t.Fatalf("incremental name: %d %s", status, body)
	}
	// Folders created through OData go through the same provider.
	status, body := raw(t, b, "POST", "/OData.svc/Root/Content/Documents", map[string]string{"Content-Type": "application/json", "body": `models=[{"__ContentType":"Folder","Name":"x&y"}]`})
	if status != 200 || !strings.Contains(body, `"Name":"x-y"`) || !strings.Contains(body, `"Path":"`+docs+`/x-y"`) {
		t.Fatalf("folder: %d %s", status, body)
	}
	if c := b.content(t, docs+"/X-Y"); c.Type != "Folder" {
		t.Fatalf("folder stored as %+v", c)
	}
}
