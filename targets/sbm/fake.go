package sbm

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/dropsync/dropsync/targets"
)

// Credentials the fake accepts, for HTTP Basic and for its TokenService.
const (
	FakeUsername = "dropsync"
	FakePassword = "dropsync-demo"
)

// FakeTokenPath is where the fake serves the SSO TokenService.
const FakeTokenPath = "/idp/services/rest/TokenService/"

// Fake is a faithful SBM JSON API server for tests, the demo and
// `dropsync fake-server`. It serves UpdateFileField, GetFileField and the
// SSO TokenService; it is strict where the documentation is (JSON shape,
// key names, valid base64, filename and data when adding, the action
// semantics, record locks with breakLock) and permissive where it is silent
// (how objects are matched: id, else uuid, else name or file name; the HTTP
// status of a failed result: 200 with result.type ERROR, 404 for a missing
// table, item, field or transition). File contents are decoded as they
// arrive and kept only as size and SHA-256, so includeFile answers carry
// metadata only, as the server does above its 50 MB response cap.
//
// It starts with table 1000 (UBG_ISSUES) holding items 140 and 141 and the
// file field 189 (FILEFIELD), and transition 1 (UPDATE). It is safe for
// concurrent use.
type Fake struct {
	mu       sync.Mutex
	tables   []*fakeTable
	nextID   int64
	tokens   map[string]bool
	fail     []fakeFailure
	resets   int
	requests []Request
}

type fakeTable struct {
	ID           int
	UUID         string
	Name, DBName string
	Fields       []*fakeField
	Items        []*fakeItem
	Transitions  []*fakeField // same identifiers: id, uuid, name, dbname
}

type fakeField struct {
	ID           int
	UUID         string
	Name, DBName string
}

type fakeItem struct {
	ID       int
	UUID     string
	LockedBy string
	Files    map[int][]*FileObject // by field id
}

// FileObject is a file object the fake holds.
type FileObject struct {
	ID       int64
	UUID     string
	Name     string
	Filename string
	Size     int64
	SHA256   string // hex SHA-256 of the content
	Updates  int    // how often its content was replaced
}

// SentObject is one fileObjList entry of a request, as received.
type SentObject struct {
	Action   string
	ID       int64
	UUID     string
	Name     string
	Filename string
	HasData  bool
	Size     int64  // decoded bytes
	SHA256   string // of the decoded bytes
}

// Request records one request the fake answered.
type Request struct {
	Op     string // UpdateFileField, GetFileField or TokenService
	Path   string
	Auth   string // basic, sso, or "" when refused
	Status int
	// ContentLength is the declared length (-1 if none); BodyBytes what
	// arrived. They differ only for a body cut short.
	ContentLength, BodyBytes int64
	// The request's flags; nil when absent.
	IncludeFile, BreakLock, AlwaysTrans *bool
	Objects                             []SentObject
	LockBroken                          bool   // breakLock stole a record lock
	Msg                                 string // result.msg of the answer
}

type fakeFailure struct {
	status int
	msg    string
}

// NewFake returns a fake with the documented example's table, items and
// file field.
func NewFake() *Fake {
	f := &Fake{nextID: 26, tokens: map[string]bool{}}
	f.tables = []*fakeTable{{
		ID: 1000, UUID: "5d7c4a1e-3f0b-4a49-9b61-2c0e6f1d9a10", Name: "Issues", DBName: "UBG_ISSUES",
		Fields:      []*fakeField{{ID: 189, UUID: "c24c3001-a999-40fa-9dd8-42b0fc728ea5", Name: "FileField", DBName: "FILEFIELD"}},
		Transitions: []*fakeField{{ID: 1, UUID: "0b9f3e52-6b8e-4d7d-a2f4-7e1c5d3a8b21", Name: "Update", DBName: "UPDATE"}},
		Items: []*fakeItem{
			{ID: 140, UUID: "9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4", Files: map[int][]*FileObject{}},
			{ID: 141, UUID: "1a2b3c4d-5e6f-4789-8abc-def012345678", Files: map[int][]*FileObject{}},
		},
	}}
	return f
}

// Setup implements targets.Fake: basic auth with the demo credentials,
// into the file field FILEFIELD of item 140 in table 1000.
func (f *Fake) Setup(baseURL string) targets.FakeSetup {
	return targets.FakeSetup{
		Target:      fmt.Sprintf("type: sbm\nurl: %s\nauth: {type: basic, username: %s, password: %s}\n", baseURL, FakeUsername, FakePassword),
		Destination: "{table: 1000, item: 140, field: FILEFIELD}",
		Notes: []string{
			fmt.Sprintf("HTTP Basic: username %q, password %q", FakeUsername, FakePassword),
			fmt.Sprintf("SSO: auth {type: sso, token_service_url: %s%s, username: %s, password: %s}", baseURL, FakeTokenPath, FakeUsername, FakePassword),
			"table 1000 (UBG_ISSUES) with items 140 and 141, file field 189 (FILEFIELD), transition 1 (UPDATE) or 0",
		},
	}
}

// Lock makes the item record-locked by user, as when someone has its
// transition form open; "" unlocks it.
func (f *Fake) Lock(table, item, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, it, err := f.find(table, item)
	if err != nil {
		return err
	}
	it.LockedBy = user
	return nil
}

// LockedBy returns who holds the item's record lock, or "".
func (f *Fake) LockedBy(table, item string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, it, err := f.find(table, item); err == nil {
		return it.LockedBy
	}
	return ""
}

// Files returns copies of the file objects in a file field, by id.
func (f *Fake) Files(table, item, field string) []FileObject {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, it, err := f.find(table, item)
	if err != nil {
		return nil
	}
	fl := t.field(field)
	if fl == nil {
		return nil
	}
	var out []FileObject
	for _, o := range it.Files[fl.ID] {
		out = append(out, *o)
	}
	return out
}

// AddFile puts a file object into a file field, as another user would.
func (f *Fake) AddFile(table, item, field, name string, content []byte) (FileObject, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, it, err := f.find(table, item)
	if err != nil {
		return FileObject{}, err
	}
	fl := t.field(field)
	if fl == nil {
		return FileObject{}, fmt.Errorf("no field %s", field)
	}
	sum := sha256.Sum256(content)
	o := f.newObject(name, name, int64(len(content)), hex.EncodeToString(sum[:]))
	it.Files[fl.ID] = append(it.Files[fl.ID], o)
	return *o, nil
}

// FailNext makes the next JSON API request (after authentication) answer
// status with result.type ERROR and msg, without reading its body.
func (f *Fake) FailNext(status int, msg string) {
	f.mu.Lock()
	f.fail = append(f.fail, fakeFailure{status, msg})
	f.mu.Unlock()
}

// ResetNext makes the next JSON API request's connection close without
// an answer.
func (f *Fake) ResetNext() {
	f.mu.Lock()
	f.resets++
	f.mu.Unlock()
}

// ExpireTokens invalidates every SSO token issued so far: requests that
// carry one are answered 401.
func (f *Fake) ExpireTokens() {
	f.mu.Lock()
	clear(f.tokens)
	f.mu.Unlock()
}

// Requests returns what the fake has answered so far, in order (the last
// 10000 at most).
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Count returns how many requests of op (UpdateFileField, GetFileField,
// TokenService) the fake has answered.
func (f *Fake) Count(op string) int {
	n := 0
	for _, r := range f.Requests() {
		if r.Op == op {
			n++
		}
	}
	return n
}

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs, err := segments(r.URL.EscapedPath())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(segs) == 4 && strings.EqualFold(strings.Join(segs, "/"), "idp/services/rest/TokenService") {
		f.serveToken(w, r)
		return
	}
	if len(segs) > 0 && segs[0] == "jsonapi" {
		segs = segs[1:]
	}
	// GetFileField's documented example omits /jsonapi; both are served.
	switch {
	case len(segs) >= 4 && len(segs) <= 5 && strings.EqualFold(segs[0], "UpdateFileField"):
		f.serveAPI(w, r, "UpdateFileField", segs[1:])
	case len(segs) == 4 && strings.EqualFold(segs[0], "GetFileField"):
		f.serveAPI(w, r, "GetFileField", segs[1:])
	default:
		http.NotFound(w, r)
	}
}

func segments(p string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (f *Fake) serveToken(w http.ResponseWriter, r *http.Request) {
	rec := Request{Op: "TokenService", Path: r.URL.Path, ContentLength: r.ContentLength}
	defer func() { f.record(rec) }()
	answer := func(status int, v any) {
		rec.Status = status
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Method != http.MethodPost {
		answer(http.StatusMethodNotAllowed, map[string]string{"status": "ERROR", "message": "use POST"})
		return
	}
	var req struct {
		Credentials *struct {
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"credentials"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Credentials == nil {
		answer(http.StatusBadRequest, map[string]string{"status": "ERROR", "message": `the body must be {"credentials":{"username":…,"password":…}}`})
		return
	}
	if req.Credentials.Username != FakeUsername || req.Credentials.Password != FakePassword {
		answer(http.StatusUnauthorized, map[string]string{"status": "ERROR", "message": "Invalid user name or password."})
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := base64.StdEncoding.EncodeToString(b[:])
	f.mu.Lock()
	f.tokens[tok] = true
	f.mu.Unlock()
	answer(http.StatusOK, map[string]any{
		"status":   "OK",
		"lifetime": map[string]any{"seconds": 3600},
		"token":    map[string]string{"tokenType": "SSO", "encoding": "base64", "value": tok},
	})
}

// fakeReply is the JSON API answer.
type fakeReply struct {
	Field  *fakeFieldReply `json:"fieldFileObj,omitempty"`
	Result result          `json:"result"`
}

type fakeFieldReply struct {
	ID        int              `json:"id"`
	UUID      string           `json:"uuid"`
	Name      string           `json:"name"`
	DBName    string           `json:"dbname"`
	FldType   int              `json:"fldtype"`
	TypeLabel string           `json:"fldtypelabel"`
	Objects   []fakeObjectJSON `json:"fileObjList"`
	Count     int              `json:"fileObjCount"`
}

type fakeObjectJSON struct {
	ID       int64  `json:"id"`
	UUID     string `json:"uuid"`
	Name     string `json:"name"`
	Filename string `json:"filename"`
	Size     int64  `json:"filesize"`
	URL      string `json:"fileurl"`
}

func (f *Fake) serveAPI(w http.ResponseWriter, r *http.Request, op string, segs []string) {
	rec := Request{Op: op, Path: r.URL.Path, ContentLength: r.ContentLength}
	defer func() { f.record(rec) }()
	answer := func(status int, typ, msg string, fr *fakeFieldReply) {
		rec.Status, rec.Msg = status, msg
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(fakeReply{Field: fr, Result: result{Type: typ, Msg: msg, MsgLoc: msg}})
	}
	if op == "UpdateFileField" && r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(http.StatusMethodNotAllowed, "ERROR", "UpdateFileField requires POST with a JSON body.", nil)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		answer(http.StatusMethodNotAllowed, "ERROR", op+" takes GET or POST.", nil)
		return
	}
	rec.Auth = f.authenticate(r)
	if rec.Auth == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="SBM"`)
		answer(http.StatusUnauthorized, "ERROR", "Authentication failed: supply valid credentials or an ALFSSOAuthNToken.", nil)
		return
	}
	f.mu.Lock()
	var fail *fakeFailure
	reset := f.resets > 0
	if reset {
		f.resets--
	} else if len(f.fail) > 0 {
		fail = &f.fail[0]
		f.fail = f.fail[1:]
	}
	f.mu.Unlock()
	if reset {
		rec.Status = -1
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if fail != nil {
		answer(fail.status, "ERROR", fail.msg, nil)
		return
	}
	// The path is checked before the body is read.
	f.mu.Lock()
	t, it, fl, err := f.resolve(segs)
	f.mu.Unlock()
	if err != nil {
		answer(http.StatusNotFound, "ERROR", err.Error(), nil)
		return
	}

	body := &countingReader{r: r.Body}
	br := bufio.NewReaderSize(body, 64<<10)
	u := &fakeUpdate{}
	if _, perr := br.Peek(1); perr == nil || op == "UpdateFileField" { // GetFileField's body is optional
		u, err = parseUpdate(br, op == "GetFileField")
		if err == nil {
			_, err = io.Copy(io.Discard, body)
		}
	}
	rec.BodyBytes = body.n
	if u != nil {
		rec.IncludeFile, rec.BreakLock, rec.AlwaysTrans, rec.Objects = u.IncludeFile, u.BreakLock, u.AlwaysTrans, u.Objects
	}
	if err == nil && r.ContentLength >= 0 && body.n != r.ContentLength {
		err = fmt.Errorf("content-length %d but %d bytes arrived", r.ContentLength, body.n)
	}
	if err != nil {
		answer(http.StatusBadRequest, "ERROR", "Invalid JSON request: "+err.Error(), nil)
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	msg := ""
	if op == "UpdateFileField" {
		if it.LockedBy != "" {
			if u.BreakLock != nil && !*u.BreakLock {
				answer(http.StatusOK, "ERROR", fmt.Sprintf("Item %d:%d is locked by user %s; the file field was not changed.", t.ID, it.ID, it.LockedBy), nil)
				return
			}
			it.LockedBy, rec.LockBroken = "", true // breakLock defaults to true
		}
		if msg, err = f.apply(it, fl, u); err != nil {
			answer(http.StatusOK, "ERROR", err.Error(), nil)
			return
		}
		msg = fmt.Sprintf("The item %d:%d was %s.", t.ID, it.ID, msg)
	}
	answer(http.StatusOK, "OK", msg, f.listing(r, fl, it.Files[fl.ID], u.Filter))
}

// maxRequests bounds the request log of a long-running fake-server.
const maxRequests = 10000

func (f *Fake) record(r Request) {
	f.mu.Lock()
	if len(f.requests) == maxRequests {
		f.requests = slices.Delete(f.requests, 0, maxRequests/10)
	}
	f.requests = append(f.requests, r)
	f.mu.Unlock()
}

func (f *Fake) authenticate(r *http.Request) string {
	if tok := r.Header.Get(TokenHeader); tok != "" {
		f.mu.Lock()
		ok := f.tokens[tok]
		f.mu.Unlock()
		if ok {
			return "sso"
		}
		return ""
	}
	if u, p, ok := r.BasicAuth(); ok && u == FakeUsername && p == FakePassword {
		return "basic"
	}
	return ""
}

// resolve finds table, item, file field and (for updates) transition.
// f.mu is held.
func (f *Fake) resolve(segs []string) (*fakeTable, *fakeItem, *fakeField, error) {
	t, it, err := f.find(segs[0], segs[1])
	if err != nil {
		return nil, nil, nil, err
	}
	fl := t.field(segs[2])
	if fl == nil {
		return nil, nil, nil, newServerMsg("Field '%s' was not found in table %d.", segs[2], t.ID)
	}
	if len(segs) == 4 && segs[3] != "0" && matchField(t.Transitions, segs[3]) == nil {
		return nil, nil, nil, newServerMsg("Transition '%s' was not found for item %d:%d.", segs[3], t.ID, it.ID)
	}
	return t, it, fl, nil
}

// find resolves a table (ID, UUID, dbname or name) and an item (ID or
// UUID). f.mu is held.
func (f *Fake) find(table, item string) (*fakeTable, *fakeItem, error) {
	var t *fakeTable
	for _, c := range f.tables {
		if strconv.Itoa(c.ID) == table || strings.EqualFold(c.UUID, table) || strings.EqualFold(c.DBName, table) || strings.EqualFold(c.Name, table) {
			t = c
		}
	}
	if t == nil {
		return nil, nil, newServerMsg("Table '%s' was not found.", table)
	}
	for _, it := range t.Items {
		if strconv.Itoa(it.ID) == item || strings.EqualFold(it.UUID, item) {
			return t, it, nil
		}
	}
	return nil, nil, newServerMsg("Item %d:%s was not found.", t.ID, item)
}

func (t *fakeTable) field(id string) *fakeField { return matchField(t.Fields, id) }

func matchField(list []*fakeField, id string) *fakeField {
	for _, c := range list {
		if strconv.Itoa(c.ID) == id || strings.EqualFold(c.UUID, id) || strings.EqualFold(c.DBName, id) || strings.EqualFold(c.Name, id) {
			return c
		}
	}
	return nil
}

func (f *Fake) newObject(name, filename string, size int64, sum string) *FileObject {
	f.nextID++
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b[:])
	id := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	return &FileObject{ID: f.nextID, UUID: id, Name: name, Filename: filename, Size: size, SHA256: sum}
}

// apply carries out the request's actions on the field, all or none, and
// describes what happened. f.mu is held.
func (f *Fake) apply(it *fakeItem, fl *fakeField, u *fakeUpdate) (string, error) {
	objs := make([]*FileObject, 0, len(it.Files[fl.ID]))
	for _, o := range it.Files[fl.ID] {
		c := *o
		objs = append(objs, &c)
	}
	if u.DeleteAll != nil && *u.DeleteAll {
		objs = objs[:0]
	}
	changed := u.DeleteAll != nil && *u.DeleteAll
	var added []*FileObject
	for i, s := range u.Objects {
		where := fmt.Sprintf("fileObjList[%d] (%s)", i, s.Action)
		idx := match(objs, s)
		switch {
		case s.Action == actionDelete:
			if idx < 0 {
				return "", newServerMsg("%s: no file object matches %s in field %s.", where, ident(s), fl.DBName)
			}
			objs = slices.Delete(objs, idx, idx+1)
		case idx >= 0 && s.Action == actionNewOnly:
			return "", newServerMsg("%s: file '%s' already exists in field %s (id %d).", where, objs[idx].Filename, fl.DBName, objs[idx].ID)
		case idx < 0 && s.Action == "UPDATE-ONLY":
			return "", newServerMsg("%s: no file object matches %s in field %s; UPDATE-ONLY never adds.", where, ident(s), fl.DBName)
		case idx >= 0: // update
			o := objs[idx]
			if s.Filename != "" {
				o.Filename = s.Filename
			}
			switch {
			case s.Name != "":
				o.Name = s.Name
			case s.Filename != "":
				o.Name = s.Filename // a blank name on update takes the file name
			}
			if s.HasData {
				o.Size, o.SHA256 = s.Size, s.SHA256
				o.Updates++
			}
		default: // add
			if s.Filename == "" {
				return "", newServerMsg("%s: filename is required when adding a file.", where)
			}
			if !s.HasData {
				return "", newServerMsg("%s: contentsbase64.data is required when adding a file.", where)
			}
			name := s.Name
			if name == "" {
				name = s.Filename
			}
			o := &FileObject{Name: name, Filename: s.Filename, Size: s.Size, SHA256: s.SHA256}
			objs = append(objs, o)
			added = append(added, o)
		}
		changed = true
	}
	for _, o := range added { // ids only for a request that succeeds
		n := f.newObject(o.Name, o.Filename, o.Size, o.SHA256)
		*o = *n
	}
	it.Files[fl.ID] = objs
	if !changed && (u.AlwaysTrans == nil || !*u.AlwaysTrans) {
		return "not changed; no transition was run", nil
	}
	return "successfully transitioned", nil
}

// match finds the object a request entry names: by id or uuid when it
// gives one, else by name or file name. -1 if none.
func match(objs []*FileObject, s SentObject) int {
	if s.ID != 0 || s.UUID != "" {
		return slices.IndexFunc(objs, func(o *FileObject) bool {
			return (s.ID != 0 && o.ID == s.ID) || (s.UUID != "" && strings.EqualFold(o.UUID, s.UUID))
		})
	}
	name := s.Name
	if name == "" {
		name = s.Filename
	}
	if name == "" {
		return -1
	}
	return slices.IndexFunc(objs, func(o *FileObject) bool { return o.Name == name || o.Filename == name })
}

func ident(s SentObject) string {
	switch {
	case s.ID != 0:
		return fmt.Sprintf("id %d", s.ID)
	case s.UUID != "":
		return "uuid " + s.UUID
	case s.Name != "":
		return fmt.Sprintf("name '%s'", s.Name)
	}
	return fmt.Sprintf("filename '%s'", s.Filename)
}

// listing is the fieldFileObj of a reply, filtered by fileObjFilter.
// f.mu is held.
func (f *Fake) listing(r *http.Request, fl *fakeField, objs []*FileObject, filter []string) *fakeFieldReply {
	fr := &fakeFieldReply{ID: fl.ID, UUID: fl.UUID, Name: fl.Name, DBName: fl.DBName, FldType: 132, TypeLabel: "file", Objects: []fakeObjectJSON{}}
	for _, o := range objs {
		if len(filter) > 0 && !slices.ContainsFunc(filter, func(v string) bool {
			return v == strconv.FormatInt(o.ID, 10) || strings.EqualFold(v, o.UUID) || v == o.Name || v == o.Filename
		}) {
			continue
		}
		fr.Objects = append(fr.Objects, fakeObjectJSON{
			ID: o.ID, UUID: o.UUID, Name: o.Name, Filename: o.Filename, Size: o.Size,
			URL: fmt.Sprintf("http://%s/tmtrack/tmtrack.dll?AttachmentPage&FileObjId=%d/%s", r.Host, o.ID, url.PathEscape(o.Filename)),
		})
	}
	fr.Count = len(fr.Objects)
	return fr
}

// serverMsg is a failure in the words the fake answers with: a sentence,
// as a server's message is, not a Go error string.
type serverMsg string

func (m serverMsg) Error() string { return string(m) }

func newServerMsg(format string, args ...any) error { return serverMsg(fmt.Sprintf(format, args...)) }
