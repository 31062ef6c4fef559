package sensenet

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/dropsync/dropsync/targets/fakehttp"

	"github.com/dropsync/dropsync/targets"
)

// Credentials the fake accepts unless changed with SetCredentials.
const (
	DemoToken  = "sensenet-demo-token"  // auth type bearer
	DemoAPIKey = "sensenet-demo-apikey" // auth type apikey (header or ?apikey=)
)

// DocumentsPath is the document library the fake pre-creates, with
// versioning MajorOnly.
const DocumentsPath = "/Root/Content/Documents"

// Fake is a sensenet repository on an http.Handler, faithful to what the
// sensenet source code requires of the Upload action, OData entity
// requests, creation and deletion (see the package documentation), and
// permissive where the documentation is silent. It keeps a tree of folders
// and files, every file version with its SHA-256, size and binary file
// name, and never holds file content in memory: as sensenet does, it
// reads an Upload request's whole form before deciding what the request
// is, spooling the file part to a bounded temporary file (see SetSpool)
// that is removed once the request is answered; the binary is then hashed,
// and a chunked upload keeps the hash state at each chunk start so that a
// chunk sent again after an interruption continues from there. Content and
// folder names go through the server's ContentNamingProvider rules
// (fake_naming.go) and are case-insensitive. It is safe for concurrent use. Tests
// inject failures with Inject and friends and observe chunk requests with
// SetChunkHook and ChunkRequests.
type Fake struct {
	mu       sync.Mutex
	token    string
	apiKey   string
	nextID   int64
	nextBlob int
	root     *node
	byID     map[int64]*node
	sessions map[string]*session // by blob token
	trash    []string
	faults   []*faultRule
	chunks   map[int64]map[int64]int // content id → offset → chunks stored
	requests map[Op]int
	hook     func(ChunkEvent)

	spoolDir   string
	spoolLimit int64
}

var _ targets.Fake = (*Fake)(nil)

// NewFake returns a fake repository holding /Root, /Root/Content and the
// document library /Root/Content/Documents (versioning MajorOnly), that
// accepts DemoToken and DemoAPIKey.
func NewFake() *Fake {
	f := &Fake{
		token:    DemoToken,
		apiKey:   DemoAPIKey,
		nextID:   1000,
		byID:     map[int64]*node{},
		sessions: map[string]*session{},
		chunks:   map[int64]map[int64]int{},
		requests: map[Op]int{},
	}
	f.root = &node{id: 2, name: "Root", typ: "PortalRoot", children: map[string]*node{}, versioning: VersioningMajorOnly}
	f.byID[f.root.id] = f.root
	content := f.addNode(f.root, "Content", "Folder")
	docs := f.addNode(content, "Documents", "DocumentLibrary")
	docs.versioning = VersioningMajorOnly
	return f
}

// Setup implements targets.Fake: a bearer-token target and the document
// library as destination.
func (f *Fake) Setup(baseURL string) targets.FakeSetup {
	f.mu.Lock()
	token, key := f.token, f.apiKey
	f.mu.Unlock()
	return targets.FakeSetup{
		Target:      fmt.Sprintf("type: %s\nurl: %s\nauth: {type: bearer, token: %s}\nread_version: true\n", Type, baseURL, token),
		Destination: "{path: " + DocumentsPath + "}",
		Notes: []string{
			"sensenet fake: bearer token " + token + ", or apikey " + key + " (header apikey or ?apikey=)",
			"pre-created: " + DocumentsPath + " (document library, versioning MajorOnly: every overwrite adds a major version)",
			"names follow sensenet's default ContentNamingProvider: a+b#c.txt is stored as a-b-c.txt; names are case-insensitive",
			"GET " + InspectPath + "?path=" + DocumentsPath + " (the fake's own, no credentials) lists the stored files with each version's SHA-256",
		},
	}
}

// SetCredentials changes the bearer token and API key the fake accepts;
// an empty value disables that kind of credential.
func (f *Fake) SetCredentials(token, apiKey string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token, f.apiKey = token, apiKey
}

// Close discards the open upload sessions.
func (f *Fake) Close() error {
	f.ExpireSessions()
	return nil
}

// Op names a kind of request, for Inject and Requests.
type Op string

// Kinds of request.
const (
	OpAny      Op = ""         // every request
	OpCreate   Op = "create"   // Upload with create: starts an upload
	OpChunk    Op = "chunk"    // Upload data request with Content-Range
	OpWhole    Op = "whole"    // Upload data request without Content-Range (file or FileText)
	OpGet      Op = "get"      // GET of a content or a collection
	OpPost     Op = "post"     // OData create (folders)
	OpAction   Op = "action"   // another action, e.g. FinalizeContent
	OpDelete   Op = "delete"   // DELETE of a content
	OpRejected Op = "rejected" // refused before routing (auth, bad URL)
)

// Fault is an injected failure.
type Fault struct {
	// Op selects the requests that fail (OpAny: every request).
	Op Op
	// Skip lets this many matching requests through before the fault
	// starts, e.g. Skip: 2 with Op: OpChunk fails the third chunk.
	Skip int
	// Status is the HTTP status to answer: 500 and 404 get an OData error
	// body, 401 and 403 too, 429 and 503 a plain text body.
	Status int
	// RetryAfter, in seconds, sets a Retry-After header when positive.
	RetryAfter int
	// Message replaces the default error message.
	Message string
	// Reset closes the connection (TCP reset) instead of answering.
	Reset bool
	// AfterProcessing applies the fault after the request took effect (a
	// chunk stored, an upload committed), as when the answer is lost.
	AfterProcessing bool
}

type faultRule struct {
	Fault
	left int
}

// Inject makes the next n requests that match ft.Op (after ft.Skip
// matching ones) fail as ft says. Faults apply in the order injected.
func (f *Fake) Inject(n int, ft Fault) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &faultRule{Fault: ft, left: n})
}

// FailNext makes the next n requests answer status with an OData error
// body (429 and 503 get a plain body).
func (f *Fake) FailNext(n, status int) { f.Inject(n, Fault{Status: status}) }

// ThrottleNext makes the next n requests answer status (429 or 503) with
// Retry-After: retryAfter seconds.
func (f *Fake) ThrottleNext(n, status, retryAfter int) {
	f.Inject(n, Fault{Status: status, RetryAfter: retryAfter})
}

// ResetNext makes the next n requests end with a connection reset before
// they take effect.
func (f *Fake) ResetNext(n int) { f.Inject(n, Fault{Reset: true}) }

// ClearFaults drops every pending injected fault.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// fault returns the fault for a request of kind op, or nil. after selects
// the faults applied after processing.
func (f *Fake) fault(op Op, after bool) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.faults {
		if r.AfterProcessing != after || (r.Op != OpAny && r.Op != op) {
			continue
		}
		if r.Skip > 0 {
			r.Skip--
			continue
		}
		r.left--
		if r.left == 0 {
			f.faults = append(f.faults[:i:i], f.faults[i+1:]...)
		}
		ft := r.Fault
		return &ft
	}
	return nil
}

// ChunkEvent describes a chunk request whose form has arrived, before its
// data is stored.
type ChunkEvent struct {
	ContentID int64
	Path      string // the content's path
	Offset    int64
	Length    int64
	Total     int64
}

// SetChunkHook calls h for every chunk request whose token is valid,
// before the chunk's data is stored, on the request's goroutine and without
// locks held: h may block to hold the upload at that point. nil removes it.
func (f *Fake) SetChunkHook(h func(ChunkEvent)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// ChunkRequests returns, for the content at path, how many chunk requests
// were stored at each offset (a chunk sent twice counts 2). Requests that
// an injected fault refused before processing are not counted.
func (f *Fake) ChunkRequests(path string) map[int64]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int64]int{}
	if n := f.find(path); n != nil {
		for off, c := range f.chunks[n.id] {
			out[off] = c
		}
	}
	return out
}

// Requests returns how many requests of kind op arrived (OpAny: all),
// including refused ones.
func (f *Fake) Requests(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op == OpAny {
		n := 0
		for _, c := range f.requests {
			n += c
		}
		return n
	}
	return f.requests[op]
}

func (f *Fake) count(op Op) {
	f.mu.Lock()
	f.requests[op]++
	f.mu.Unlock()
}

// ExpireSessions forgets every open chunked upload, as when the server
// cancels them (their tokens become invalid and the contents they locked
// are released), and returns how many there were.
func (f *Fake) ExpireSessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.sessions)
	for k, s := range f.sessions {
		s.discard()
		if c := f.byID[s.contentID]; c != nil {
			c.locked, c.pending = false, nil
			if len(c.versions) == 0 && c.parent != nil {
				f.remove(c) // created by the session, never committed
			}
		}
		delete(f.sessions, k)
	}
	return n
}

// OpenSessions returns the number of chunked uploads in progress.
func (f *Fake) OpenSessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

// InspectPath is the fake's own read-only endpoint, not part of sensenet:
// GET InspectPath?path=/Root/... answers the JSON list of Files(path),
// every version with its SHA-256, so that a test driving `dropsync
// fake-server` from another process can check what was stored.
const InspectPath = "/_fake/files"

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == InspectPath && r.Method == http.MethodGet {
		writeJSON(w, f.Files(r.URL.Query().Get("path")))
		return
	}
	if !f.authorized(r) {
		f.count(OpRejected)
		discardBody(r)
		writeError(w, http.StatusUnauthorized, "Unauthorized", "UnauthorizedAccessException", "The request is not authenticated: send a valid bearer token or API key.")
		return
	}
	q, ok := parseODataPath(r.URL.EscapedPath())
	if !ok {
		f.count(OpRejected)
		discardBody(r)
		writeError(w, http.StatusBadRequest, "RequestError", "ODataException", "The Request is not an OData request.")
		return
	}
	switch {
	case r.Method == http.MethodPost && strings.EqualFold(q.action, "Upload"):
		f.upload(w, r, q)
	case r.Method == http.MethodPost && q.action != "":
		f.serve(w, r, OpAction, func(w http.ResponseWriter) { f.action(w, q) })
	case r.Method == http.MethodPost:
		f.serve(w, r, OpPost, func(w http.ResponseWriter) { f.createContent(w, r, q) })
	case r.Method == http.MethodGet && q.action == "":
		f.serve(w, r, OpGet, func(w http.ResponseWriter) { f.get(w, r, q) })
	case r.Method == http.MethodDelete && q.entity && q.action == "":
		f.serve(w, r, OpDelete, func(w http.ResponseWriter) { f.delete(w, r, q) })
	default:
		f.count(OpRejected)
		discardBody(r)
		writeError(w, http.StatusMethodNotAllowed, "IllegalInvoke", "ODataException", r.Method+" is not allowed on this resource.")
	}
}

// serve runs a non-upload request with fault injection around it.
func (f *Fake) serve(w http.ResponseWriter, r *http.Request, op Op, run func(http.ResponseWriter)) {
	f.count(op)
	if ft := f.fault(op, false); ft != nil {
		applyFault(w, r, ft)
		return
	}
	if ft := f.fault(op, true); ft != nil {
		run(discardWriter{})
		applyFault(w, r, ft)
		return
	}
	run(w)
}

// discardWriter swallows an answer that is lost.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// applyFault answers with the injected failure.
func applyFault(w http.ResponseWriter, r *http.Request, ft *Fault) {
	if ft.Reset {
		fakehttp.Reset(w)
		return
	}
	discardBody(r)
	if ft.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ft.RetryAfter))
	}
	status := ft.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	msg := ft.Message
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if msg == "" {
			msg = http.StatusText(status)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, msg+"\n")
		return
	}
	code, exc := "NotSpecified", "Exception"
	switch status {
	case http.StatusUnauthorized:
		code, exc = "Unauthorized", "UnauthorizedAccessException"
	case http.StatusForbidden:
		code, exc = "Forbidden", "SenseNetSecurityException"
	case http.StatusNotFound:
		code, exc = "ResourceNotFound", "ContentNotFoundException"
	case http.StatusBadRequest:
		code, exc = "RequestError", "ODataException"
	}
	if msg == "" {
		msg = fmt.Sprintf("Injected failure: %s.", http.StatusText(status))
	}
	writeError(w, status, code, exc, msg)
}

func (f *Fake) authorized(r *http.Request) bool {
	f.mu.Lock()
	token, key := f.token, f.apiKey
	f.mu.Unlock()
	if a := r.Header.Get("Authorization"); token != "" && len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		return a[7:] == token
	}
	if key == "" {
		return false
	}
	return r.Header.Get("apikey") == key || r.URL.Query().Get("apikey") == key
}

// writeError writes sensenet's OData error body.
func writeError(w http.ResponseWriter, status int, code, exceptionType, msg string) {
	type message struct {
		Lang  string `json:"lang"`
		Value string `json:"value"`
	}
	type odErr struct {
		Code          string  `json:"code"`
		ExceptionType string  `json:"exceptiontype"`
		Message       message `json:"message"`
	}
	b, _ := json.Marshal(struct {
		Error odErr `json:"error"`
	}{odErr{code, exceptionType, message{"en-us", msg}}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "NotSpecified", "Exception", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}

// discardBody reads what is left of a request body (up to a limit), so
// that the client sees the answer rather than a broken pipe.
func discardBody(r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 4<<30))
}

// odataPath is a parsed OData resource path.
type odataPath struct {
	path   []string // content path from Root, e.g. [Root Content Documents]
	entity bool     // the last element was addressed as an entity: ('name')
	action string   // the segment after the entity, e.g. Upload
}

// parseODataPath parses the escaped URL path the way sensenet accepts it:
// the service token case-insensitively, the entity segment attached or
// after a slash (/Root/Content('Documents') or /Root/Content/('Documents')),
// quotes doubled inside the literal, an optional action after it.
func parseODataPath(escaped string) (odataPath, bool) {
	const svc = "/odata.svc"
	if len(escaped) < len(svc) || !strings.EqualFold(escaped[:len(svc)], svc) {
		return odataPath{}, false
	}
	rest := strings.TrimSuffix(escaped[len(svc):], "/")
	if !strings.HasPrefix(rest, "/") {
		return odataPath{}, false
	}
	var q odataPath
	segs := strings.Split(rest[1:], "/")
	for i, raw := range segs {
		s, err := url.PathUnescape(raw)
		if err != nil || s == "" {
			return odataPath{}, false
		}
		if q.entity {
			if i != len(segs)-1 {
				return odataPath{}, false
			}
			q.action = s
			break
		}
		if j := strings.Index(s, "('"); j >= 0 && strings.HasSuffix(s, "')") && len(s) >= j+4 {
			if j > 0 {
				q.path = append(q.path, s[:j])
			}
			q.path = append(q.path, strings.ReplaceAll(s[j+2:len(s)-2], "''", "'"))
			q.entity = true
			continue
		}
		q.path = append(q.path, s)
	}
	if len(q.path) == 0 || !strings.EqualFold(q.path[0], "Root") {
		return odataPath{}, false
	}
	return q, true
}

// get answers a GET of one content ({"d": {...}}) or of a folder's
// children ({"d": {"results": [...]}}), honouring $select.
func (f *Fake) get(w http.ResponseWriter, r *http.Request, q odataPath) {
	f.mu.Lock()
	n := f.resolve(q.path)
	if n == nil {
		f.mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		return
	}
	sel := selectFields(r.URL.Query().Get("$select"))
	if q.entity {
		d := n.fields(sel)
		f.mu.Unlock()
		writeJSON(w, map[string]any{"d": d})
		return
	}
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	list := make([]map[string]any, 0, len(names))
	for _, k := range names {
		list = append(list, n.children[k].fields(sel))
	}
	f.mu.Unlock()
	writeJSON(w, map[string]any{"d": map[string]any{"__count": len(list), "results": list}})
}

func selectFields(s string) map[string]bool {
	if s == "" {
		return nil
	}
	m := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		m[strings.ToLower(strings.TrimSpace(p))] = true
	}
	return m
}

// createContent is the OData create: POST to the parent with a model
// (JSON, models=[{...}], or the form-style text sensenet converts).
func (f *Fake) createContent(w http.ResponseWriter, r *http.Request, q odataPath) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	model, err := readToJSON(string(raw))
	if err != nil || model == nil {
		writeError(w, http.StatusBadRequest, "RequestError", "ODataException", "Invalid request body: "+errText(err))
		return
	}
	// The server derives the name through its ContentNamingProvider,
	// from Name or else DisplayName.
	name := stringOf(model["Name"])
	if name == "" {
		name = stringOf(model["DisplayName"])
	}
	name = fakeContentName(name)
	typ := stringOf(model["__ContentType"])
	if typ == "" {
		typ = "File"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parent := f.resolve(q.path)
	if parent == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if name == "" {
		writeError(w, http.StatusInternalServerError, "NotSpecified", "InvalidOperationException", "Cannot create content without a name.")
		return
	}
	if !parent.isFolder() {
		writeError(w, http.StatusInternalServerError, "NotSpecified", "InvalidOperationException", "Cannot create content under "+parent.path()+": it does not allow child types.")
		return
	}
	if parent.child(name) != nil {
		writeError(w, http.StatusForbidden, "ContentAlreadyExists", "NodeAlreadyExistsException", "Cannot save the content, because a content with the same name already exists: "+parent.path()+"/"+name)
		return
	}
	n := f.addNode(parent, name, typ)
	writeJSON(w, map[string]any{"d": n.fields(nil)})
}

// action runs an action other than Upload: FinalizeContent.
func (f *Fake) action(w http.ResponseWriter, q odataPath) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.resolve(q.path)
	if n == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if !strings.EqualFold(q.action, "FinalizeContent") {
		writeError(w, http.StatusNotFound, "ResourceNotFound", "ODataException", "Operation not found: "+q.action)
		return
	}
	if n.locked {
		f.finalize(n)
	}
	w.WriteHeader(http.StatusOK)
}

// delete moves a content to the trash, or removes it with
// ?permanent=true. A missing content is not an error, as in sensenet.
func (f *Fake) delete(w http.ResponseWriter, r *http.Request, q odataPath) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.resolve(q.path)
	if n != nil && n.parent != nil {
		if !strings.EqualFold(r.URL.Query().Get("permanent"), "true") {
			f.trash = append(f.trash, n.path())
		}
		f.remove(n)
	}
	w.WriteHeader(http.StatusNoContent)
}

// Trashed lists the paths of the contents deleted to the trash, in order.
func (f *Fake) Trashed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.trash...)
}

func stringOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func errText(err error) string {
	if err == nil {
		return "no model"
	}
	return err.Error()
}

// readToJSON converts a request body to a model the way sensenet's
// ODataMiddleware.ReadToJson does: JSON, or "models=[{...}]", or a
// form-style a=b&c=d text split without URL-decoding.
func readToJSON(s string) (map[string]any, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	first := byte('{')
	if s[len(s)-1] == ']' {
		first = '['
	}
	if p := strings.IndexByte(s, first); p > 0 {
		s = s[p:]
	}
	isJSON := strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") || strings.HasPrefix(s, "[{") && strings.HasSuffix(s, "}]")
	if !isJSON {
		m := map[string]any{}
		for _, pair := range strings.Split(s, "&") {
			kv := strings.Split(pair, "=")
			if len(kv) != 2 {
				return nil, fmt.Errorf("cannot parse %q", pair)
			}
			m[kv[0]] = kv[1]
		}
		return m, nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case map[string]any:
		return x, nil
	case []any:
		if len(x) > 0 {
			if m, ok := x[0].(map[string]any); ok {
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("unsupported model")
}

// defaultSpoolLimit bounds the file part of one Upload request unless
// SetSpool says otherwise.
const defaultSpoolLimit = 4 << 30

// SetSpool sets the folder for the temporary files that hold an Upload
// request's file part while the rest of the form is read ("" is the
// system's temporary folder) and the largest file part accepted (0: 4
// GiB); a larger one is answered 413.
func (f *Fake) SetSpool(dir string, limit int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spoolDir, f.spoolLimit = dir, limit
}

func (f *Fake) spoolSettings() (string, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.spoolLimit <= 0 {
		return f.spoolDir, defaultSpoolLimit
	}
	return f.spoolDir, f.spoolLimit
}
