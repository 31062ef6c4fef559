package sensenet

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// session is an open chunked upload of the fake. It keeps no data, only
// the SHA-256 state of the bytes received in order and a snapshot of that
// state at every chunk start, so a chunk sent again (a resumed upload)
// continues from its start. A chunk that would leave a gap or start
// between chunk starts is refused: the fake could not know the content.
type session struct {
	contentID                 int64
	length                    int64
	mustFinalize, mustCheckIn bool

	// mu serialises the chunks of one upload; never held while taking
	// Fake.mu.
	mu     sync.Mutex
	hash   hash.Hash
	hashed int64            // the hash covers [0, hashed)
	marks  map[int64][]byte // hash state at each chunk start
	closed bool
}

// discard ends the session.
func (s *session) discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed, s.hash, s.marks = true, nil, nil
}

// write stores the chunk at off from r, which must yield exactly n bytes,
// and returns how many it yielded. A failed or short chunk is undone.
func (s *session) write(off, n int64, r io.Reader) (int64, error) {
	if s.closed {
		return 0, errSessionGone
	}
	if s.hash == nil {
		s.hash, s.marks = sha256.New(), map[int64][]byte{}
	}
	if off != s.hashed {
		st, ok := s.marks[off]
		if !ok {
			return 0, errOutOfOrder
		}
		if err := s.hash.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); err != nil {
			return 0, err
		}
		for k := range s.marks {
			if k > off {
				delete(s.marks, k)
			}
		}
		s.hashed = off
	}
	st, err := s.hash.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return 0, err
	}
	s.marks[off] = st
	buf := copyBuf.Get().(*[]byte)
	defer copyBuf.Put(buf)
	got, err := io.CopyBuffer(s.hash, io.LimitReader(r, n+1), *buf)
	if err != nil || got != n {
		if uerr := s.hash.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); uerr != nil && err == nil {
			err = uerr
		}
		return got, err
	}
	s.hashed += n
	return got, nil
}

// sum is the SHA-256 of the binary once all of it arrived.
func (s *session) sum() (string, error) {
	if s.closed || s.hash == nil {
		return "", errSessionGone
	}
	if s.hashed != s.length {
		return "", errOutOfOrder
	}
	return hex.EncodeToString(s.hash.Sum(nil)), nil
}

var (
	errSessionGone = errors.New("upload session is gone")
	errOutOfOrder  = errors.New("chunk out of order")
	copyBuf        = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
	rangeRE        = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)
)

// uploadReq is one Upload request as the handler sees it.
type uploadReq struct {
	form, query url.Values
	rng         *byteRange // from Content-Range; nil in whole-file mode
	file        io.Reader  // the first posted file, nil if none
	fileName    string     // its file name
	parent      []string
	disposition string // Content-Disposition request header
}

type byteRange struct{ start, length, total int64 }

// param is a parameter from the form, else from the query.
func (u *uploadReq) param(k string) (string, bool) {
	if v, ok := u.form[k]; ok && len(v) > 0 {
		return v[0], true
	}
	if v, ok := u.query[k]; ok && len(v) > 0 {
		return v[0], true
	}
	return "", false
}

// emptyFile reports whether a file was posted with no content, reading
// its first byte if needed.
func (u *uploadReq) emptyFile() bool {
	if u.file == nil {
		return false
	}
	var b [1]byte
	n, err := io.ReadFull(u.file, b[:])
	if n == 0 && err == io.EOF {
		return true
	}
	u.file = io.MultiReader(bytes.NewReader(b[:n]), u.file)
	return false
}

func (u *uploadReq) op() Op {
	if _, ok := u.param("create"); ok {
		return OpCreate
	}
	if u.rng != nil && u.file != nil {
		return OpChunk
	}
	return OpWhole
}

// upload is the Upload action: parameters from the query and the body
// (multipart form, JSON, or sensenet's form-style text), the first posted
// file whatever its field name, chunk mode when Content-Range is present.
func (f *Fake) upload(w http.ResponseWriter, r *http.Request, q odataPath) {
	u := &uploadReq{form: url.Values{}, query: r.URL.Query(), parent: q.path, disposition: r.Header.Get("Content-Disposition")}
	if cr := r.Header.Get("Content-Range"); cr != "" {
		m := rangeRE.FindStringSubmatch(cr)
		if m == nil {
			f.count(OpChunk)
			discardBody(r)
			writeError(w, http.StatusInternalServerError, "NotSpecified", "FormatException", "Invalid Content-Range header "+strconv.Quote(cr)+": expected bytes {start}-{end}/{total}.")
			return
		}
		start, _ := strconv.ParseInt(m[1], 10, 64)
		end, _ := strconv.ParseInt(m[2], 10, 64)
		total, _ := strconv.ParseInt(m[3], 10, 64)
		if end < start-1 || end-start+1 > maxChunk || start+(end-start+1) > total {
			f.count(OpChunk)
			discardBody(r)
			writeError(w, http.StatusInternalServerError, "NotSpecified", "OverflowException", "Invalid Content-Range header "+strconv.Quote(cr)+".")
			return
		}
		u.rng = &byteRange{start: start, length: end - start + 1, total: total}
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !strings.HasPrefix(ct, "multipart/") {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if model, err := readToJSON(string(raw)); err == nil {
			for k, v := range model {
				u.form.Set(k, dotnetValue(v))
			}
		}
		f.process(w, r, u)
		return
	}
	// sensenet reads the whole form before it acts (ASP.NET buffers file
	// parts): what a request is (initial, chunk, whole file) depends on
	// fields that may follow the file part, as create does in the JS
	// client's initial request. As ASP.NET does, the first file part is
	// held in memory up to memSpool bytes and beyond that in a bounded
	// temporary file, removed when the request is answered.
	mr := multipart.NewReader(r.Body, params["boundary"])
	var (
		spool   *os.File
		held    bool
		memPart = memBuf.Get().(*[]byte)
	)
	defer func() {
		memBuf.Put(memPart)
		if spool != nil {
			spool.Close()
			os.Remove(spool.Name())
		}
	}()
	dir, limit := f.spoolSettings()
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.count(OpRejected)
			writeError(w, http.StatusBadRequest, "RequestError", "InvalidDataException", "Malformed multipart body: "+err.Error())
			return
		}
		_, isFile := partParams(p)["filename"]
		switch {
		case !isFile:
			v, _ := io.ReadAll(io.LimitReader(p, 1<<20))
			if name := p.FormName(); name != "" {
				u.form.Add(name, string(v))
			}
		case held:
			io.Copy(io.Discard, p) // only the first posted file counts
		default:
			held, u.fileName = true, p.FileName()
			n, err := io.ReadFull(p, (*memPart)[:memSpool])
			if (err == io.EOF || err == io.ErrUnexpectedEOF) && int64(n) <= limit {
				u.file = bytes.NewReader((*memPart)[:n])
				break
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = nil
			}
			if err != nil {
				return // the client went away
			}
			if spool, err = os.CreateTemp(dir, "sensenet-fake-*.upload"); err != nil {
				f.count(OpRejected)
				writeError(w, http.StatusInternalServerError, "NotSpecified", "IOException", err.Error())
				return
			}
			rest, err := io.Copy(spool, io.MultiReader(bytes.NewReader((*memPart)[:n]), io.LimitReader(p, limit+1-int64(n))))
			if err != nil {
				return // the client went away
			}
			if rest > limit {
				f.count(OpRejected)
				discardBody(r)
				writeError(w, http.StatusRequestEntityTooLarge, "RequestError", "BadHttpRequestException",
					fmt.Sprintf("sensenet fake: the file part is over the spool limit of %d bytes", limit))
				return
			}
			if _, err := spool.Seek(0, io.SeekStart); err != nil {
				writeError(w, http.StatusInternalServerError, "NotSpecified", "IOException", err.Error())
				return
			}
			u.file = spool
		}
		p.Close()
	}
	f.process(w, r, u)
}

// memSpool is how much of a file part the fake holds in memory before it
// spools the part to a temporary file (ASP.NET's default
// MemoryBufferThreshold).
const memSpool = 64 << 10

var memBuf = sync.Pool{New: func() any { b := make([]byte, memSpool); return &b }}

// partParams are the Content-Disposition parameters of a part.
func partParams(p *multipart.Part) map[string]string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return nil
	}
	return params
}

// dotnetValue is a JSON model value as the parameter binder sees it.
func dotnetValue(v any) string {
	switch x := v.(type) {
	case bool:
		return dotnetBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return stringOf(v)
	}
}

// process counts the request, applies injected faults and runs it.
func (f *Fake) process(w http.ResponseWriter, r *http.Request, u *uploadReq) {
	op := u.op()
	f.count(op)
	if ft := f.fault(op, false); ft != nil {
		applyFault(w, r, ft)
		return
	}
	if ft := f.fault(op, true); ft != nil {
		f.run(discardWriter{}, op, u)
		applyFault(w, r, ft)
		return
	}
	f.run(w, op, u)
}

// uploadError is a failure of the Upload action: status, code and message.
type uploadError struct {
	status int
	code   string
	msg    string
}

func internal(msg string) *uploadError {
	return &uploadError{http.StatusInternalServerError, "NotSpecified", msg}
}

// fakeCheck is a request the real server might accept but no correct client
// sends; the fake refuses it so that tests notice.
func fakeCheck(format string, args ...any) *uploadError {
	return &uploadError{http.StatusBadRequest, "RequestError", "sensenet fake: " + fmt.Sprintf(format, args...)}
}

func (f *Fake) run(w http.ResponseWriter, op Op, u *uploadReq) {
	var (
		answer string
		uerr   *uploadError
	)
	switch {
	case op == OpCreate:
		answer, uerr = f.create(u)
	case u.emptyFile():
		// The handler checks for a zero-length posted file before
		// anything else and resets the content to empty, in chunk mode
		// too.
		answer, uerr = f.emptyFile(u)
	case op == OpChunk:
		answer, uerr = f.chunk(u)
	default:
		answer, uerr = f.whole(u)
	}
	switch {
	case uerr != nil && uerr.status == http.StatusNotFound && uerr.msg == "":
		w.WriteHeader(http.StatusNotFound)
	case uerr != nil:
		writeError(w, uerr.status, uerr.code, "Exception", uerr.msg)
	case answer == "":
		w.WriteHeader(http.StatusNoContent)
	default:
		// sensenet writes string results raw, without a Content-Type.
		io.WriteString(w, answer)
	}
}

var notFound = &uploadError{status: http.StatusNotFound}

// boolParam parses a .NET boolean parameter.
func (u *uploadReq) boolParam(k string, def bool) (bool, *uploadError) {
	v, ok := u.param(k)
	if !ok || v == "" {
		return def, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, &uploadError{http.StatusBadRequest, "RequestError", fmt.Sprintf("Invalid value %q for parameter %s.", v, k)}
}

// target finds or prepares the content an upload writes to, as the
// handler's GetContentAsync: by ContentId or name when Overwrite, else a new
// content that takes a free name when it is saved. The caller holds f.mu.
func (f *Fake) target(parent *node, u *uploadReq) (n *node, isNew bool, uerr *uploadError) {
	if !parent.isFolder() {
		return nil, false, internal("Cannot upload to " + parent.path() + ": it has no allowed child types.")
	}
	if p, _ := u.param("PropertyName"); p != "" && p != "Binary" {
		return nil, false, internal("Unknown binary field: " + p)
	}
	ow, uerr := u.boolParam("Overwrite", true)
	if uerr != nil {
		return nil, false, uerr
	}
	if id, ok := u.param("ContentId"); ok && ow {
		if k, err := strconv.ParseInt(id, 10, 64); err == nil && f.byID[k] != nil {
			return f.byID[k], false, nil
		}
	}
	requested, _ := u.param("FileName")
	if requested == "" {
		return nil, false, internal("Value cannot be null. (Parameter 'FileName')")
	}
	name := fakeContentName(requested)
	if name == "" {
		return nil, false, internal("The name " + strconv.Quote(requested) + " contains only invalid characters.")
	}
	if ow {
		if c := parent.child(name); c != nil {
			return c, false, nil
		}
	}
	typ, _ := u.param("ContentType")
	if typ == "" {
		typ = "File"
	}
	return &node{name: name, typ: typ, parent: parent}, true, nil
}

// save adds a new content to the tree under a free name.
func (f *Fake) save(n *node) *node {
	return f.addNode(n.parent, n.parent.freeName(n.name), n.typ)
}

// create answers the initial request with {contentId}*{blobToken}*{mustFinalize}*{mustCheckIn}.
func (f *Fake) create(u *uploadReq) (string, *uploadError) {
	if u.file != nil {
		io.Copy(io.Discard, u.file) // any data in the initial request is ignored
	}
	useChunk, uerr := u.boolParam("UseChunk", false)
	if uerr != nil {
		return "", uerr
	}
	length := int64(0)
	if v, ok := u.param("FileLength"); ok {
		length, _ = strconv.ParseInt(v, 10, 64)
	}
	if u.rng != nil && u.rng.total > 0 {
		length = u.rng.total
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parent := f.resolve(u.parent)
	if parent == nil {
		return "", notFound
	}
	n, isNew, uerr := f.target(parent, u)
	if uerr != nil {
		return "", uerr
	}
	mustCheckIn := isNew || !n.locked
	mustFinalize := isNew || !n.locked
	blob, id := "", int64(0)
	if !isNew {
		id = n.id
	}
	if useChunk {
		if !isNew && n.isFolder() {
			// The handler starts the multistep save (the folder stays
			// checked out) before BinaryData.StartChunk finds no binary
			// property on it.
			n.locked = true
			return "", noBinary(n)
		}
		if isNew {
			n = f.save(n)
			id = n.id
		}
		n.locked = true
		f.nextBlob++
		blob = fmt.Sprintf("%d|%d|%d|%d", n.id*10+int64(len(n.versions)), 7, 5000+f.nextBlob, 9000+f.nextBlob)
		f.sessions[blob] = &session{contentID: n.id, length: length, mustFinalize: mustFinalize, mustCheckIn: mustCheckIn}
	}
	return fmt.Sprintf("%d*%s*%s*%s", id, blob, dotnetBool(mustFinalize), dotnetBool(mustCheckIn)), nil
}

// parseFakeToken splits a ChunkToken as the handler's CollectUploadData.
func parseFakeToken(u *uploadReq) (chunkToken, *uploadError) {
	v, _ := u.param("ChunkToken")
	t, err := parseToken(v)
	if err != nil {
		return chunkToken{}, internal("Invalid upload request: the chunk token is invalid.")
	}
	return t, nil
}

// chunk stores one chunk; the last one commits the binary.
func (f *Fake) chunk(u *uploadReq) (string, *uploadError) {
	tok, uerr := parseFakeToken(u)
	if uerr != nil {
		return "", uerr
	}
	f.mu.Lock()
	if f.resolve(u.parent) == nil {
		f.mu.Unlock()
		return "", notFound
	}
	s := f.sessions[tok.inner]
	var n *node
	if s != nil && s.contentID == int64(tok.contentID) {
		n = f.byID[s.contentID]
	}
	if n == nil {
		f.mu.Unlock()
		return "", internal("Version id and chunk token mismatch.")
	}
	path, hook := n.path(), f.hook
	f.mu.Unlock()

	rg := u.rng
	if rg.total != s.length {
		return "", fakeCheck("Content-Range total %d differs from the FileLength %d the upload was started with", rg.total, s.length)
	}
	if hook != nil {
		hook(ChunkEvent{ContentID: n.id, Path: path, Offset: rg.start, Length: rg.length, Total: rg.total})
	}
	s.mu.Lock()
	got, err := s.write(rg.start, rg.length, u.file)
	s.mu.Unlock()
	switch {
	case errors.Is(err, errSessionGone):
		return "", internal("Version id and chunk token mismatch.")
	case errors.Is(err, errOutOfOrder):
		return "", fakeCheck("chunk at %d is neither the next byte nor the start of an earlier chunk; the fake keeps hash states, not data", rg.start)
	case err != nil:
		return "", internal("Error while writing the chunk: " + err.Error())
	case got != rg.length:
		return "", fakeCheck("the chunk has %d bytes, Content-Range declares %d", got, rg.length)
	}
	f.mu.Lock()
	f.countChunk(n.id, rg.start)
	f.mu.Unlock()
	if rg.start+rg.length != rg.total {
		return f.answer(n, rg.total), nil
	}
	// The last chunk commits; the binary's file name comes from the
	// Content-Disposition request header.
	name, ok := dispositionName(u.disposition)
	if !ok {
		return "", fakeCheck("the last chunk has no Content-Disposition: attachment; filename=\"...\" header; the commit takes the file name from it")
	}
	s.mu.Lock()
	sum, err := s.sum()
	s.mu.Unlock()
	switch {
	case errors.Is(err, errOutOfOrder):
		return "", fakeCheck("the last chunk arrived but bytes before it are missing")
	case err != nil:
		return "", internal("Version id and chunk token mismatch.")
	}
	s.discard()
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, tok.inner)
	if f.byID[n.id] == nil {
		return "", internal("Content was deleted during the upload.")
	}
	n.pending = &Version{SHA256: sum, Size: s.length, FileName: name}
	if s.mustFinalize || s.mustCheckIn {
		f.finalize(n)
	}
	return f.answer(n, rg.total), nil
}

func (f *Fake) countChunk(id, off int64) {
	m := f.chunks[id]
	if m == nil {
		m = map[int64]int{}
		f.chunks[id] = m
	}
	m[off]++
}

// dispositionName reads the file name from a Content-Disposition header
// the way the handler does: after "filename=", quotes removed, URL-decoded
// (so "+" is a space).
func dispositionName(h string) (string, bool) {
	i := strings.Index(strings.ToLower(h), "filename=")
	if i < 0 {
		return "", false
	}
	v := strings.ReplaceAll(h[i+len("filename="):], `"`, "")
	if j := strings.IndexByte(v, ';'); j >= 0 {
		v = v[:j]
	}
	name, err := url.QueryUnescape(v)
	if err != nil || name == "" {
		return "", false
	}
	return name, true
}

// answer is the Upload action's JSON result for content n.
func (f *Fake) answer(n *node, length int64) string {
	p := n.path()
	return fmt.Sprintf(`{"Url":%s,"Thumbnail_url":%s,"Name":%s,"Length":%d,"Type":%s,"Id":%d}`,
		strconv.Quote(p), strconv.Quote(p), strconv.Quote(n.name), length, strconv.Quote(n.typ), n.id)
}

// whole stores a whole file (or FileText) in one request.
func (f *Fake) whole(u *uploadReq) (string, *uploadError) {
	text, isText := u.param("FileText")
	isText = isText && text != "" && u.file == nil
	if u.file == nil && !isText {
		f.mu.Lock()
		missing := f.resolve(u.parent) == nil
		f.mu.Unlock()
		if missing {
			return "", notFound
		}
		return "", nil // no file, no text: the action returns null, 204
	}
	var tok chunkToken
	if !isText {
		var uerr *uploadError
		if tok, uerr = parseFakeToken(u); uerr != nil {
			return "", uerr
		}
	}
	h := sha256.New()
	var size int64
	fileName := u.fileName
	if isText {
		io.WriteString(h, text)
		size = int64(len(text))
		fileName, _ = u.param("FileName")
	} else {
		buf := copyBuf.Get().(*[]byte)
		n, err := io.CopyBuffer(h, u.file, *buf)
		copyBuf.Put(buf)
		if err != nil {
			return "", internal("Error while reading the file: " + err.Error())
		}
		size = n
		if i := strings.LastIndexByte(fileName, '\\'); i >= 0 {
			fileName = fileName[i+1:]
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, uerr := f.contentFor(u)
	if uerr != nil {
		return "", uerr
	}
	v := Version{SHA256: hex.EncodeToString(h.Sum(nil)), Size: size, FileName: fileName}
	if !n.locked {
		n.store(v)
	} else {
		// Existing content in a multistep save: the binary is written; the
		// token's flags say whether this request finalizes and checks in.
		n.pending = &v
		if tok.mustFinalize || tok.mustCheckIn {
			f.finalize(n)
		}
	}
	return f.answer(n, size), nil
}

// contentFor finds or creates (and saves) the content a whole upload
// writes to, under the request's parent. f.mu must be held.
func (f *Fake) contentFor(u *uploadReq) (*node, *uploadError) {
	parent := f.resolve(u.parent)
	if parent == nil {
		return nil, notFound
	}
	n, isNew, uerr := f.target(parent, u)
	if uerr != nil {
		return nil, uerr
	}
	if !isNew && n.isFolder() {
		return nil, noBinary(n)
	}
	if isNew {
		n = f.save(n)
	}
	return n, nil
}

// noBinary is the handler's failure when Overwrite reused a folder of the
// file's name (names compare without case): a folder has no Binary field,
// so setting it throws and the action answers 500. Nothing is stored.
func noBinary(n *node) *uploadError {
	return internal("Field not found. Content of type " + n.typ + ", field name: Binary")
}

// emptyFile handles a zero-length posted file: the content (found or
// created as for a whole upload) gets an empty binary.
func (f *Fake) emptyFile(u *uploadReq) (string, *uploadError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, uerr := f.contentFor(u)
	if uerr != nil {
		return "", uerr
	}
	empty := sha256.Sum256(nil)
	name, _ := u.param("FileName")
	v := Version{SHA256: hex.EncodeToString(empty[:]), FileName: name}
	if n.locked {
		n.pending = &v
		f.finalize(n)
	} else {
		n.store(v)
	}
	length := int64(0)
	if u.rng != nil {
		length = u.rng.total
	}
	return f.answer(n, length), nil
}
