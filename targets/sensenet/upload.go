package sensenet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/dropsync/dropsync/targets"
)

// wholeToken is the ChunkToken of a single-request upload. The server
// requires a well-formed four-part token on every request that carries a
// file but uses only its flags in whole-file mode; this is the token it
// issues itself for a non-chunked upload of a new file, and its flags make
// it finalize and check in a content left in a multistep save.
const wholeToken = "0**True*True"

// folderAttempts caps the retries of an upload whose sub-folder vanished
// on the server: enough to create it again, not enough to spin when the
// server keeps answering 404.
const folderAttempts = 3

// maxChunk is the largest chunk the Upload action accepts: it reads a
// chunk's length into a 32-bit integer.
const maxChunk = 1<<31 - 1

type field struct{ name, value string }

// uploadFields are the Upload action's parameters shared by every request
// of one upload, in buf (on the caller's stack), with room for the
// ChunkToken the caller adds.
func uploadFields(buf *[7]field, f *targets.File, p *targets.Plan, chunked bool) ([]field, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return nil, fmt.Errorf("sensenet: %s: destination is %T, not a sensenet destination", f.Rel, f.Dest)
	}
	return append(buf[:0],
		field{"FileName", p.Name},
		field{"ContentType", d.ContentType},
		field{"PropertyName", "Binary"},
		field{"UseChunk", dotnetBool(chunked)},
		field{"Overwrite", dotnetBool(overwrite(f.OnConflict))},
		field{"FileLength", strconv.FormatInt(f.Size, 10)},
	), nil
}

func dotnetBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// form is a multipart/form-data body whose parameter parts and closing
// boundary are built in advance, so that the file section streams between
// them and the request has an exact Content-Length.
type form struct {
	head, tail  []byte
	contentType string
}

// newForm builds the fields and, if fileName is not empty, the header of
// the file part "files[]" whose content the caller streams. The parts are
// written as multipart.Writer writes them (boundary lines, one
// Content-Disposition header per field, a boundary of 30 random bytes in
// hex), without its per-part header maps and into one buffer of the
// form's size: a form is built for every upload and every chunk, in three
// allocations (the form, its buffer, its content type).
func newForm(fields []field, fileName string) (*form, error) {
	var random [30]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, err
	}
	var bbuf [2 * len(random)]byte
	boundary := bbuf[:hex.Encode(bbuf[:], random[:])]
	var ct, quoted string
	var escaped []byte
	var ebuf [256]byte
	if fileName != "" {
		if ct = mime.TypeByExtension(path.Ext(fileName)); ct == "" {
			ct = "application/octet-stream"
		}
		quoted, escaped = quoteEscaper.Replace(fileName), appendEscape(ebuf[:0], fileName)
	}
	const (
		dash      = "--"
		crlf      = "\r\n"
		fieldHead = "\r\nContent-Disposition: form-data; name=\""
		fieldEnd  = "\"\r\n\r\n"
		fileHead  = "\r\nContent-Disposition: form-data; name=\"files[]\"; filename=\""
		fileStar  = "\"; filename*=utf-8''"
		fileType  = "\r\nContent-Type: "
	)
	size := len(crlf) + len(dash) + len(boundary) + len(dash) + len(crlf) // the tail
	for _, f := range fields {
		size += len(crlf) + len(dash) + len(boundary) + len(fieldHead) + len(f.name) + len(fieldEnd) + len(f.value)
	}
	if fileName != "" {
		size += len(crlf) + len(dash) + len(boundary) + len(fileHead) + len(quoted) + len(fileStar) + len(escaped) + len(fileType) + len(ct) + 2*len(crlf)
	}
	buf := make([]byte, 0, size)
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, crlf...)
		}
		buf = append(buf, dash...)
		buf = append(buf, boundary...)
		buf = append(buf, fieldHead...)
		buf = append(buf, quoteEscaper.Replace(f.name)...)
		buf = append(buf, fieldEnd...)
		buf = append(buf, f.value...)
	}
	if fileName != "" {
		if len(fields) > 0 {
			buf = append(buf, crlf...)
		}
		buf = append(buf, dash...)
		buf = append(buf, boundary...)
		buf = append(buf, fileHead...)
		buf = append(buf, quoted...)
		buf = append(buf, fileStar...)
		buf = append(buf, escaped...)
		buf = append(buf, fileType...)
		buf = append(buf, ct...)
		buf = append(buf, crlf+crlf...)
	}
	n := len(buf)
	if n > 0 {
		buf = append(buf, crlf...)
	}
	buf = append(buf, dash...)
	buf = append(buf, boundary...)
	buf = append(buf, dash+crlf...)
	return &form{head: buf[:n:n], tail: buf[n:], contentType: "multipart/form-data; boundary=" + string(boundary)}, nil
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "")

// request builds a POST of the form with body (nil for none) between its
// parts. It rewinds body, so it may be called again for a retry.
func (fm *form) request(u string, body *targets.Body) (*http.Request, error) {
	n := int64(len(fm.head) + len(fm.tail))
	r := &formBody{form: fm}
	if body != nil {
		if err := body.Rewind(); err != nil {
			return nil, err
		}
		n += body.Len()
		r.file = body
	}
	req, err := http.NewRequest(http.MethodPost, u, r)
	if err != nil {
		return nil, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", fm.contentType)
	return req, nil
}

// formBody yields a form's head, the file section (if any) and the form's
// tail: one allocation per request, where readers over the parts and a
// MultiReader of them were four.
type formBody struct {
	form *form
	file io.Reader // nil: none
	part int       // 0 head, 1 file, 2 tail
	off  int       // read of the head or the tail
}

func (b *formBody) Read(p []byte) (int, error) {
	for {
		switch b.part {
		case 0:
			if b.off < len(b.form.head) {
				n := copy(p, b.form.head[b.off:])
				b.off += n
				return n, nil
			}
			b.part, b.off = 1, 0
		case 1:
			if b.file == nil {
				b.part = 2
				continue
			}
			n, err := b.file.Read(p)
			if err != io.EOF {
				return n, err
			}
			b.part = 2
			if n > 0 {
				return n, nil
			}
		default:
			if b.off < len(b.form.tail) {
				n := copy(p, b.form.tail[b.off:])
				b.off += n
				return n, nil
			}
			return 0, io.EOF
		}
	}
}

// Close implements io.Closer, so that the request takes the body as it is.
func (b *formBody) Close() error { return nil }

// uploadURL is the Upload action of the folder parent.
func (t *Target) uploadURL(parent string) string {
	var buf [256]byte
	b := append(buf[:0], t.base...)
	b = appendEntityOf(b, parent)
	return string(append(b, "/Upload"...))
}

// uploadResult is the Upload action's answer to every data request.
type uploadResult struct {
	URL    string      `json:"Url"`
	Name   string      `json:"Name"`
	Length int64       `json:"Length"`
	Type   string      `json:"Type"`
	ID     json.Number `json:"Id"`
}

// post sends one Upload request and returns the answer's body. A 404
// without a body means the parent folder is missing; for a sub-folder
// dropsync created, the folder cache forgets it and the failure is
// retryable (a few times), so the next attempt creates it again.
//
// The Upload action finds the content by name (compared without case)
// when Overwrite is set; when that content is a folder, the server cannot
// store a binary in it and answers 500. A 500 then has the name looked
// up, so that a file named like a folder fails at once and clearly
// instead of being retried for ever.
func (t *Target) post(ctx context.Context, op string, p *targets.Plan, f *targets.File, build func() (*http.Request, error)) ([]byte, error) {
	raw, err := t.postFor(ctx, op, p, f, build, true)
	var te *targets.Error
	if err != nil && overwrite(f.OnConflict) && errors.As(err, &te) && te.Status == http.StatusInternalServerError {
		if name, nerr := t.names.storedName(op, p.Name); nerr == nil {
			if ferr := t.checkName(ctx, op, f, p.Parent, name); ferr != nil {
				return nil, ferr
			}
		}
	}
	return raw, err
}

// postFor is post; an answer that is not wanted is discarded unread.
func (t *Target) postFor(ctx context.Context, op string, p *targets.Plan, f *targets.File, build func() (*http.Request, error), want bool) ([]byte, error) {
	resp, err := t.client.Do(ctx, op, build)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
		if !want {
			targets.DrainClose(resp)
			return nil, nil
		}
		ct := resp.Header.Get("Content-Type")
		raw, err := targets.ReadAnswer(op, resp)
		if err == nil && (targets.Markup(ct) || bytes.HasPrefix(bytes.TrimSpace(raw), []byte("<"))) {
			// A proxy's login or maintenance page, not the Upload
			// action's JSON or chunk token.
			return nil, targets.NotTheAPI(op, resp.StatusCode, raw, "the Upload action's answer")
		}
		return raw, err
	case http.StatusNoContent:
		targets.DrainClose(resp)
		return nil, &targets.Error{Kind: targets.Permanent, Op: op, Status: resp.StatusCode,
			Msg: "the server found no file in the request; a proxy may strip multipart bodies"}
	}
	missing := "parent folder not found: " + p.Parent
	e := statusError(op, resp, missing)
	if e.Status == http.StatusNotFound && e.Msg == missing && f.Dir() != "" {
		t.forget(p.Parent)
		e.Kind, e.MaxAttempts = targets.Retryable, folderAttempts
	}
	return nil, e
}

// Put uploads the whole file in one multipart request.
func (t *Target) Put(ctx context.Context, f *targets.File, p *targets.Plan, body *targets.Body) (targets.Remote, error) {
	op := "sensenet: upload " + p.Parent + "/" + p.Name
	var fb [7]field
	fields, err := uploadFields(&fb, f, p, false)
	if err != nil {
		return targets.Remote{}, err
	}
	fm, err := newForm(append(fields, field{"ChunkToken", wholeToken}), p.Name)
	if err != nil {
		return targets.Remote{}, fmt.Errorf("%s: %w", op, err)
	}
	u := t.uploadURL(p.Parent)
	raw, err := t.post(ctx, op, p, f, func() (*http.Request, error) { return fm.request(u, body) })
	if err != nil {
		return targets.Remote{}, err
	}
	res, err := parseResult(op, raw, f.Size)
	if err != nil {
		return targets.Remote{}, err
	}
	if err := checkUploaded(op, f, res); err != nil {
		return targets.Remote{}, err
	}
	t.warnName(f, p, res.Name)
	return t.finish(ctx, op, p, res), nil
}

// checkUploaded fails permanently when the Upload answer's Type is a
// folder type, so that a folder is never recorded as the file. Any other
// Type is the content's (a replaced Image stays an Image): a content
// without a binary field (a folder of a type not listed) makes the server
// answer 500, which post looks up. No request is added to an upload.
func checkUploaded(op string, f *targets.File, res uploadResult) error {
	if isFolderType(res.Type) {
		return folderInTheWay(op, f, entity{Name: res.Name, Path: res.URL, Type: res.Type})
	}
	return nil
}

// StartSession sends the Upload action's initial request (create, UseChunk)
// and returns the server's four-part ChunkToken
// {contentId}*{innerToken}*{mustFinalize}*{mustCheckIn}.
func (t *Target) StartSession(ctx context.Context, f *targets.File, p *targets.Plan) (string, error) {
	op := "sensenet: start chunked upload of " + p.Parent + "/" + p.Name
	var fb [7]field
	fields, err := uploadFields(&fb, f, p, true)
	if err != nil {
		return "", err
	}
	if overwrite(f.OnConflict) {
		// With Overwrite the server reuses a content of the name, a
		// folder too: it starts the folder's multistep save (checks it
		// out) before it finds no binary field and answers 500, which
		// leaves the folder checked out. One look-up first, per large
		// file, keeps a folder named like the file untouched.
		name, err := t.names.storedName(op, p.Name)
		if err != nil {
			return "", err
		}
		if err := t.checkName(ctx, op, f, p.Parent, name); err != nil {
			return "", err
		}
	}
	fm, err := newForm(append([]field{{"create", "1"}}, fields...), "")
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	u := t.uploadURL(p.Parent)
	raw, err := t.post(ctx, op, p, f, func() (*http.Request, error) { return fm.request(u, nil) })
	if err != nil {
		return "", err
	}
	token := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	tok, err := parseToken(token)
	if err != nil {
		// Not err: it quotes the whole answer, uncut and unredacted.
		return "", targets.Errorf(targets.Retryable, op, "the server answered %q, not a chunk token", targets.Shorten(string(raw)))
	}
	if tok.inner == "" {
		return "", targets.Errorf(targets.Permanent, op, "the server did not start a chunked upload (token %q has no blob token)", token)
	}
	return token, nil
}

// PutChunk sends bytes [c.Offset, c.Offset+c.Len) with their Content-Range
// and the file name in Content-Disposition; the last chunk commits the
// upload and returns the remote content. What every chunk of the session
// has alike (the form, the URL, the token's flags) is built once and kept
// in c.Fixed.
func (t *Target) PutChunk(ctx context.Context, f *targets.File, p *targets.Plan, token string, c targets.Chunk) (*targets.Remote, error) {
	var buf [80]byte
	b := append(buf[:0], "bytes "...)
	b = strconv.AppendInt(b, c.Offset, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, c.Offset+c.Len-1, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, c.Total, 10)
	contentRange := string(b)
	op := "sensenet: upload chunk " + contentRange[len("bytes "):] + " of " + p.Parent + "/" + p.Name
	if c.Len <= 0 || c.Len > maxChunk {
		return nil, fmt.Errorf("%s: chunk length %d is outside 1..%d", op, c.Len, maxChunk)
	}
	cr, err := t.chunkRequest(op, f, p, token, c.Fixed)
	if err != nil {
		return nil, err
	}
	raw, err := t.postFor(ctx, op, p, f, func() (*http.Request, error) {
		req, err := cr.form.request(cr.url, c.Body)
		if err == nil {
			req.Header.Set("Content-Range", contentRange)
			req.Header.Set("Content-Disposition", cr.disposition)
		}
		return req, err
	}, c.Last())
	var te *targets.Error
	if errors.As(err, &te) && te.Status == http.StatusNotFound {
		// The parent folder went away: the session cannot finish there.
		// A new one starts with Prepare, which creates the folder again.
		te.Err = targets.ErrSessionInvalid
	}
	if err != nil {
		return nil, err
	}
	if !c.Last() {
		return nil, nil
	}
	res, err := parseResult(op, raw, c.Total)
	if err != nil {
		return nil, err
	}
	if err := checkUploaded(op, f, res); err != nil {
		return nil, err
	}
	t.warnName(f, p, res.Name)
	if !cr.tok.mustFinalize && !cr.tok.mustCheckIn {
		// The content was already in a multistep save when this session
		// started (an earlier upload of ours was abandoned), so the commit
		// does not finalize it: do that here, or it stays checked out.
		if err := t.finalize(ctx, res); err != nil {
			return nil, err
		}
	}
	r := t.finish(ctx, op, p, res)
	return &r, nil
}

// chunkRequest is what every chunk request of one session has alike.
type chunkRequest struct {
	token       string
	tok         chunkToken
	form        *form
	url         string
	disposition string
}

// chunkRequest returns the fixed parts of the session's chunk requests:
// those kept in fixed, or built (and kept there, when fixed is not nil).
func (t *Target) chunkRequest(op string, f *targets.File, p *targets.Plan, token string, fixed *any) (*chunkRequest, error) {
	if fixed != nil {
		if cr, ok := (*fixed).(*chunkRequest); ok && cr.token == token {
			return cr, nil
		}
	}
	tok, err := parseToken(token)
	if err != nil {
		return nil, &targets.Error{Kind: targets.Retryable, Op: op, Msg: "recorded token: " + err.Error(), Err: targets.ErrSessionInvalid}
	}
	var fb [7]field
	fields, err := uploadFields(&fb, f, p, true)
	if err != nil {
		return nil, err
	}
	fm, err := newForm(append(fields, field{"ChunkToken", token}), p.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	cr := &chunkRequest{token: token, tok: tok, form: fm, url: t.uploadURL(p.Parent),
		disposition: `attachment; filename="` + escape(p.Name) + `"`}
	if fixed != nil {
		*fixed = cr
	}
	return cr, nil
}

// finalize runs the FinalizeContent action on the uploaded content.
func (t *Target) finalize(ctx context.Context, res uploadResult) error {
	op := "sensenet: finalize " + res.URL
	u := t.base + entityOf(res.URL) + "/FinalizeContent"
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, u, http.NoBody)
	})
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return statusError(op, resp, "")
	}
	targets.DrainClose(resp)
	return nil
}

// chunkToken is a parsed ChunkToken.
type chunkToken struct {
	contentID                 int
	inner                     string
	mustFinalize, mustCheckIn bool
}

// parseToken checks a ChunkToken the way the Upload action does: four
// parts on "*", an integer and two .NET booleans.
func parseToken(s string) (chunkToken, error) {
	parts := strings.Split(s, "*")
	if len(parts) != 4 {
		return chunkToken{}, fmt.Errorf("token %q does not have 4 parts", s)
	}
	var t chunkToken
	var err error
	if t.contentID, err = strconv.Atoi(parts[0]); err != nil {
		return chunkToken{}, fmt.Errorf("token %q: bad content id", s)
	}
	t.inner = parts[1]
	if t.mustFinalize, err = strconv.ParseBool(parts[2]); err != nil {
		return chunkToken{}, fmt.Errorf("token %q: bad finalize flag", s)
	}
	if t.mustCheckIn, err = strconv.ParseBool(parts[3]); err != nil {
		return chunkToken{}, fmt.Errorf("token %q: bad check-in flag", s)
	}
	return t, nil
}

// parseResult decodes the Upload action's JSON answer (by scanResult, or
// json.Unmarshal for what it does not read) and checks that the server
// took the whole file. An answer that is not JSON at all did not come
// from sensenet: it is Unreachable (targets.NotTheAPI). A JSON success it cannot
// read is retried a few times only: with Overwrite=false every retry may
// leave another name(N) copy on the server.
func parseResult(op string, raw []byte, size int64) (uploadResult, error) {
	if !isJSON(nil, raw) {
		// Not the Upload action's JSON at all (postFor caught HTML):
		// whatever answered is not sensenet.
		return uploadResult{}, targets.NotTheAPI(op, 0, raw, "the Upload action's JSON")
	}
	res, ok := scanResult(raw)
	if !ok {
		var u uploadResult // only this one escapes (to json.Unmarshal)
		ok = json.Unmarshal(raw, &u) == nil
		res = u
	}
	if !ok || res.ID == "" || res.Name == "" {
		e := targets.Errorf(targets.Retryable, op, "unexpected answer: %q", targets.Shorten(string(raw)))
		e.MaxAttempts = 3
		return uploadResult{}, e
	}
	if res.Length != size {
		e := targets.Errorf(targets.Retryable, op, "the server reports %d bytes stored, %d were sent", res.Length, size)
		e.MaxAttempts = 3
		return uploadResult{}, e
	}
	return res, nil
}

// finish is the Remote of an upload: the server's id, name and path from
// the Upload answer, and, with read_version, the version read back from the
// content (the Upload answer has none). A failed version lookup is logged,
// not returned: the content is already stored.
func (t *Target) finish(ctx context.Context, op string, p *targets.Plan, res uploadResult) targets.Remote {
	r := remoteOf(res.ID.String(), res.Name, "", res.URL)
	if !t.readVersion {
		return r
	}
	parent := p.Parent
	if res.URL != "" && strings.Contains(res.URL, "/") {
		parent = parentOf(res.URL)
	}
	e, found, err := t.lookup(ctx, op+": read version", parent, res.Name)
	switch {
	case err != nil:
		t.log.Warn("uploaded, but could not read the version", "path", parent+"/"+res.Name, "error", err)
	case !found:
		t.log.Warn("uploaded, but the content is not found when reading its version", "path", parent+"/"+res.Name)
	default:
		r.Version = e.Version
	}
	return r
}
