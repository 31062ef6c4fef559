package connections

import (
	"net/http"
	"strings"
	"testing"
)

func TestParseFields(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:snx="http://www.ibm.com/xmlns/prod/sn">
  <entry>
    <snx:field name="due" fid="d1" position="1000" type="date">2026-01-01</snx:field>
    <snx:field name="a.pdf" fid="f1" position="2000" type="file">
      <link href="https://x/download/f1" type="application/pdf" size="1234"/>
    </snx:field>
  </entry>
  <entry><x:field xmlns:x="http://www.ibm.com/xmlns/prod/sn" name="b.txt" fid="f2" position="3000" type="file"/></entry>
</feed>`
	got, err := parseFields(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []fileField{{Name: "a.pdf", FID: "f1", Position: 2000, MIME: "application/pdf", Size: 1234}, {Name: "b.txt", FID: "f2", Position: 3000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseFields(strings.NewReader("<entry><snx:field")); err == nil {
		t.Error("truncated XML parsed without error")
	}
}

func TestServerWords(t *testing.T) {
	for _, tc := range []struct{ body, ct, want string }{
		{`<error xmlns="http://www.ibm.com/xmlns/prod/sn"><code>X</code><message> File  too
 large </message></error>`, "application/xml", "File too large"},
		{`<lcx:error xmlns:lcx="urn:x"><lcx:message>Denied</lcx:message></lcx:error>`, "text/xml", "Denied"},
		{"plain words\n", "text/plain", "plain words"},
		{"<html><body>Proxy error</body></html>", "text/html; charset=utf-8", ""},
		{"", "", ""},
		{strings.Repeat("é", 400), "text/plain", strings.Repeat("é", 150) + "…"},
	} {
		if got := serverWords([]byte(tc.body), tc.ct); got != tc.want {
			t.Errorf("serverWords(%.40q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestFreeName(t *testing.T) {
	fields := []fileField{{Name: "a.pdf"}, {Name: "A(1).PDF"}, {Name: "a(3).pdf"}, {Name: ".profile"}}
	for name, want := range map[string]string{
		"a.pdf":      "a(2).pdf",
		"b.tar.gz":   "b.tar(1).gz",
		".profile":   ".profile(1)",
		"noext":      "noext(1)",
		"other.docx": "other(1).docx",
	} {
		if got := freeName(name, fields); got != want {
			t.Errorf("freeName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestSlugAndContentType(t *testing.T) {
	if got, want := slug("März 100%.pdf"), "M%C3%A4rz 100%25.pdf"; got != want {
		t.Errorf("slug = %q, want %q", got, want)
	}
	for name, want := range map[string]string{
		"a.pdf":   "application/pdf",
		"A.PDF":   "application/pdf",
		"x.atom":  "application/octet-stream", // never read as an Atom entry
		"noext":   "application/octet-stream",
		"x.weird": "application/octet-stream",
	} {
		if got := contentType(name); got != want {
			t.Errorf("contentType(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestIDFromLocation(t *testing.T) {
	for loc, want := range map[string]string{
		"https://c/activities/service/atom2/activitynode?activityNodeUuid=abc": "abc",
		"https://c/x?fid=f9": "f9",
		"":                   "",
		"https://c/x":        "",
	} {
		if got := idFromLocation(loc); got != want {
			t.Errorf("idFromLocation(%q) = %q, want %q", loc, got, want)
		}
	}
	h := http.Header{"Content-Type": {"application/atom+xml;type=entry"}}
	if !isAtom(h) {
		t.Error("isAtom(application/atom+xml;type=entry) = false")
	}
}
