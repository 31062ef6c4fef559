package connections

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/dropsync/dropsync/targets"
)

// Namespaces of the Activities Atom documents.
const (
	atomNS = "http://www.w3.org/2005/Atom"
	snxNS  = "http://www.ibm.com/xmlns/prod/sn"
)

// fileField is a <snx:field type="file"> of an activity node:
//
//	<snx:field name="report.pdf" fid="…" position="2000" type="file">
//	  <link href="…" type="application/pdf" size="1234"/>
//	</snx:field>
type fileField struct {
	Name     string
	FID      string
	Position int64
	MIME     string
	Size     int64
}

type xmlField struct {
	Name     string `xml:"name,attr"`
	FID      string `xml:"fid,attr"`
	Position string `xml:"position,attr"`
	Type     string `xml:"type,attr"`
	Link     struct {
		Type string `xml:"type,attr"`
		Size string `xml:"size,attr"`
	} `xml:"http://www.w3.org/2005/Atom link"`
}

// parseFields returns the file fields in an Atom entry or feed, in document
// order. Other field types (text, date, person, link) are left out.
func parseFields(r io.Reader) ([]fileField, error) {
	dec := xml.NewDecoder(r)
	var out []fileField
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Space != snxNS || se.Name.Local != "field" {
			continue
		}
		var x xmlField
		if err := dec.DecodeElement(&x, &se); err != nil {
			return nil, err
		}
		if x.Type != "file" || x.FID == "" {
			continue
		}
		pos, _ := strconv.ParseInt(x.Position, 10, 64)
		size, _ := strconv.ParseInt(x.Link.Size, 10, 64)
		out = append(out, fileField{Name: x.Name, FID: x.FID, Position: pos, MIME: x.Link.Type, Size: size})
	}
}

// serverWords extracts a readable message from an error response body: the
// <message> of an XML error document (any namespace), or a short plain-text
// body. HTML pages (proxies, login forms) give nothing: the status says more.
func serverWords(body []byte, contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	body = bytes.TrimSpace(body)
	if len(body) == 0 || mt == "text/html" || bytes.HasPrefix(bytes.ToLower(body), []byte("<!doctype html")) {
		return ""
	}
	if body[0] == '<' {
		dec := xml.NewDecoder(bytes.NewReader(body))
		for {
			tok, err := dec.Token()
			if err != nil {
				return ""
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "message" {
				var s string
				if dec.DecodeElement(&s, &se) != nil {
					return ""
				}
				return targets.Shorten(s)
			}
		}
	}
	return targets.Shorten(string(body))
}

// contentType is the MIME type sent for a file name. Atom and multipart
// types are never sent for file content: the server would read the body as
// an entry to create, and the two-phase API refuses them.
func contentType(name string) string {
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		ext = name[i:]
	}
	t := mime.TypeByExtension(strings.ToLower(ext))
	mt, _, err := mime.ParseMediaType(t)
	if t == "" || err != nil || mt == "application/atom+xml" || strings.HasPrefix(mt, "multipart/") {
		return "application/octet-stream"
	}
	return t
}

// slug encodes a file name for the Slug and Title headers as RFC 5023
// §9.7.1 asks: printable ASCII as is, every other byte and "%" as %XX of
// its UTF-8.
func slug(name string) string {
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isAtom reports whether a response carries an Atom document.
func isAtom(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/atom+xml" || mt == "application/xml" || mt == "text/xml"
}
