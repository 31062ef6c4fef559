package blueworks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path"
	"strings"
	"sync"

	"github.com/dropsync/dropsync/targets"
)

const opUpload = "blueworks: FileUpload"

// failedAttempts caps how often a FileUpload answered with status FAILED
// is tried in all before the file goes to the failed list.
const failedAttempts = 3

// failedClass counts the answers that are not SUCCESS (FAILED, an unknown
// status, not FileUpload's JSON) apart from other failures of the file:
// only these count towards failedAttempts.
const failedClass = "blueworks: FileUpload not SUCCESS"

// Put uploads the file as a new attachment in one streamed multipart
// request. The request is sent again, from the start of the file, after a
// 401 (with a fresh token) and after a host move to the account's server.
func (t *Target) Put(ctx context.Context, f *targets.File, p *targets.Plan, body *targets.Body) (targets.Remote, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return targets.Remote{}, fmt.Errorf("%s %s: destination is %T, not from Watch", opUpload, f.Rel, f.Dest)
	}
	fm := newForm(d, p.Name, body.Len())

	// Each attempt reads the body through its own gate. Closing the gate
	// of the previous attempt before rewinding waits for a read the
	// transport may still be doing on it (it can keep writing a request
	// body after the response arrived) and stops any later one, so the
	// rewound body is read by one request at a time.
	var cur *gate
	attempt := func() (*gate, error) {
		if cur != nil {
			cur.Close()
		}
		if err := body.Rewind(); err != nil {
			return nil, err
		}
		cur = &gate{r: fm.reader(body)}
		return cur, nil
	}
	defer func() {
		if cur != nil {
			cur.Close()
		}
	}()

	resp, err := t.client.Do(ctx, opUpload, func() (*http.Request, error) {
		g, err := attempt()
		if err != nil {
			return nil, err
		}
		req, err := t.newRequest(d, g, fm.length, fm.contentType)
		if err != nil {
			return nil, err
		}
		req.GetBody = func() (io.ReadCloser, error) { return attempt() }
		return req, nil
	})
	if err != nil {
		var me *moveError
		if errors.As(err, &me) {
			return targets.Remote{}, &targets.Error{Kind: targets.Permanent, Op: opUpload, Msg: me.Error(), Err: err}
		}
		return targets.Remote{}, err
	}
	return t.result(resp, p, d)
}

// form is a FileUpload multipart body: the text fields and the file part's
// header (head), the file, and the closing boundary (tail). Computing the
// framing up front gives the exact Content-Length.
type form struct {
	head, tail  string
	contentType string
	length      int64
}

// newForm lays out the form for a file of size bytes named name.
func newForm(d *Destination, name string, size int64) *form {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	// Writes to a bytes.Buffer cannot fail.
	_ = mw.WriteField("locationField", d.Location)
	_ = mw.WriteField("ancestorIdField", d.AncestorID)
	_ = mw.WriteField("parentIdField", d.ParentID)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", multipart.FileContentDisposition("fileData", name))
	h.Set("Content-Type", contentTypeOf(name))
	_, _ = mw.CreatePart(h)
	fm := &form{
		head:        buf.String(),
		tail:        "\r\n--" + mw.Boundary() + "--\r\n",
		contentType: mw.FormDataContentType(),
	}
	fm.length = int64(len(fm.head)) + size + int64(len(fm.tail))
	return fm
}

// reader returns the whole form with body as the file's bytes.
func (fm *form) reader(body io.Reader) io.Reader {
	return io.MultiReader(strings.NewReader(fm.head), body, strings.NewReader(fm.tail))
}

// contentTypeOf guesses a file's content type from its extension.
func contentTypeOf(name string) string {
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// gate is one attempt's request body. Close waits for a Read in progress
// and makes every later Read fail.
type gate struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
}

var errGateClosed = errors.New("request body closed: the request was sent again")

func (g *gate) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errGateClosed
	}
	return g.r.Read(p)
}

// Close implements io.Closer; it is safe to call more than once.
func (g *gate) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	return nil
}

// reply is FileUpload's JSON answer. Its values are strings in the
// documentation's example; str also accepts numbers.
type reply struct {
	Status     str `json:"status"`
	ID         str `json:"id"`
	FileItemID str `json:"fileItemId"`
	Type       str `json:"type"`
	Name       str `json:"name"`
}

// str is a JSON string that also accepts a number, a boolean or null.
type str string

func (s *str) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		*s = ""
	case string:
		*s = str(v)
	default:
		*s = str(strings.TrimSpace(string(b)))
	}
	return nil
}

// result turns FileUpload's answer into the remote attachment or a
// classified error. d is the destination the request was sent for.
//
// A 403 without X-On-Behalf-Of is about the Service ID itself (no Artifact
// Authoring category, API not enabled): Auth, no file of the target can
// go. With X-On-Behalf-Of it is about that user (not allowed to attach
// to that item, or not a user the Service ID may act for): Permanent for
// this file with the server's words, so that other watches, for other
// users, keep going.
//
// A 2xx answer that is not JSON at all (an SSO proxy's login page, a
// maintenance page) reached no API: Unreachable, the target goes down and
// a probe tests it while the files wait. Only malformed JSON counts
// towards failedAttempts.
func (t *Target) result(resp *http.Response, p *targets.Plan, d *Destination) (targets.Remote, error) {
	raw, cut := targets.ReadAnswer(opUpload, resp)
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return targets.Remote{}, &targets.Error{Kind: targets.Permanent, Op: opUpload, Status: resp.StatusCode,
			Msg: fmt.Sprintf("the server redirected to %q; dropsync follows only a 301 host move to the account's own server, so set url to the server Blueworks names", resp.Header.Get("Location"))}
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		e := targets.StatusError(opUpload, resp, serverText(raw))
		if resp.StatusCode == http.StatusForbidden {
			if d.OnBehalfOf != "" {
				// About the user named in X-On-Behalf-Of, not the Service ID.
				e.Kind = targets.Permanent
				e.Msg = fmt.Sprintf("refused for on_behalf_of user %q: %s", d.OnBehalfOf, e.Msg)
			} else {
				e.Kind = targets.Auth // the Service ID may not upload (category, API not enabled): no file can go
			}
		}
		return targets.Remote{}, e
	}
	if cut != nil {
		return targets.Remote{}, cut // attached, perhaps: not a plain retry
	}
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		if targets.NotJSON(resp.Header, raw) {
			return targets.Remote{}, targets.NotTheAPI(opUpload, resp.StatusCode, raw, "FileUpload's JSON")
		}
		return targets.Remote{}, &targets.Error{Kind: targets.Retryable, MaxAttempts: failedAttempts, Class: failedClass, Op: opUpload, Status: resp.StatusCode,
			Msg: "the answer is not FileUpload's JSON: " + serverText(raw)}
	}
	switch r.Status {
	case "SUCCESS":
		id := string(r.ID)
		if id == "" {
			return targets.Remote{}, targets.Errorf(targets.Permanent, opUpload, "status SUCCESS without an id (fileItemId %q): the file may be attached but dropsync cannot record it", r.FileItemID)
		}
		name := string(r.Name)
		if name == "" {
			name = p.Name
		}
		extra := map[string]string{}
		if r.FileItemID != "" {
			extra["fileItemId"] = string(r.FileItemID)
		}
		if r.Type != "" {
			extra["type"] = string(r.Type)
		}
		return targets.Remote{ID: id, Name: name, Extra: extra}, nil
	case "SIZE":
		return targets.Remote{}, targets.Errorf(targets.Permanent, opUpload, "status SIZE: the file is larger than the 50 MB limit")
	case "SPACE":
		return targets.Remote{}, targets.Errorf(targets.Permanent, opUpload, "status SPACE: the account has no space left; free space in Blueworks, then `dropsync queue retry` sends the file again")
	case "FAILED_DELETED":
		return targets.Remote{}, targets.Errorf(targets.Permanent, opUpload, "status FAILED_DELETED: the server rejected the file (virus or not-permitted content)")
	case "FAILED":
		e := targets.Errorf(targets.Retryable, opUpload, "status FAILED: the upload failed")
		e.MaxAttempts, e.Class = failedAttempts, failedClass
		return targets.Remote{}, e
	}
	e := targets.Errorf(targets.Retryable, opUpload, "unexpected status %q", r.Status)
	e.MaxAttempts, e.Class = failedAttempts, failedClass
	return targets.Remote{}, e
}

// serverText extracts the server's own words from an error body: a JSON
// message field if there is one, else the text without markup, shortened.
func serverText(raw []byte) string {
	var obj map[string]any
	if json.Unmarshal(raw, &obj) == nil {
		for _, k := range []string{"message", "errorMessage", "error_description", "error", "detail", "status"} {
			if s, ok := obj[k].(string); ok && strings.TrimSpace(s) != "" {
				return targets.Shorten(s)
			}
		}
	}
	return targets.Shorten(string(raw))
}
