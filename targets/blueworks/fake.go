package blueworks

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dropsync/dropsync/targets"
)

// The demo credentials the fake accepts.
const (
	DemoClientID     = "dropsync-demo"
	DemoClientSecret = "demo-secret"
)

// Attachment is a file the fake received and kept.
type Attachment struct {
	ID            string // the id FileDownload takes
	FileItemID    string
	Type          string // Blueworks' numeric document type, "1" to "9"
	Name          string // fileData's filename
	ContentType   string // fileData's Content-Type
	Location      string
	AncestorID    string
	ParentID      string
	OnBehalfOf    string // X-On-Behalf-Of, if sent
	Size          int64
	SHA256        string // hex SHA-256 of the content, computed while receiving
	ContentLength int64  // the request's Content-Length (-1: none, chunked)
	Uploaded      time.Time
}

// Stats counts what the fake was asked.
type Stats struct {
	TokenRequests int // POSTs to /oauth/token
	TokensIssued  int
	Uploads       int // requests to /scr/api/FileUpload that were not redirected
	Unauthorized  int // FileUpload requests refused with 401
	Redirects     int // requests answered with 301 in redirect mode
}

// Fake is a faithful Blueworks FileUpload server with its OAuth token
// endpoint. It is strict where the documentation is: POST only, Bearer
// tokens it issued itself and that have not expired, X-IBM-API-Version
// 20160630 (the server accepts its absence; the fake does not, since
// dropsync always sends it), multipart/form-data with only fileData (a file
// part with a filename), locationField, ancestorIdField and parentIdField,
// and the ids each location needs. Where the documentation is silent it is
// permissive: any id value is accepted, an id a location does not need may
// be sent empty or left out, and parts may come in any order. A file over
// 50 MB is answered with status SIZE. Knobs simulate SPACE, FAILED,
// throttling, server errors, token expiry and a move to another host.
//
// A Fake is safe for concurrent use.
type Fake struct {
	mu          sync.Mutex
	tokenLife   time.Duration
	tokens      map[string]time.Time // token → expiry
	attachments []Attachment
	seq         int
	stats       Stats
	sizeLimit   int64
	spaceFull   bool
	throttleN   int
	throttleFor time.Duration
	errorN      int
	errorCode   int
	statusN     int
	status      string
	redirect    string
}

// NewFake returns a fake that accepts the demo credentials, issues tokens
// valid for an hour and keeps attachments in memory.
func NewFake() *Fake {
	return &Fake{tokenLife: time.Hour, tokens: map[string]time.Time{}, sizeLimit: MaxFileSize}
}

// Setup implements targets.Fake.
func (f *Fake) Setup(baseURL string) targets.FakeSetup {
	return targets.FakeSetup{
		Target: fmt.Sprintf("type: %s\nurl: %s\nauth: {type: oauth2, client_id: %s, client_secret: %s}\n",
			Type, baseURL, DemoClientID, DemoClientSecret),
		Destination: "{location: instance, ancestor_id: W-1001, parent_id: W-1001}",
		OnConflict:  "rename",
		Notes: []string{
			fmt.Sprintf("OAuth2 client credentials: client_id %s, client_secret %s (token URL %s%s)", DemoClientID, DemoClientSecret, baseURL, TokenPath),
			"the fake accepts any ids; the destination attaches files to the work item (instance) W-1001",
			"every upload adds an attachment: a blueworks watch needs on_conflict: rename or skip",
			"files over 50 MB (50,000,000 bytes) are answered with status SIZE",
		},
	}
}

// Attachments returns every attachment kept, in upload order.
func (f *Fake) Attachments() []Attachment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Attachment(nil), f.attachments...)
}

// Stats returns the request counters.
func (f *Fake) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// SetTokenLifetime sets the lifetime (and expires_in) of tokens issued
// from now on.
func (f *Fake) SetTokenLifetime(d time.Duration) {
	f.mu.Lock()
	f.tokenLife = d
	f.mu.Unlock()
}

// ExpireTokens makes every token issued so far expire now, as if the run
// had outlived them.
func (f *Fake) ExpireTokens() {
	f.mu.Lock()
	clear(f.tokens)
	f.mu.Unlock()
}

// SetSizeLimit sets the size above which uploads are answered with SIZE
// (default 50,000,000 bytes).
func (f *Fake) SetSizeLimit(n int64) {
	f.mu.Lock()
	f.sizeLimit = n
	f.mu.Unlock()
}

// SetSpaceFull makes uploads answer status SPACE while full is true.
func (f *Fake) SetSpaceFull(full bool) {
	f.mu.Lock()
	f.spaceFull = full
	f.mu.Unlock()
}

// StatusNext answers the next n well-formed uploads with status (FAILED,
// FAILED_DELETED, SIZE or SPACE) instead of keeping them.
func (f *Fake) StatusNext(n int, status string) {
	f.mu.Lock()
	f.statusN, f.status = n, status
	f.mu.Unlock()
}

// ThrottleNext answers the next n FileUpload requests with 429 and
// Retry-After (whole seconds, at least one).
func (f *Fake) ThrottleNext(n int, retryAfter time.Duration) {
	f.mu.Lock()
	f.throttleN, f.throttleFor = n, retryAfter
	f.mu.Unlock()
}

// FailNext answers the next n FileUpload requests with the HTTP status
// code (e.g. 500 or 503).
func (f *Fake) FailNext(n, code int) {
	f.mu.Lock()
	f.errorN, f.errorCode = n, code
	f.mu.Unlock()
}

// RedirectTo makes the fake answer every request with 301 and the same path
// on baseURL, as www.blueworkslive.com does for an account on another
// server. An empty baseURL turns redirecting off.
func (f *Fake) RedirectTo(baseURL string) {
	f.mu.Lock()
	f.redirect = strings.TrimRight(baseURL, "/")
	f.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	to := f.redirect
	if to != "" {
		f.stats.Redirects++
	}
	f.mu.Unlock()
	if to != "" {
		w.Header().Set("Location", to+r.URL.RequestURI())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	switch r.URL.Path {
	case TokenPath:
		f.token(w, r)
	case UploadPath:
		f.upload(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.stats.TokenRequests++
	f.mu.Unlock()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q: only client_credentials", g))
		return
	}
	if r.PostForm.Get("client_id") != DemoClientID || r.PostForm.Get("client_secret") != DemoClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Bad client credentials")
		return
	}
	tok := randomHex(16)
	f.mu.Lock()
	life := f.tokenLife
	f.tokens[tok] = time.Now().Add(life)
	f.stats.TokensIssued++
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "bearer",
		"expires_in":   max(int(life/time.Second), 1),
	})
}

func oauthError(w http.ResponseWriter, code int, errCode, desc string) {
	writeJSON(w, code, map[string]string{"error": errCode, "error_description": desc})
}

// received is the file part of an upload.
type received struct {
	name, contentType string
	size              int64
	sha256            string
}

func (f *Fake) upload(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.stats.Uploads++
	f.mu.Unlock()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "The specified method is not allowed. Select POST method.", http.StatusMethodNotAllowed)
		return
	}
	if f.takeThrottle(w) || f.takeError(w) {
		return
	}
	if !f.authorized(r) {
		f.mu.Lock()
		f.stats.Unauthorized++
		f.mu.Unlock()
		http.Error(w, "The user isn't authorized to make the request.", http.StatusUnauthorized)
		return
	}
	// The header is optional, but must be 20160630 when sent.
	if v := r.Header.Get("X-IBM-API-Version"); v != "" && v != APIVersion {
		http.Error(w, fmt.Sprintf("X-IBM-API-Version must be %s, got %q", APIVersion, v), http.StatusBadRequest)
		return
	}
	fields, file, msg := readForm(r)
	if msg == "" {
		msg = checkFields(fields, file)
	}
	if msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}

	f.mu.Lock()
	a := Attachment{
		Name: file.name, ContentType: file.contentType, Size: file.size, SHA256: file.sha256,
		Location: fields["locationField"], AncestorID: fields["ancestorIdField"], ParentID: fields["parentIdField"],
		OnBehalfOf: r.Header.Get("X-On-Behalf-Of"), ContentLength: r.ContentLength, Uploaded: time.Now(),
		Type: documentType(file.name),
	}
	status := "SUCCESS"
	switch {
	case file.size > f.sizeLimit:
		status = "SIZE"
	case f.spaceFull:
		status = "SPACE"
	case f.statusN > 0:
		f.statusN--
		status = f.status
	}
	if status == "SUCCESS" {
		f.seq++
		a.ID = randomHex(7)[:13]
		a.FileItemID = strconv.FormatInt(int64(0x1000+f.seq), 16)
		f.attachments = append(f.attachments, a)
	}
	f.mu.Unlock()

	user := a.OnBehalfOf
	if user == "" {
		user = DemoClientID
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"size":           strconv.FormatInt(a.Size, 10) + ".0",
		"parentId":       a.ParentID,
		"uploadUserId":   "7f0002",
		"fileItemId":     a.FileItemID,
		"name":           a.Name,
		"ancestorId":     a.AncestorID,
		"uploadDate":     strconv.FormatInt(a.Uploaded.UnixMilli(), 10),
		"status":         status,
		"isPublic":       "false",
		"location":       a.Location,
		"uploadUserName": user,
		"version":        APIVersion,
		"type":           a.Type,
		"id":             a.ID,
	})
}

func (f *Fake) takeThrottle(w http.ResponseWriter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.throttleN == 0 {
		return false
	}
	f.throttleN--
	secs := max(int((f.throttleFor+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
	return true
}

func (f *Fake) takeError(w http.ResponseWriter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errorN == 0 {
		return false
	}
	f.errorN--
	http.Error(w, "simulated server error", f.errorCode)
	return true
}

func (f *Fake) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	exp, ok := f.tokens[tok]
	return ok && time.Now().Before(exp)
}

// formFields are the text fields FileUpload takes.
var formFields = map[string]bool{"locationField": true, "ancestorIdField": true, "parentIdField": true}

// readForm streams the multipart form, hashing the file as it arrives. msg
// is non-empty when the form breaks the documented shape.
func readForm(r *http.Request) (fields map[string]string, file *received, msg string) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, "the body must be multipart/form-data: " + err.Error()
	}
	fields = map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return fields, file, ""
		}
		if err != nil {
			return nil, nil, "malformed multipart body: " + err.Error()
		}
		name := p.FormName()
		switch {
		case name == "fileData":
			if file != nil {
				return nil, nil, "fileData sent twice"
			}
			if p.FileName() == "" {
				return nil, nil, "fileData must be a file part with a filename"
			}
			h := sha256.New()
			n, err := io.Copy(h, p)
			if err != nil {
				return nil, nil, "reading fileData: " + err.Error()
			}
			file = &received{name: p.FileName(), contentType: p.Header.Get("Content-Type"), size: n, sha256: hex.EncodeToString(h.Sum(nil))}
		case formFields[name]:
			if _, dup := fields[name]; dup {
				return nil, nil, name + " sent twice"
			}
			if p.FileName() != "" {
				return nil, nil, name + " must be a form field, not a file"
			}
			v, err := io.ReadAll(io.LimitReader(p, 1025))
			if err != nil || len(v) > 1024 {
				return nil, nil, name + ": unreadable or longer than 1024 bytes"
			}
			fields[name] = string(v)
		default:
			return nil, nil, fmt.Sprintf("unknown form field %q: FileUpload takes fileData, locationField, ancestorIdField and parentIdField", name)
		}
		p.Close()
	}
}

// checkFields applies the location rules of the FileUpload page.
func checkFields(fields map[string]string, file *received) string {
	if file == nil {
		return "fileData is required"
	}
	loc := fields["locationField"]
	need, ok := locations[loc]
	if !ok {
		return fmt.Sprintf("locationField %q: must be one of %s", loc, strings.Join(locationNames, ", "))
	}
	if need.ancestor != "" && fields["ancestorIdField"] == "" {
		return fmt.Sprintf("ancestorIdField is required for %s: %s", loc, need.ancestor)
	}
	if need.parent != "" && fields["parentIdField"] == "" {
		return fmt.Sprintf("parentIdField is required for %s: %s", loc, need.parent)
	}
	return ""
}

// documentType is Blueworks' numeric type of a file, by its extension.
func documentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".xls", ".xlsx", ".xlsm":
		return "2"
	case ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".svg":
		return "3"
	case ".pdf":
		return "4"
	case ".ppt", ".pptx":
		return "5"
	case ".mpp":
		return "6"
	case ".vsd", ".vsdx":
		return "7"
	case ".doc", ".docx":
		return "8"
	case ".txt":
		return "9"
	}
	return "1"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
