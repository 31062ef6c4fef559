package connections

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dropsync/dropsync/targets/fakehttp"

	"github.com/dropsync/dropsync/targets"
)

// Credentials and objects of the fake, for demos and tests.
const (
	FakeUser          = "dropsync"
	FakePassword      = "connections-demo"
	FakeBearer        = "connections-demo-token" // also accepted, as "Authorization: Bearer …"
	FakeActivityID    = "5d1c2a3b-7e4f-4a6b-9c8d-0e1f2a3b4c5d"
	fakeActivityTitle = "Drop folder"
	unnamedField      = "file" // a field created without a name header
)

// Op names a kind of request the fake serves, for Fault.
type Op string

// Requests the fake tells apart.
const (
	OpRead   Op = "read"   // GET …/activitynode: a node's Atom entry
	OpUpload Op = "upload" // raw-body POST …/activity of a small file
	OpPhase1 Op = "phase1" // two-phase upload, phase 1
	OpPhase2 Op = "phase2" // two-phase upload, phase 2
)

// Fault makes the fake fail the next matching requests (after checking
// credentials, before anything else).
type Fault struct {
	Op         Op
	Status     int    // answer with this status (the body is read first); 0 resets the connection
	RetryAfter string // with Status: a Retry-After header value
	ResetAfter int64  // with Status 0: body bytes to receive before the reset
	Times      int    // how many requests fail; 0 means 1
}

// Phase2 describes a phase-2 request that passed its checks and is about to
// be received; see SetPhase2Hook.
type Phase2 struct {
	Token   string
	Name    string
	Size    int64
	Replace bool // a PUT replacing a field; else a POST creating one
}

// Field is a file field the fake holds.
type Field struct {
	ID          string // the fid
	Node        string // the activity node that holds it
	Name        string
	ContentType string
	Size        int64
	SHA256      string // hex SHA-256 of the content
	Position    int64
	Version     int // 1 when created, plus one per replacement
}

// Stats counts the requests the fake received (after credentials).
type Stats struct {
	Reads, Uploads, Phase1, Phase2 int
	Phase2Stored                   int // phase-2 requests that stored a file
}

// Fake is a Connections Activities server for tests and demos. It holds
// activity nodes and their file fields (content hashed while received, never
// buffered), serves a node's Atom entry, and implements the raw-body upload
// and the 2-phase upload API strictly: X-IBM-UPLOAD-METHOD: phases in both
// phases, X-IBM-UPLOAD-SIZE in phase 1, a token that is single-use and bound
// to its URL, a phase-2 body exactly as long as announced, a Content-Type
// that is neither Atom nor multipart, Slug for a new field. Where the
// documentation is silent it is permissive: the phase-1 body is ignored,
// Slug and Title are optional in phase 1, the update accepts the field id as
// activityNodeUuid or fid, and phase 2 answers 200 with no body. A token the
// fake does not know, or knows as used, gets 400. It is safe for concurrent
// use.
type Fake struct {
	mu      sync.Mutex
	nodes   map[string]*fakeNode
	fields  map[string]*Field
	tokens  map[string]*fakeToken
	faults  []*Fault
	reject  map[string]int
	maxSize int64
	hook    func(context.Context, Phase2)
	stats   Stats
	seq     int64
}

type fakeNode struct {
	id, title string
	fields    []string // fids in position order
}

type fakeToken struct {
	replace bool
	target  string // node id (create) or fid (replace)
	size    int64
	used    bool
}

// NewFake returns a fake holding one empty activity, FakeActivityID.
func NewFake() *Fake {
	f := &Fake{nodes: map[string]*fakeNode{}, fields: map[string]*Field{}, tokens: map[string]*fakeToken{}, reject: map[string]int{}}
	f.nodes[FakeActivityID] = &fakeNode{id: FakeActivityID, title: fakeActivityTitle}
	return f
}

// Setup implements targets.Fake: basic auth with the demo credentials and
// the pre-created activity as destination.
func (f *Fake) Setup(baseURL string) targets.FakeSetup {
	return targets.FakeSetup{
		Target:      fmt.Sprintf("type: %s\nurl: %s\nauth: {type: basic, username: %s, password: %s}\n", Type, baseURL, FakeUser, FakePassword),
		Destination: "{activity_id: " + FakeActivityID + "}",
		Notes: []string{
			fmt.Sprintf("basic auth %s / %s (or bearer token %s)", FakeUser, FakePassword, FakeBearer),
			fmt.Sprintf("activity %q (%s) is pre-created; files become its file fields", fakeActivityTitle, FakeActivityID),
			"files at or above chunk_threshold use the 2-phase upload; the reference SDK switches at 30MiB",
		},
	}
}

// AddActivity creates another empty activity and returns its id.
func (f *Fake) AddActivity(title string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := newID()
	f.nodes[id] = &fakeNode{id: id, title: title}
	return id
}

// Fields returns the file fields of a node in position order.
func (f *Fake) Fields(node string) []Field {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[node]
	if n == nil {
		return nil
	}
	out := make([]Field, 0, len(n.fields))
	for _, id := range n.fields {
		out = append(out, *f.fields[id])
	}
	return out
}

// Field returns the file field with id fid.
func (f *Fake) Field(fid string) (Field, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.fields[fid]; fl != nil {
		return *fl, true
	}
	return Field{}, false
}

// Stats returns the request counts so far.
func (f *Fake) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// RejectName makes every upload of a file field named name fail with status
// (413 or 415, say), in phase 1 when the name is given there, else when the
// file arrives.
func (f *Fake) RejectName(name string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reject[name] = status
}

// SetMaxSize makes uploads above n bytes fail with 413 (0: no limit).
func (f *Fake) SetMaxSize(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxSize = n
}

// Inject queues a fault; faults for the same Op apply in order.
func (f *Fake) Inject(ft Fault) {
	if ft.Times <= 0 {
		ft.Times = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &ft)
}

// SetPhase2Hook sets a function called for every phase-2 request that passed
// its checks, before its body is read; nil removes it. It runs on the
// request's goroutine, so it can block to hold phase 2 open (to crash the
// client in the middle of it, say). The context is the request's; it is not
// canceled when the client goes away while the body is unread, so a hook
// that blocks must wait on something the test controls, and must return
// before the server is closed.
func (f *Fake) SetPhase2Hook(h func(context.Context, Phase2)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// ExpireTokens forgets every upload token not yet used, as a server does
// when they time out, and returns how many there were.
func (f *Fake) ExpireTokens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, t := range f.tokens {
		if !t.used {
			delete(f.tokens, k)
			n++
		}
	}
	return n
}

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, apiPath+"/") {
		fail(w, r, http.StatusNotFound, "NotFound", "no such resource")
		return
	}
	if !authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Connections"`)
		fail(w, r, http.StatusUnauthorized, "Unauthorized", "authentication required")
		return
	}
	q := r.URL.Query()
	switch strings.TrimPrefix(r.URL.Path, apiPath) {
	case "/activity":
		id := q.Get("activityUuid")
		switch {
		case r.Method != http.MethodPost:
			w.Header().Set("Allow", http.MethodPost)
			fail(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "the fake serves only POST on /activity")
		case id == "":
			fail(w, r, http.StatusBadRequest, "BadRequest", "activityUuid is required")
		case isTwoPhase(r):
			f.twoPhase(w, r, false, id)
		default:
			f.upload(w, r, id)
		}
	case "/activitynode":
		id := q.Get("activityNodeUuid")
		if id == "" {
			id = q.Get("fid") // the documentation names the update parameter both ways
		}
		switch {
		case id == "":
			fail(w, r, http.StatusBadRequest, "BadRequest", "activityNodeUuid is required")
		case r.Method == http.MethodGet:
			f.read(w, r, id)
		case r.Method != http.MethodPut:
			w.Header().Set("Allow", "GET, PUT")
			fail(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "the fake serves only GET and PUT on /activitynode")
		case !isTwoPhase(r):
			fail(w, r, http.StatusBadRequest, "BadRequest", "a PUT without "+hdrMethod+": phases replaces the whole Atom entry; the fake only implements the 2-phase file update here")
		default:
			f.twoPhase(w, r, true, id)
		}
	default:
		fail(w, r, http.StatusNotFound, "NotFound", "no such resource")
	}
}

func authorized(r *http.Request) bool {
	if u, p, ok := r.BasicAuth(); ok {
		return subtle.ConstantTimeCompare([]byte(u+"\x00"+p), []byte(FakeUser+"\x00"+FakePassword)) == 1
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(FakeBearer)) == 1
}

func isTwoPhase(r *http.Request) bool {
	return r.Header.Get(hdrMethod) != "" || r.Header.Get(hdrToken) != "" || r.Header.Get(hdrSize) != ""
}

// takeFault returns the first queued fault for op, using it up. f.mu held.
func (f *Fake) takeFault(op Op) *Fault {
	for i, ft := range f.faults {
		if ft.Op == op {
			c := *ft
			if ft.Times--; ft.Times == 0 {
				f.faults = append(f.faults[:i], f.faults[i+1:]...)
			}
			return &c
		}
	}
	return nil
}

// apply carries out a fault.
func (ft *Fault) apply(w http.ResponseWriter, r *http.Request) {
	if ft.Status == 0 {
		if ft.ResetAfter > 0 {
			_, _ = io.CopyN(io.Discard, r.Body, ft.ResetAfter)
		}
		fakehttp.Reset(w)
		return
	}
	if ft.RetryAfter != "" {
		w.Header().Set("Retry-After", ft.RetryAfter)
	}
	fail(w, r, ft.Status, "InjectedFault", "fault injected by the test")
}

func (f *Fake) read(w http.ResponseWriter, r *http.Request, id string) {
	f.mu.Lock()
	f.stats.Reads++
	ft := f.takeFault(OpRead)
	n := f.nodes[id]
	if fl := f.fields[id]; n == nil && fl != nil {
		n = f.nodes[fl.Node] // a field's URL shows the node that holds it
	}
	var entry []byte
	if n != nil {
		entry = f.entry(r, n)
	}
	f.mu.Unlock()
	switch {
	case ft != nil:
		ft.apply(w, r)
	case n == nil:
		fail(w, r, http.StatusNotFound, "ItemNotFound", "The activity node "+id+" does not exist.")
	default:
		w.Header().Set("Content-Type", "application/atom+xml; charset=UTF-8")
		_, _ = w.Write(entry)
	}
}

// upload is the raw-body POST of a small file: 201 with Location and the
// node's Atom entry.
func (f *Fake) upload(w http.ResponseWriter, r *http.Request, node string) {
	f.mu.Lock()
	f.stats.Uploads++
	ft := f.takeFault(OpUpload)
	exists := f.nodes[node] != nil
	f.mu.Unlock()
	name := headerName(r)
	switch {
	case ft != nil:
		ft.apply(w, r)
		return
	case !exists:
		fail(w, r, http.StatusNotFound, "ItemNotFound", "The activity "+node+" does not exist.")
		return
	case !f.checkType(w, r, true) || !f.checkName(w, r, name, r.ContentLength):
		return
	}
	if name == "" {
		name = unnamedField // the name header is optional (a documentation gap): name it generically
	}
	sum, n, err := hashBody(r.Body, -1)
	if err != nil {
		return // the client went away
	}
	if f.tooLarge(n) {
		fail(w, r, http.StatusRequestEntityTooLarge, "ContentMaxSizeExceeded", "The file exceeds the maximum size allowed.")
		return
	}
	f.mu.Lock()
	fl := f.store(node, "", name, r.Header.Get("Content-Type"), n, sum)
	entry := f.entry(r, f.nodes[node])
	f.mu.Unlock()
	w.Header().Set("Location", baseURL(r)+apiPath+"/activitynode?activityNodeUuid="+fl.ID)
	w.Header().Set("Content-Type", "application/atom+xml; charset=UTF-8")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(entry)
}

func (f *Fake) twoPhase(w http.ResponseWriter, r *http.Request, replace bool, target string) {
	if !strings.EqualFold(r.Header.Get(hdrMethod), phases) {
		fail(w, r, http.StatusBadRequest, "BadRequest", hdrMethod+": phases is required in both phases of the 2-phase upload")
		return
	}
	if token := r.Header.Get(hdrToken); token != "" {
		f.phase2(w, r, replace, target, token)
		return
	}
	f.phase1(w, r, replace, target)
}

func (f *Fake) phase1(w http.ResponseWriter, r *http.Request, replace bool, target string) {
	f.mu.Lock()
	f.stats.Phase1++
	ft := f.takeFault(OpPhase1)
	exists := f.nodes[target] != nil
	if replace {
		exists = f.fields[target] != nil
	}
	f.mu.Unlock()
	size, err := strconv.ParseInt(r.Header.Get(hdrSize), 10, 64)
	switch {
	case ft != nil:
		ft.apply(w, r)
		return
	case err != nil || size < 0:
		fail(w, r, http.StatusBadRequest, "BadRequest", hdrSize+" (the file size in bytes) is required in phase 1")
		return
	case !exists && replace:
		fail(w, r, http.StatusNotFound, "ItemNotFound", "The file field "+target+" does not exist.")
		return
	case !exists:
		fail(w, r, http.StatusNotFound, "ItemNotFound", "The activity "+target+" does not exist.")
		return
	case !f.checkType(w, r, false) || !f.checkName(w, r, headerName(r), size):
		return
	}
	_, _ = io.Copy(io.Discard, r.Body) // phase 1 carries no file; anything else is ignored
	token := newID()
	f.mu.Lock()
	f.tokens[token] = &fakeToken{replace: replace, target: target, size: size}
	f.mu.Unlock()
	w.Header().Set(hdrToken, token)
	w.WriteHeader(http.StatusOK)
}

func (f *Fake) phase2(w http.ResponseWriter, r *http.Request, replace bool, target, token string) {
	f.mu.Lock()
	f.stats.Phase2++
	ft := f.takeFault(OpPhase2)
	tk := f.tokens[token]
	var t fakeToken
	if tk != nil {
		t = *tk
	}
	hook := f.hook
	f.mu.Unlock()
	name := headerName(r)
	switch {
	case ft != nil && ft.Status != 0:
		ft.apply(w, r)
		return
	case tk == nil:
		fail(w, r, http.StatusBadRequest, "InvalidUploadToken", "The upload token is not valid or has expired.")
		return
	case t.used:
		fail(w, r, http.StatusBadRequest, "InvalidUploadToken", "The upload token has already been used.")
		return
	case t.replace != replace || t.target != target:
		fail(w, r, http.StatusBadRequest, "InvalidUploadToken", "The upload token was issued for another upload.")
		return
	case r.Header.Get("Content-Type") == "":
		fail(w, r, http.StatusBadRequest, "BadRequest", "Content-Type (the file's MIME type) is required in phase 2")
		return
	case !f.checkType(w, r, false) || !f.checkName(w, r, name, t.size):
		return
	case r.ContentLength >= 0 && r.ContentLength != t.size:
		fail(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Content-Length %d does not match %s %d announced in phase 1", r.ContentLength, hdrSize, t.size))
		return
	}
	if hook != nil {
		hook(r.Context(), Phase2{Token: token, Name: name, Size: t.size, Replace: replace})
	}
	if ft != nil {
		ft.apply(w, r)
		return
	}
	sum, n, err := hashBody(r.Body, t.size+1)
	if err != nil {
		return // the client went away; the token stays valid
	}
	if n != t.size {
		fail(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("the phase-2 body is %d bytes but %s announced %d", n, hdrSize, t.size))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case tk.used: // another phase 2 with this token finished first
		answer(w, http.StatusBadRequest, "InvalidUploadToken", "The upload token has already been used.")
		return
	case replace && f.fields[target] == nil:
		answer(w, http.StatusNotFound, "ItemNotFound", "The file field "+target+" does not exist.")
		return
	}
	tk.used = true
	f.stats.Phase2Stored++
	if replace {
		f.store("", target, name, r.Header.Get("Content-Type"), n, sum)
	} else {
		f.store(target, "", name, r.Header.Get("Content-Type"), n, sum)
	}
	w.WriteHeader(http.StatusOK) // the documented output of phase 2 is none
}

// checkType refuses Atom and multipart bodies; with small, the raw-body
// POST, they are ways to create entries that the fake does not implement.
func (f *Fake) checkType(w http.ResponseWriter, r *http.Request, small bool) bool {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case small && ct == "":
		fail(w, r, http.StatusBadRequest, "BadRequest", "Content-Type (the file's MIME type) is required")
	case mt == "application/atom+xml" || strings.HasPrefix(mt, "multipart/"):
		if small {
			fail(w, r, http.StatusNotImplemented, "NotImplemented", "the fake does not create entries from Atom or multipart bodies")
		} else {
			fail(w, r, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "application/atom+xml and multipart are not supported by the 2-phase upload")
		}
	default:
		return true
	}
	return false
}

// checkName applies RejectName and SetMaxSize; size < 0 is unknown.
func (f *Fake) checkName(w http.ResponseWriter, r *http.Request, name string, size int64) bool {
	f.mu.Lock()
	status := f.reject[name]
	f.mu.Unlock()
	switch {
	case status == http.StatusRequestEntityTooLarge || (size >= 0 && f.tooLarge(size)):
		fail(w, r, http.StatusRequestEntityTooLarge, "ContentMaxSizeExceeded", "The file "+name+" exceeds the maximum size allowed.")
	case status == http.StatusUnsupportedMediaType:
		fail(w, r, status, "UnsupportedMediaType", "The file type of "+name+" is not allowed.")
	case status != 0:
		fail(w, r, status, http.StatusText(status), "The file "+name+" was refused.")
	default:
		return true
	}
	return false
}

func (f *Fake) tooLarge(n int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxSize > 0 && n > f.maxSize
}

// store creates a field on node, or replaces field fid. f.mu held.
func (f *Fake) store(node, fid, name, ct string, size int64, sum string) *Field {
	fl := f.fields[fid]
	if fl == nil {
		f.seq++
		fl = &Field{ID: newID(), Node: node, Position: f.seq * 1000}
		f.fields[fl.ID] = fl
		n := f.nodes[node]
		n.fields = append(n.fields, fl.ID)
	}
	if name != "" {
		fl.Name = name
	}
	fl.ContentType, fl.Size, fl.SHA256 = ct, size, sum
	fl.Version++
	return fl
}

// hashBody reads r to its end (at most limit bytes if limit ≥ 0) and returns
// its SHA-256 and length.
func hashBody(r io.Reader, limit int64) (string, int64, error) {
	if limit >= 0 {
		r = io.LimitReader(r, limit)
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// headerName is the decoded Slug, else Title.
func headerName(r *http.Request) string {
	v := r.Header.Get("Slug")
	if v == "" {
		v = r.Header.Get("Title")
	}
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}

func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// fail reads what is left of the request body, so the client sees the
// answer rather than a reset, and writes an error document.
func fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	_, _ = io.Copy(io.Discard, r.Body)
	answer(w, status, code, msg)
}

// answer writes an error document like the server's.
func answer(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(status)
	doc := struct {
		XMLName xml.Name `xml:"error"`
		NS      string   `xml:"xmlns,attr"`
		Code    string   `xml:"code"`
		Message string   `xml:"message"`
	}{NS: snxNS, Code: code, Message: msg}
	b, _ := xml.Marshal(doc)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(b)
}

type xmlLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Href string `xml:"href,attr"`
	Type string `xml:"type,attr,omitempty"`
	Size string `xml:"size,attr,omitempty"`
}

type xmlOutField struct {
	Name     string  `xml:"name,attr"`
	FID      string  `xml:"fid,attr"`
	Position int64   `xml:"position,attr"`
	Type     string  `xml:"type,attr"`
	Link     xmlLink `xml:"link"`
}

// entry renders node n as an Atom entry with its file fields. f.mu held.
func (f *Fake) entry(r *http.Request, n *fakeNode) []byte {
	base := baseURL(r)
	doc := struct {
		XMLName  xml.Name      `xml:"entry"`
		NS       string        `xml:"xmlns,attr"`
		SNX      string        `xml:"xmlns:snx,attr"`
		ID       string        `xml:"id"`
		Title    string        `xml:"title"`
		Updated  string        `xml:"updated"`
		Activity string        `xml:"snx:activity"`
		Links    []xmlLink     `xml:"link"`
		Fields   []xmlOutField `xml:"snx:field"`
	}{
		NS: atomNS, SNX: snxNS,
		ID:       "urn:lsid:ibm.com:oa:" + n.id,
		Title:    n.title,
		Updated:  time.Now().UTC().Format(time.RFC3339),
		Activity: n.id,
		Links:    []xmlLink{{Rel: "edit", Href: base + apiPath + "/activitynode?activityNodeUuid=" + n.id, Type: "application/atom+xml"}},
	}
	for _, id := range n.fields { // in position order: positions grow as fields are added
		fl := f.fields[id]
		doc.Fields = append(doc.Fields, xmlOutField{Name: fl.Name, FID: fl.ID, Position: fl.Position, Type: "file",
			Link: xmlLink{Href: base + "/activities/service/download/" + fl.ID, Type: fl.ContentType, Size: strconv.FormatInt(fl.Size, 10)}})
	}
	b, _ := xml.MarshalIndent(doc, "", "  ")
	return append([]byte(xml.Header), b...)
}

// newID returns a random version-4 UUID: the shape of Connections ids, and
// of the characters the upload tokens may use.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
