package connections

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/dropsync/dropsync/targets"
)

// Headers of the 2-phase upload API.
const (
	hdrMethod = "X-IBM-UPLOAD-METHOD" // "phases", in both phases
	hdrSize   = "X-IBM-UPLOAD-SIZE"   // phase 1: the file size in bytes
	hdrToken  = "X-IBM-UPLOAD-TOKEN"  // phase 1 response; phase 2 request
	phases    = "phases"
)

// meanings are the documented meanings of the error statuses; the server's
// own words follow them in the message.
var meanings = map[int]string{
	http.StatusBadRequest:            "bad request",
	http.StatusForbidden:             "forbidden, or the server rejected the content (virus/not permitted)",
	http.StatusNotFound:              "activity or file field not found",
	http.StatusRequestEntityTooLarge: "file exceeds the server's limit",
	http.StatusUnsupportedMediaType:  "file type not supported",
}

// readFields returns the file fields of activity node id.
func (t *Target) readFields(ctx context.Context, id string) ([]fileField, error) {
	const op = "connections: read activity node"
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, t.nodeURL(id), nil)
		if err == nil {
			req.Header.Set("Accept", "application/atom+xml")
		}
		return req, err
	})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(op, resp)
	}
	body := targets.ReadBody(resp)
	if targets.IsPage(resp.Header, body) {
		return nil, pageError(op, resp, body, "the activity node's Atom entry")
	}
	fields, err := parseFields(bytes.NewReader(body))
	if err != nil {
		return nil, &targets.Error{Kind: targets.Retryable, Op: op, Msg: "unreadable Atom entry: " + err.Error(), Err: err}
	}
	return fields, nil
}

// Put sends a file below chunk_threshold. A new field is one raw-body POST
// (201 Created). A replacement goes through the two-phase PUT, as the
// reference SDK does for every update, because a plain PUT of a node
// replaces its whole Atom entry; its token is not recorded, since a failed
// small upload is cheaper to start over.
func (t *Target) Put(ctx context.Context, f *targets.File, p *targets.Plan, body *targets.Body) (_ targets.Remote, err error) {
	defer func() { t.plans.Settle(f, p, err) }()
	if p.Existing != nil {
		token, err := t.phase1(ctx, body.Len(), p)
		if err != nil {
			return targets.Remote{}, err
		}
		r, err := t.phase2(ctx, p, token, body)
		if err != nil {
			return targets.Remote{}, err
		}
		return *r, nil
	}
	const op = "connections: upload file"
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		req, err := newUpload(http.MethodPost, t.activityURL(p.Parent), body)
		if err == nil {
			setNames(req, p.Name)
		}
		return req, err
	})
	if err != nil {
		return targets.Remote{}, err
	}
	if resp.StatusCode/100 != 2 {
		return targets.Remote{}, statusError(op, resp)
	}
	r, err := t.created(ctx, op, resp, p, false)
	if err != nil {
		return targets.Remote{}, err
	}
	return *r, nil
}

// StartSession is phase 1: it announces the upload (method header and size,
// no file in the body) to the create or replace URL and returns the token
// from the X-IBM-UPLOAD-TOKEN response header.
func (t *Target) StartSession(ctx context.Context, f *targets.File, p *targets.Plan) (string, error) {
	return t.phase1(ctx, f.Size, p)
}

// PutChunk is phase 2: the whole file in the body with the phase-1 token.
// The plan's chunk size is the file size, so the driver calls it once per
// session, and again with the same token after a restart. A token the server
// rejects (400, 404, 409, 410 or 412 in phase 2) wraps
// targets.ErrSessionInvalid, so the driver starts over with phase 1; if that
// fails the same way the error stands, as a permanent one.
func (t *Target) PutChunk(ctx context.Context, f *targets.File, p *targets.Plan, token string, c targets.Chunk) (*targets.Remote, error) {
	if c.Offset != 0 || c.Len != c.Total {
		return nil, fmt.Errorf("connections: phase 2 sends the whole file, got bytes %d-%d of %d: %w", c.Offset, c.Offset+c.Len, c.Total, targets.ErrSessionInvalid)
	}
	return t.phase2(ctx, p, token, c.Body)
}

func (t *Target) endpoint(p *targets.Plan) (method, u string) {
	if p.Existing != nil {
		return http.MethodPut, t.nodeURL(p.Existing.ID)
	}
	return http.MethodPost, t.activityURL(p.Parent)
}

func (t *Target) phase1(ctx context.Context, size int64, p *targets.Plan) (string, error) {
	const op = "connections: start two-phase upload"
	method, u := t.endpoint(p)
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		req, err := http.NewRequest(method, u, http.NoBody)
		if err != nil {
			return nil, err
		}
		req.Header.Set(hdrMethod, phases)
		req.Header.Set(hdrSize, strconv.FormatInt(size, 10))
		setNames(req, p.Name) // lets the server refuse a name, type or size before any byte is sent
		return req, nil
	})
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", statusError(op, resp)
	}
	token := resp.Header.Get(hdrToken)
	if token == "" {
		if body := targets.ReadBody(resp); targets.IsPage(resp.Header, body) {
			return "", pageError(op, resp, body, "the 2-phase upload's token")
		}
		return "", targets.Errorf(targets.Permanent, op, "the server answered %d without an %s header: it does not offer the 2-phase upload API (Connections SC October 2014 or later)", resp.StatusCode, hdrToken)
	}
	targets.DrainClose(resp)
	return token, nil
}

func (t *Target) phase2(ctx context.Context, p *targets.Plan, token string, body *targets.Body) (*targets.Remote, error) {
	const op = "connections: upload file (phase 2)"
	method, u := t.endpoint(p)
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		req, err := newUpload(method, u, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set(hdrMethod, phases)
		req.Header.Set(hdrToken, token)
		setNames(req, p.Name)
		return req, nil
	})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		e := statusError(op, resp)
		switch e.Status {
		case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusGone, http.StatusPreconditionFailed:
			e.Err = targets.ErrSessionInvalid
		}
		return nil, e
	}
	if p.Existing != nil {
		// The documented output of phase 2 is none: a page in its place
		// is a proxy's, and the field was not replaced.
		body, err := targets.ReadAnswer(op, resp)
		if err != nil {
			return nil, err
		}
		if !phase2Answer(resp.Header, body) {
			return nil, pageError(op, resp, body, "the 2-phase upload's answer (no output, or an Atom entry)")
		}
		return t.remote(p.Existing.ID, p.Name, p.Parent), nil
	}
	return t.created(ctx, op, resp, p, true)
}

// newUpload builds a request whose body is the file: Content-Type from the
// name's extension and an exact Content-Length. body is rewound first, so
// the request can be built again after a 401.
func newUpload(method, u string, body *targets.Body) (*http.Request, error) {
	if err := body.Rewind(); err != nil {
		return nil, err
	}
	var rd io.Reader = body
	if body.Len() == 0 {
		rd = http.NoBody
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, err
	}
	req.ContentLength = body.Len()
	return req, nil
}

// setNames sets Slug and Title to the field name and Content-Type to its
// MIME type.
func setNames(req *http.Request, name string) {
	req.Header.Set("Slug", slug(name))
	req.Header.Set("Title", slug(name))
	req.Header.Set("Content-Type", contentType(name))
}

// created identifies the new file field after a 2xx answer to a create,
// and closes resp. The answer must be the API's: for the raw-body POST an
// Atom entry, a Location naming the field, or 201 Created; for phase 2
// (twoPhase) no output or an Atom entry. Anything else (an SSO proxy's
// login page answered 200) never reached the API: it is Unreachable and
// the file waits. The field is the <snx:field> with the plan's name in an
// Atom reply, else the field id in the Location header, else the newest
// field of that name on the node. A field that cannot be identified is
// never recorded as a delivery: a node that cannot be read is an
// ambiguous outcome (the next attempt asks Landed before sending again),
// and a node that lacks the field fails the file with what happened.
func (t *Target) created(ctx context.Context, op string, resp *http.Response, p *targets.Plan, twoPhase bool) (*targets.Remote, error) {
	body, err := targets.ReadAnswer(op, resp)
	if err != nil {
		return nil, err
	}
	loc := idFromLocation(resp.Header.Get("Location"))
	ok, want := !targets.IsPage(resp.Header, body) && (isAtom(resp.Header) || loc != "" || resp.StatusCode == http.StatusCreated),
		"the API's answer to a new file field (201 Created, an Atom entry or a Location)"
	if twoPhase {
		ok, want = phase2Answer(resp.Header, body), "the 2-phase upload's answer (no output, or an Atom entry)"
	}
	if !ok {
		return nil, pageError(op, resp, body, want)
	}
	var fields []fileField
	if isAtom(resp.Header) {
		fields, _ = parseFields(bytes.NewReader(body))
	}
	if f := newestByName(fields, p.Name); f != nil {
		return t.remote(f.FID, p.Name, p.Parent), nil
	}
	if loc != "" {
		return t.remote(loc, p.Name, p.Parent), nil
	}
	fields, err = t.readFields(ctx, p.Parent)
	if err != nil {
		return nil, &targets.Error{Kind: targets.Retryable, Op: op, Status: resp.StatusCode, Ambiguous: true, Err: err,
			Msg: "the server accepted the file but its field cannot be found (the node cannot be read): " + err.Error()}
	}
	if f := newestByName(fields, p.Name); f != nil {
		return t.remote(f.FID, p.Name, p.Parent), nil
	}
	return nil, &targets.Error{Kind: targets.Permanent, Op: op, Status: resp.StatusCode,
		Msg: fmt.Sprintf("the server answered %d but node %s holds no file field named %q: the file may not be stored, or stored under another name; not sending it again (dropsync queue retry sends it anyway)", resp.StatusCode, p.Parent, targets.StoredName(p.Name))}
}

// phase2Answer reports whether a 2xx answer to phase 2 is the API's: the
// documented output is none (the web UI reads nothing), and an Atom entry
// is accepted too. A page (HTML) or other text is not it.
func phase2Answer(h http.Header, body []byte) bool {
	if targets.IsPage(h, body) {
		return false
	}
	return len(bytes.TrimSpace(body)) == 0 || isAtom(h)
}

// pageError is the error for a 2xx answer that is not the API's (want
// says what was expected): no request reached the API, so it is about the
// target, not the file. It is Unreachable, so the target goes down and a
// probe tests it while the file waits; the server's words are shortened
// and redacted.
func pageError(op string, resp *http.Response, body []byte, want string) *targets.Error {
	return targets.NotTheAPI(op, resp.StatusCode, body, fmt.Sprintf("%s but %s", want, describe(resp.Header.Get("Content-Type"))))
}

// describe names a Content-Type for a message.
func describe(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case ct == "" || err != nil:
		return "a body of no stated type"
	case mt == "text/html" || mt == "application/xhtml+xml":
		return "a web page (" + mt + ")"
	}
	return "a " + mt + " body"
}

// idFromLocation returns the activityNodeUuid (or fid) parameter of a
// Location URL.
func idFromLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return ""
	}
	q := u.Query()
	if id := q.Get("activityNodeUuid"); id != "" {
		return id
	}
	return q.Get("fid")
}

// statusError classifies a failed response and closes it: the documented
// meaning of the status followed by the server's own words. 400, 403, 404,
// 413 and 415 are permanent (403 too: besides permissions it means the
// server refused the content); 401 is an auth failure, and so is a redirect
// (Connections sends clients it does not accept to its login page); 429 and
// 503 with Retry-After throttle; 5xx are retried.
func statusError(op string, resp *http.Response) *targets.Error {
	if resp.StatusCode/100 == 3 {
		targets.DrainClose(resp)
		where := "another page"
		if u, err := url.Parse(resp.Header.Get("Location")); err == nil && u.Path != "" {
			where = u.Path // without the query, which may carry anything
		}
		return &targets.Error{Kind: targets.Auth, Op: op, Status: resp.StatusCode,
			Msg: "the server redirected the request to " + where + " (a login page?): check the auth settings and that url is the Connections server"}
	}
	words := serverWords(targets.ReadBody(resp), resp.Header.Get("Content-Type"))
	msg := meanings[resp.StatusCode]
	switch {
	case msg == "":
		msg = words
	case words != "":
		msg += ": " + words
	}
	e := targets.StatusError(op, resp, msg)
	if _, ok := meanings[resp.StatusCode]; ok {
		e.Kind = targets.Permanent
	}
	return e
}
