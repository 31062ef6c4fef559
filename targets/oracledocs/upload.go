package oracledocs

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"path"
	"strings"
)

// form is a multipart/form-data upload whose small parts are encoded up
// front: head (jsonInputParameters and the primaryFile part header), the
// file streamed from disk, then tail (metadataValues and the closing
// boundary). Its length is exact, so the request carries a Content-Length
// and memory does not grow with the file.
type form struct {
	contentType string
	head, tail  []byte
}

// newForm encodes the parts around the file: jsonInputParameters first
// when params is not nil (Upload File requires it before primaryFile),
// then the primaryFile header with the remote name, and after the file the
// metadataValues part when metadata is not nil.
func newForm(params []byte, name string, metadata []byte) (*form, error) {
	if strings.ContainsAny(name, "\r\n") {
		return nil, fmt.Errorf("file name %q contains a line break, which the upload cannot carry", name)
	}
	var head, tail bytes.Buffer
	sw := &switchWriter{w: &head}
	mw := multipart.NewWriter(sw)
	if params != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="jsonInputParameters"`)
		if err := writePart(mw, h, params); err != nil {
			return nil, err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="primaryFile"; filename="%s"`, quoteEscaper.Replace(name)))
	h.Set("Content-Type", contentType(name))
	if _, err := mw.CreatePart(h); err != nil {
		return nil, err
	}
	sw.w = &tail
	if metadata != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="metadataValues"`)
		h.Set("Content-Type", "application/json")
		if err := writePart(mw, h, metadata); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return &form{contentType: mw.FormDataContentType(), head: head.Bytes(), tail: tail.Bytes()}, nil
}

func writePart(mw *multipart.Writer, h textproto.MIMEHeader, data []byte) error {
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// reader returns the whole request body around file; each call starts
// afresh (file must be rewound by the caller).
func (f *form) reader(file io.Reader) io.Reader {
	return io.MultiReader(bytes.NewReader(f.head), file, bytes.NewReader(f.tail))
}

// size is the request body's length for a file of n bytes.
func (f *form) size(n int64) int64 { return int64(len(f.head)) + n + int64(len(f.tail)) }

// switchWriter lets one multipart.Writer write its framing into the head
// and then the tail buffer.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// quoteEscaper escapes a file name for a quoted header parameter, as
// mime/multipart does.
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// contentType guesses the primaryFile part's type from the name's
// extension.
func contentType(name string) string {
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
		return t
	}
	return "application/octet-stream"
}
