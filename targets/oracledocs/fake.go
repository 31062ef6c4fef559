package oracledocs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dropsync/dropsync/targets/fakehttp"

	"github.com/dropsync/dropsync/targets"
)

// Credentials and objects of the fake. They are demo values, printed by
// `dropsync fake-server`; they protect nothing.
const (
	FakeUser         = "demo"
	FakePassword     = "demo-password"
	FakeToken        = "demo-bearer-token" // a bearer token the fake always accepts
	FakeClientID     = "dropsync-demo-client"
	FakeClientSecret = "demo-client-secret"
	FakeScope        = "https://fake-oce.example.com:443/urn:opc:cec:all"
	FakeTokenPath    = "/oauth2/v1/token" // the fake's IDCS-like token endpoint
	FakeFolderID     = "F7A1C0DE00D5F1A8B2C3D4E5T0000000000100000001"
	FakeFolderName   = "dropsync"
)

// FakeOp names the operations the fake serves, for FailNext, ResetNext and
// the request log.
type FakeOp string

// Operations of the fake.
const (
	OpUpload        FakeOp = "upload file"         // POST files/data
	OpUploadVersion FakeOp = "upload file version" // POST files/{id}/data
	OpGetFile       FakeOp = "get file"            // GET files/{id}
	OpDelete        FakeOp = "delete file"         // DELETE files/{id}
	OpListItems     FakeOp = "folder items"        // GET folders/{id}/items
	OpCreateFolder  FakeOp = "create folder"       // POST folders/{id}
	OpGetFolder     FakeOp = "get folder"          // GET folders/{id}
	OpToken         FakeOp = "token"               // POST /oauth2/v1/token
)

// Fake is a faithful fake of the Oracle Content Management REST API for
// Documents (1.1 and 1.2) as dropsync uses it, plus an IDCS-like
// client-credentials token endpoint. It keeps folders, files and every
// version with its size and content SHA-256 (never the content), and it is
// strict where the documentation is: the multipart part names and order
// (jsonInputParameters before primaryFile; the version upload takes only
// primaryFile and metadataValues), Basic or Bearer auth, link headers and
// the dAccessCode cookie, case-insensitive unique names per folder. Numbers
// in its replies are JSON strings, as Oracle sends them. It is safe for
// concurrent use.
type Fake struct {
	mu            sync.Mutex
	seq           int
	folders       map[string]*fakeFolder
	files         map[string]*fakeFile
	order         []string // file ids in creation order
	tokens        map[string]bool
	links         map[string]string // public link id → access code ("" = none)
	linkFolder    map[string]string // public or app link id → folder it grants
	appLinks      map[string]string // applink id → access token
	restricted    map[string]bool
	failures      []*pendingFailure
	resets        []*pendingFailure
	requests      []Request
	tokenRequests int
	onCreate      func(parentID, name string)
}

type fakeFolder struct{ id, parent, name string }

type fakeFile struct {
	id, parent, name string
	trashed          bool
	versions         []FakeVersion
	created          time.Time
}

type pendingFailure struct {
	n  int
	op FakeOp
	f  Failure
}

// FakeFile is a file as the fake holds it.
type FakeFile struct {
	ID, ParentID, Name string
	Trashed            bool          // deleted to the trash
	Versions           []FakeVersion // oldest first
}

// Latest is the newest version.
func (f FakeFile) Latest() FakeVersion { return f.Versions[len(f.Versions)-1] }

// FakeVersion is one uploaded revision.
type FakeVersion struct {
	Number   int
	Size     int64
	SHA256   string            // hex SHA-256 of the content
	Filename string            // the primaryFile part's filename
	Metadata map[string]string // the metadataValues part, if any
}

// Request is one request the fake answered, for tests to inspect.
type Request struct {
	Op         FakeOp
	Method     string
	Path       string
	APIVersion string   // 1.1 or 1.2
	Status     int      // 0: the connection was reset
	Auth       string   // basic | bearer | ""
	LinkID     string   // LinkID header
	AppLinkID  string   // AppLinkID header
	Parts      []string // multipart part names in order
}

// Failure is an error the fake answers instead of serving a request.
type Failure struct {
	Status     int
	ErrorCode  string // Oracle's errorCode, e.g. "-20"; "" sends no JSON body
	Message    string // errorMessage
	RetryAfter string // Retry-After header value, if any
}

// NewFake returns a fake holding the home folder ("self") and, inside it,
// the folder FakeFolderName with id FakeFolderID.
func NewFake() *Fake {
	f := &Fake{
		folders:    map[string]*fakeFolder{"self": {id: "self", name: "Home"}},
		files:      map[string]*fakeFile{},
		tokens:     map[string]bool{},
		links:      map[string]string{},
		linkFolder: map[string]string{},
		appLinks:   map[string]string{},
		restricted: map[string]bool{},
	}
	f.folders[FakeFolderID] = &fakeFolder{id: FakeFolderID, parent: "self", name: FakeFolderName}
	return f
}

// Setup points a target at the fake: Basic auth with the demo
// credentials, destination folder FakeFolderID.
func (f *Fake) Setup(baseURL string) targets.FakeSetup {
	return targets.FakeSetup{
		Target: fmt.Sprintf("type: %s\nurl: %s\nauth: {type: basic, username: %s, password: %s}\n",
			Type, baseURL, FakeUser, FakePassword),
		Destination: fmt.Sprintf("{folder_id: %s}", FakeFolderID),
		Notes: []string{
			fmt.Sprintf("basic auth: username %s, password %s; or bearer token %s", FakeUser, FakePassword, FakeToken),
			fmt.Sprintf("oauth2: token_url %s%s, client_id %s, client_secret %s, scope %s",
				baseURL, FakeTokenPath, FakeClientID, FakeClientSecret, FakeScope),
			fmt.Sprintf("folder %q (folder_id %s) exists in the home folder (self); api_version 1.1 and 1.2 are served", FakeFolderName, FakeFolderID),
		},
	}
}

// AddFolder creates folder name in parentID, as another user would, and
// returns its id.
func (f *Fake) AddFolder(parentID, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.folders[parentID]; !ok {
		panic("oracledocs fake: no folder " + parentID)
	}
	id := f.newID('F')
	f.folders[id] = &fakeFolder{id: id, parent: parentID, name: name}
	return id
}

// AddFile uploads content as name into parentID, as another user would: a
// new file, or the next version of a same-named one. It returns the id.
func (f *Fake) AddFile(parentID, name string, content []byte) string {
	sum := sha256.Sum256(content)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.folders[parentID]; !ok {
		panic("oracledocs fake: no folder " + parentID)
	}
	fl, e := f.store(parentID, name, FakeVersion{Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]), Filename: name})
	if e != nil {
		panic("oracledocs fake: " + e.msg)
	}
	return fl.id
}

// RemoveFolder deletes a folder and everything in it, as another user
// would.
func (f *Fake) RemoveFolder(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gone := map[string]bool{id: true}
	for grew := true; grew; {
		grew = false
		for _, c := range f.folders {
			if gone[c.parent] && !gone[c.id] {
				gone[c.id], grew = true, true
			}
		}
	}
	for _, fl := range f.files {
		if gone[fl.parent] {
			fl.trashed = true
		}
	}
	for g := range gone {
		delete(f.folders, g)
	}
}

// Restrict makes folderID (and what is below it) reachable only through a
// link that grants it: other requests get 403 with errorCode -20.
func (f *Fake) Restrict(folderID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restricted[folderID] = true
}

// AddPublicLink creates a contributor public link to folderID, protected by
// accessCode unless it is empty, and returns the link id.
func (f *Fake) AddPublicLink(folderID, accessCode string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := "LF" + randHex(20)
	f.links[id], f.linkFolder[id] = accessCode, folderID
	return id
}

// AddAppLink creates a contributor applink to folderID and returns its id
// and access token.
func (f *Fake) AddAppLink(folderID string) (id, accessToken string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, accessToken = "LA"+randHex(20), randHex(24)
	f.appLinks[id], f.linkFolder[id] = accessToken, folderID
	return id, accessToken
}

// ExpireTokens makes every token issued by the token endpoint invalid, as
// if they had expired.
func (f *Fake) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]bool{}
}

// FailNext makes the next n requests of operation op (any API operation
// when op is "") answer with fl instead of being served. They are
// authenticated first, so a bad credential still gets 401.
func (f *Fake) FailNext(n int, op FakeOp, fl Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, &pendingFailure{n: n, op: op, f: fl})
}

// ResetNext makes the next n requests of operation op (any when "") end in
// a TCP reset after up to 32 KiB of the request body was read.
func (f *Fake) ResetNext(n int, op FakeOp) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, &pendingFailure{n: n, op: op})
}

// OnCreateFolder sets a function that runs when a Create Folder request
// has been accepted, just before the name is checked: a test can create a
// same-named folder there, as a concurrent client would.
func (f *Fake) OnCreateFolder(fn func(parentID, name string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCreate = fn
}

// File returns the file with the given id.
func (f *Fake) File(id string) (FakeFile, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.files[id]
	if !ok {
		return FakeFile{}, false
	}
	return fl.export(), true
}

// Files returns every file, trashed ones included, in creation order.
func (f *Fake) Files() []FakeFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]FakeFile, 0, len(f.order))
	for _, id := range f.order {
		out = append(out, f.files[id].export())
	}
	return out
}

// Find returns the file at rel ("sub/a.txt", case-insensitive) below
// folderID, unless it is trashed.
func (f *Fake) Find(folderID, rel string) (FakeFile, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir, name := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		dir, name = rel[:i], rel[i+1:]
	}
	parent, ok := f.folderAt(folderID, dir)
	if !ok {
		return FakeFile{}, false
	}
	if fl := f.fileNamed(parent, name); fl != nil {
		return fl.export(), true
	}
	return FakeFile{}, false
}

// FolderAt returns the id of the folder at rel ("a/b", case-insensitive)
// below folderID.
func (f *Fake) FolderAt(folderID, rel string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.folderAt(folderID, rel)
}

// Requests returns the log of answered requests, oldest first.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Count returns how many requests of operation op were answered.
func (f *Fake) Count(op FakeOp) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r.Op == op {
			n++
		}
	}
	return n
}

// TokenRequests returns how many tokens the token endpoint issued.
func (f *Fake) TokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenRequests
}

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	rec := Request{Method: r.Method, Path: r.URL.Path, LinkID: r.Header.Get("LinkID"), AppLinkID: r.Header.Get("AppLinkID")}
	if r.URL.Path == FakeTokenPath {
		rec.Op = OpToken
		f.token(sw, r)
		f.logRequest(rec, sw.status)
		return
	}
	version, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/documents/api/"), "/")
	if !strings.HasPrefix(r.URL.Path, "/documents/api/") || !ok || (version != APIVersion11 && version != APIVersion12) {
		http.NotFound(w, r)
		return
	}
	rec.APIVersion = version
	op, id := route(r.Method, strings.Trim(rest, "/"))
	rec.Op = op
	if op == "" {
		drain(r)
		writeError(sw, http.StatusNotFound, "-1", fmt.Sprintf("No resource %s %s.", r.Method, r.URL.Path))
		f.logRequest(rec, sw.status)
		return
	}
	if f.take(&f.resets, op) != nil {
		resetConn(w, r)
		f.logRequest(rec, 0)
		return
	}
	defer drain(r)
	rec.Auth = f.authenticate(r)
	if rec.Auth == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="Oracle Content Management"`)
		msg := "Authentication failed: the user name or password is not valid."
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			msg = "Authentication failed: the access token is not valid or has expired."
		}
		writeError(sw, http.StatusUnauthorized, "-1", msg)
		f.logRequest(rec, sw.status)
		return
	}
	if fl := f.take(&f.failures, op); fl != nil {
		if fl.RetryAfter != "" {
			w.Header().Set("Retry-After", fl.RetryAfter)
		}
		if fl.ErrorCode == "" {
			sw.WriteHeader(fl.Status)
		} else {
			writeError(sw, fl.Status, fl.ErrorCode, fl.Message)
		}
		f.logRequest(rec, sw.status)
		return
	}
	if e := f.checkLinks(r); e != nil {
		e.write(sw)
		f.logRequest(rec, sw.status)
		return
	}
	switch op {
	case OpUpload:
		f.upload(sw, r, &rec, version)
	case OpUploadVersion:
		f.uploadVersion(sw, r, &rec, version, id)
	case OpGetFile:
		f.getFile(sw, r, id)
	case OpDelete:
		f.deleteFile(sw, r, id)
	case OpListItems:
		f.listItems(sw, r, id)
	case OpCreateFolder:
		f.createFolder(sw, r, id)
	case OpGetFolder:
		f.getFolder(sw, r, id)
	}
	f.logRequest(rec, sw.status)
}

// route maps a method and the path below /documents/api/<v>/ to an
// operation and the id in the path.
func route(method, p string) (FakeOp, string) {
	seg := strings.Split(p, "/")
	switch {
	case method == http.MethodPost && p == "files/data":
		return OpUpload, ""
	case method == http.MethodPost && len(seg) == 3 && seg[0] == "files" && seg[2] == "data":
		return OpUploadVersion, seg[1]
	case method == http.MethodGet && len(seg) == 2 && seg[0] == "files":
		return OpGetFile, seg[1]
	case method == http.MethodDelete && len(seg) == 2 && seg[0] == "files":
		return OpDelete, seg[1]
	case method == http.MethodGet && len(seg) == 3 && seg[0] == "folders" && seg[2] == "items":
		return OpListItems, seg[1]
	case method == http.MethodPost && len(seg) == 2 && seg[0] == "folders":
		return OpCreateFolder, seg[1]
	case method == http.MethodGet && len(seg) == 2 && seg[0] == "folders":
		return OpGetFolder, seg[1]
	}
	return "", ""
}

func (f *Fake) take(list *[]*pendingFailure, op FakeOp) *Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range *list {
		if p.op == "" || p.op == op {
			p.n--
			if p.n <= 0 {
				*list = slices.Delete(*list, i, i+1)
			}
			fl := p.f
			return &fl
		}
	}
	return nil
}

func (f *Fake) logRequest(rec Request, status int) {
	rec.Status = status
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, rec)
}

// authenticate returns how the request authenticated, or "".
func (f *Fake) authenticate(r *http.Request) string {
	if user, pass, ok := r.BasicAuth(); ok {
		if user == FakeUser && pass == FakePassword {
			return "basic"
		}
		return ""
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if tok == FakeToken || f.tokens[tok] {
		return "bearer"
	}
	return ""
}

// token is the IDCS-like client-credentials endpoint: client id and secret
// as HTTP Basic, grant_type client_credentials, a scope ending in
// urn:opc:cec:all.
func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	defer drain(r)
	oauthErr := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost {
		oauthErr(http.StatusMethodNotAllowed, "invalid_request", "POST required")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != FakeClientID || secret != FakeClientSecret {
		oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("Grant type %q is not supported.", g))
		return
	}
	if s := r.PostForm.Get("scope"); !strings.HasSuffix(s, "urn:opc:cec:all") {
		oauthErr(http.StatusBadRequest, "invalid_scope", fmt.Sprintf("The requested scope %q is invalid: expected <primary audience>urn:opc:cec:all.", s))
		return
	}
	tok := randHex(32)
	f.mu.Lock()
	f.tokens[tok] = true
	f.tokenRequests++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

// oerr is an Oracle error reply.
type oerr struct {
	status int
	code   string
	msg    string
}

func (e *oerr) write(w http.ResponseWriter) { writeError(w, e.status, e.code, e.msg) }

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{
		"errorCode":    code,
		"errorKey":     "!csFakeOracleError," + code,
		"errorMessage": msg,
		"errorType":    "file",
		"title":        msg,
		"type":         "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func errNotFound(id string) *oerr {
	return &oerr{http.StatusNotFound, "-16", fmt.Sprintf("Unable to find folder or file with ID '%s'.", id)}
}

// checkLinks validates the link headers: a LinkID must be known and, when
// protected, come with its dAccessCode-<linkID> cookie; an AppLinkID must
// come with its AccessToken.
func (f *Fake) checkLinks(r *http.Request) *oerr {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id := r.Header.Get("LinkID"); id != "" {
		code, ok := f.links[id]
		if !ok {
			return &oerr{http.StatusBadRequest, "-26", "The link is invalid or has expired."}
		}
		if code != "" {
			c, err := r.Cookie("dAccessCode-" + id)
			if err != nil || c.Value != code {
				return &oerr{http.StatusForbidden, "-18", "The access code must be provided to access the link."}
			}
		}
	}
	if id := r.Header.Get("AppLinkID"); id != "" {
		tok, ok := f.appLinks[id]
		if !ok || r.Header.Get("AccessToken") != tok {
			return &oerr{http.StatusBadRequest, "-26", "The applink is invalid or has expired, or its access token does not match."}
		}
	}
	return nil
}

// access checks that the request may work in folder id: it must exist and,
// when it or a parent is restricted, a valid link must grant it or a parent.
// Call with f.mu held.
func (f *Fake) access(r *http.Request, id string) *oerr {
	if _, ok := f.folders[id]; !ok {
		return errNotFound(id)
	}
	granted := map[string]bool{}
	for _, h := range []string{"LinkID", "AppLinkID"} {
		if l := r.Header.Get(h); l != "" {
			granted[f.linkFolder[l]] = true
		}
	}
	restricted := false
	for cur, ok := f.folders[id]; ok; cur, ok = f.folders[cur.parent] {
		if granted[cur.id] {
			return nil
		}
		restricted = restricted || f.restricted[cur.id]
	}
	if restricted {
		return &oerr{http.StatusForbidden, "-20", fmt.Sprintf("User '%s' has insufficient privilege to access fFolderGUID:%s.", FakeUser, id)}
	}
	return nil
}

// upload serves Upload File: jsonInputParameters (with parentID) first,
// then primaryFile, then optionally metadataValues. A same-named file in
// the folder gets a new revision (200); otherwise a file is created (201).
func (f *Fake) upload(w http.ResponseWriter, r *http.Request, rec *Request, version string) {
	mr, e := multipartOf(r)
	if e != nil {
		e.write(w)
		return
	}
	p, err := mr.NextPart()
	if err != nil || p.FormName() != "jsonInputParameters" {
		writeError(w, http.StatusBadRequest, "-1", "The jsonInputParameters part must come first, before primaryFile.")
		return
	}
	rec.Parts = append(rec.Parts, p.FormName())
	var in struct {
		ParentID string `json:"parentID"`
	}
	if err := json.NewDecoder(io.LimitReader(p, 64<<10)).Decode(&in); err != nil || in.ParentID == "" {
		writeError(w, http.StatusBadRequest, "-1", "jsonInputParameters must be a JSON object with parentID.")
		return
	}
	f.mu.Lock()
	e = f.access(r, in.ParentID)
	f.mu.Unlock()
	if e != nil {
		e.write(w)
		return
	}
	up, e := readUpload(mr, rec)
	if e != nil {
		e.write(w)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.access(r, in.ParentID); e != nil {
		e.write(w)
		return
	}
	fl, e := f.store(in.ParentID, up.filename, FakeVersion{Size: up.size, SHA256: up.sha, Filename: up.filename, Metadata: up.metadata})
	if e != nil {
		e.write(w)
		return
	}
	status := http.StatusOK
	if len(fl.versions) == 1 {
		status = http.StatusCreated
	}
	f.writeFile(w, r, status, version, fl)
}

// uploadVersion serves Upload File Version: primaryFile, then optionally
// metadataValues; 200 with the version number one higher.
func (f *Fake) uploadVersion(w http.ResponseWriter, r *http.Request, rec *Request, version, id string) {
	f.mu.Lock()
	fl, ok := f.files[id]
	var e *oerr
	if !ok || fl.trashed {
		e = errNotFound(id)
	} else {
		e = f.access(r, fl.parent)
	}
	f.mu.Unlock()
	if e != nil {
		e.write(w)
		return
	}
	mr, e := multipartOf(r)
	if e != nil {
		e.write(w)
		return
	}
	up, e := readUpload(mr, rec)
	if e != nil {
		e.write(w)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl.trashed {
		errNotFound(id).write(w)
		return
	}
	f.seq++
	fl.versions = append(fl.versions, FakeVersion{Number: len(fl.versions) + 1, Size: up.size, SHA256: up.sha, Filename: up.filename, Metadata: up.metadata})
	f.writeFile(w, r, http.StatusOK, version, fl)
}

type received struct {
	filename string
	size     int64
	sha      string
	metadata map[string]string
}

// readUpload reads the primaryFile part, hashing it as it arrives, and an
// optional metadataValues part before or after it (the documentation orders
// only jsonInputParameters before primaryFile); nothing else is allowed.
func readUpload(mr *multipart.Reader, rec *Request) (*received, *oerr) {
	bad := func(msg string) *oerr { return &oerr{http.StatusBadRequest, "-1", msg} }
	up := &received{}
	seenFile := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			if !seenFile {
				return nil, bad("The primaryFile part is missing.")
			}
			return up, nil
		}
		if err != nil {
			return nil, bad("Malformed multipart body: " + err.Error())
		}
		rec.Parts = append(rec.Parts, p.FormName())
		switch {
		case p.FormName() == "primaryFile" && !seenFile:
			seenFile = true
			if up.filename = p.FileName(); up.filename == "" {
				return nil, bad("The primaryFile part needs a filename.")
			}
			h := sha256.New()
			if up.size, err = io.Copy(h, p); err != nil {
				return nil, bad("Reading primaryFile: " + err.Error())
			}
			up.sha = hex.EncodeToString(h.Sum(nil))
		case p.FormName() == "metadataValues" && up.metadata == nil:
			if mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt != "application/json" {
				return nil, bad("metadataValues must be sent with Content-Type: application/json.")
			}
			var m map[string]any
			if err := json.NewDecoder(io.LimitReader(p, 64<<10)).Decode(&m); err != nil {
				return nil, bad("metadataValues is not a JSON object: " + err.Error())
			}
			if s, _ := m["collection"].(string); s == "" {
				return nil, bad("metadataValues must name its collection.")
			}
			up.metadata = map[string]string{}
			for k, v := range m {
				up.metadata[k] = fmt.Sprint(v)
			}
		default:
			return nil, bad(fmt.Sprintf("Unexpected part %q: only primaryFile and metadataValues belong here.", p.FormName()))
		}
	}
}

func multipartOf(r *http.Request) (*multipart.Reader, *oerr) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, &oerr{http.StatusBadRequest, "-1", "The request must be multipart/form-data."}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &oerr{http.StatusBadRequest, "-1", "Malformed multipart request: " + err.Error()}
	}
	return mr, nil
}

// store adds a version to the same-named file in parent or creates the
// file. A same-named folder is a conflict. Call with f.mu held.
func (f *Fake) store(parent, name string, v FakeVersion) (*fakeFile, *oerr) {
	if f.folderNamed(parent, name) != nil {
		return nil, &oerr{http.StatusConflict, "-17", fmt.Sprintf("A folder with the name '%s' already exists in the target folder.", name)}
	}
	f.seq++
	fl := f.fileNamed(parent, name)
	if fl == nil {
		fl = &fakeFile{id: f.newID('D'), parent: parent, name: name, created: time.Now().UTC()}
		f.files[fl.id] = fl
		f.order = append(f.order, fl.id)
	}
	v.Number = len(fl.versions) + 1
	fl.versions = append(fl.versions, v)
	return fl, nil
}

func (f *Fake) writeFile(w http.ResponseWriter, r *http.Request, status int, version string, fl *fakeFile) {
	w.Header().Set("Location", fmt.Sprintf("%s/documents/api/%s/files/%s", baseOf(r), version, fl.id))
	body := f.fileJSON(fl)
	body["errorKey"] = "!csServiceStatusMessage_checkin," + checkinID(f.seq)
	body["errorMessage"] = fmt.Sprintf("Successfully checked in content item '%s'.", checkinID(f.seq))
	writeJSON(w, status, body)
}

func (f *Fake) getFile(w http.ResponseWriter, r *http.Request, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.files[id]
	if !ok || fl.trashed {
		errNotFound(id).write(w)
		return
	}
	if e := f.access(r, fl.parent); e != nil {
		e.write(w)
		return
	}
	writeJSON(w, http.StatusOK, f.fileJSON(fl))
}

func (f *Fake) deleteFile(w http.ResponseWriter, r *http.Request, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.files[id]
	if !ok || fl.trashed {
		errNotFound(id).write(w)
		return
	}
	if e := f.access(r, fl.parent); e != nil {
		e.write(w)
		return
	}
	fl.trashed = true
	writeJSON(w, http.StatusOK, map[string]string{"errorCode": "0", "errorMessage": fmt.Sprintf("File '%s' was moved to the trash.", fl.name)})
}

// listItems serves Get Specific Folder Contents with filterName (exact
// name, case-insensitive as Oracle's names are), limit, offset; items are
// ordered by name.
func (f *Fake) listItems(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	limit, offset := 50, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "-1", "limit must be a number from 1 to 10000.")
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "-1", "offset must be a number of 0 or more.")
			return
		}
		offset = n
	}
	filter, filtered := q.Get("filterName"), q.Has("filterName")
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.access(r, id); e != nil {
		e.write(w)
		return
	}
	all := []map[string]any{}
	for _, c := range f.folders {
		if c.parent == id && (!filtered || strings.EqualFold(c.name, filter)) {
			all = append(all, f.folderJSON(c))
		}
	}
	for _, c := range f.files {
		if c.parent == id && !c.trashed && (!filtered || strings.EqualFold(c.name, filter)) {
			all = append(all, f.fileJSON(c))
		}
	}
	slices.SortFunc(all, func(a, b map[string]any) int {
		return strings.Compare(strings.ToLower(a["name"].(string)), strings.ToLower(b["name"].(string)))
	})
	page := all[min(offset, len(all)):min(offset+limit, len(all))]
	hasMore := "0"
	if offset+len(page) < len(all) {
		hasMore = "1"
	}
	body := f.folderJSON(f.folders[id])
	body["count"] = strconv.Itoa(len(page))
	body["totalResults"] = strconv.Itoa(len(all))
	body["offset"] = strconv.Itoa(offset)
	body["limit"] = strconv.Itoa(limit)
	body["hasMore"] = hasMore
	body["errorCode"] = "0"
	body["items"] = page
	writeJSON(w, http.StatusOK, body)
}

// createFolder serves Create Folder: JSON {name, description}; 201. A
// same-named folder or file in the parent answers 409 with errorCode -17.
func (f *Fake) createFolder(w http.ResponseWriter, r *http.Request, parent string) {
	var in struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil || strings.TrimSpace(in.Name) == "" {
		writeError(w, http.StatusBadRequest, "-1", "The request body must be a JSON object with name.")
		return
	}
	f.mu.Lock()
	e := f.access(r, parent)
	hook := f.onCreate
	f.mu.Unlock()
	if e != nil {
		e.write(w)
		return
	}
	if hook != nil {
		hook(parent, in.Name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.access(r, parent); e != nil {
		e.write(w)
		return
	}
	if f.folderNamed(parent, in.Name) != nil || f.fileNamed(parent, in.Name) != nil {
		writeError(w, http.StatusConflict, "-17", fmt.Sprintf("A folder or file with the name '%s' already exists in the target folder.", in.Name))
		return
	}
	c := &fakeFolder{id: f.newID('F'), parent: parent, name: in.Name}
	f.folders[c.id] = c
	body := f.folderJSON(c)
	body["errorCode"] = "0"
	writeJSON(w, http.StatusCreated, body)
}

func (f *Fake) getFolder(w http.ResponseWriter, r *http.Request, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.access(r, id); e != nil {
		e.write(w)
		return
	}
	body := f.folderJSON(f.folders[id])
	body["errorCode"] = "0"
	writeJSON(w, http.StatusOK, body)
}

// Call with f.mu held.
func (f *Fake) folderNamed(parent, name string) *fakeFolder {
	for _, c := range f.folders {
		if c.parent == parent && strings.EqualFold(c.name, name) {
			return c
		}
	}
	return nil
}

// Call with f.mu held.
func (f *Fake) fileNamed(parent, name string) *fakeFile {
	for _, c := range f.files {
		if c.parent == parent && !c.trashed && strings.EqualFold(c.name, name) {
			return c
		}
	}
	return nil
}

// Call with f.mu held.
func (f *Fake) folderAt(root, rel string) (string, bool) {
	if _, ok := f.folders[root]; !ok {
		return "", false
	}
	id := root
	if rel == "" {
		return id, true
	}
	for _, name := range strings.Split(rel, "/") {
		c := f.folderNamed(id, name)
		if c == nil {
			return "", false
		}
		id = c.id
	}
	return id, true
}

var fakeUserJSON = map[string]string{"id": "U0EAA20910FAF3052ACB79E4T00000000001", "displayName": "Demo User", "loginName": FakeUser, "type": "user"}

func (f *Fake) fileJSON(fl *fakeFile) map[string]any {
	v := fl.versions[len(fl.versions)-1]
	return map[string]any{
		"id": fl.id, "parentID": fl.parent, "name": fl.name, "type": "file",
		"size": strconv.FormatInt(v.Size, 10), "version": strconv.Itoa(v.Number),
		"mimeType":    contentType(fl.name),
		"createdTime": fl.created.Format(time.RFC3339), "modifiedTime": time.Now().UTC().Format(time.RFC3339),
		"createdBy": fakeUserJSON, "modifiedBy": fakeUserJSON, "ownedBy": fakeUserJSON,
		"errorCode": "0",
	}
}

func (f *Fake) folderJSON(c *fakeFolder) map[string]any {
	return map[string]any{
		"id": c.id, "parentID": c.parent, "name": c.name, "type": "folder",
		"createdBy": fakeUserJSON, "modifiedBy": fakeUserJSON, "ownedBy": fakeUserJSON,
	}
}

func (fl *fakeFile) export() FakeFile {
	return FakeFile{ID: fl.id, ParentID: fl.parent, Name: fl.name, Trashed: fl.trashed, Versions: slices.Clone(fl.versions)}
}

// newID returns a GUID in Oracle's shape: a type letter (D file, F
// folder), 23 hex digits, and a tenant suffix. Call with f.mu held.
func (f *Fake) newID(kind byte) string {
	f.seq++
	return fmt.Sprintf("%c%06X%s%s", kind, f.seq, strings.ToUpper(randHex(9))[:17], "T0000000000100000001")
}

func checkinID(seq int) string { return fmt.Sprintf("ADC41203%022d", seq) }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func baseOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host}).String()
}

// drain reads what is left of a request body, so the client's upload
// completes before the reply and the connection stays usable.
func drain(r *http.Request) { io.Copy(io.Discard, r.Body) }

// resetConn reads some of the request and resets the TCP connection.
func resetConn(w http.ResponseWriter, r *http.Request) {
	io.CopyN(io.Discard, r.Body, 32<<10)
	fakehttp.Reset(w)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
