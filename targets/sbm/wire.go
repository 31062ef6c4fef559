package sbm

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/dropsync/dropsync/targets"
)

// updateRequest is the body of UpdateFileField. FileObjList must stay the
// last field and contentsbase64 the last key of a file object: splitBody
// relies on the content being the final value.
type updateRequest struct {
	IncludeFile   bool      `json:"includeFile"`
	BreakLock     bool      `json:"breakLock"`
	AlwaysTrans   bool      `json:"alwaysTrans"`
	FileObjFilter []string  `json:"fileObjFilter,omitempty"`
	FileObjList   []fileObj `json:"fileObjList"`
}

// fileObj is one entry of a request's fileObjList. The key of the content
// is all lower case in requests (contentsbase64), unlike in replies.
type fileObj struct {
	Action   string    `json:"action"`
	ID       int64     `json:"id"`
	UUID     string    `json:"uuid,omitempty"`
	Name     string    `json:"name,omitempty"`
	Filename string    `json:"filename,omitempty"`
	Contents *contents `json:"contentsbase64,omitempty"`
}

type contents struct {
	Data string `json:"data"`
}

// getRequest is the body of GetFileField; includeFile defaults to true
// there, so it is always sent.
type getRequest struct {
	IncludeFile bool `json:"includeFile"`
}

// reply is the answer of UpdateFileField and GetFileField.
type reply struct {
	Field struct {
		ID      flexString     `json:"id"`
		UUID    string         `json:"uuid"`
		Name    string         `json:"name"`
		DBName  string         `json:"dbname"`
		Objects []fileObjReply `json:"fileObjList"`
		Count   int            `json:"fileObjCount"`
	} `json:"fieldFileObj"`
	Result *result `json:"result"`
}

type result struct {
	Type   string `json:"type"`
	Msg    string `json:"msg"`
	MsgLoc string `json:"msgLoc"`
}

// fileObjReply is a file object as the server lists it.
type fileObjReply struct {
	ID       flexString `json:"id"`
	UUID     string     `json:"uuid"`
	Name     string     `json:"name"`
	Filename string     `json:"filename"`
	Size     int64      `json:"filesize"`
	URL      string     `json:"fileurl"`
}

func (o *fileObjReply) remote() targets.Remote {
	r := targets.Remote{ID: string(o.ID), Name: o.Name}
	if r.Name == "" {
		r.Name = o.Filename
	}
	if o.UUID != "" {
		r.Extra = map[string]string{"uuid": o.UUID}
	}
	return r
}

// flexString accepts a JSON number or string (IDs are integers in the
// documented examples, but may be given as strings).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// marshal encodes v as JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// bodyTail is how an update request ends after the base64 data.
const bodyTail = `"}}]}`

// splitBody encodes req, whose last file object has empty content, and
// returns the JSON before and after the base64 data.
func splitBody(req updateRequest) (prefix, suffix string, err error) {
	b, err := marshal(req)
	if err != nil {
		return "", "", err
	}
	s := string(b)
	if !strings.HasSuffix(s, `"contentsbase64":{"data":"`+bodyTail) {
		return "", "", fmt.Errorf("request does not end with the file content: %s", s)
	}
	return s[:len(s)-len(bodyTail)], bodyTail, nil
}

// base64EncodedLen is base64.StdEncoding.EncodedLen for an int64 size.
func base64EncodedLen(n int64) int64 { return (n + 2) / 3 * 4 }

// encodedBody is a request body: prefix, the file base64-encoded on the fly
// through a pipe, suffix. The encoder goroutine starts at the first Read;
// Close stops it and waits for it, so that the file is not read after
// Close returns (and may be rewound for a resend). Memory stays at the
// buffers' size whatever the file's.
type encodedBody struct {
	r      io.Reader
	src    io.Reader
	pr     *io.PipeReader
	pw     *io.PipeWriter
	once   sync.Once
	done   chan struct{}
	closed sync.Once
}

var errBodyClosed = errors.New("request body closed")

func newEncodedBody(prefix string, src io.Reader, suffix string) *encodedBody {
	pr, pw := io.Pipe()
	e := &encodedBody{src: src, pr: pr, pw: pw, done: make(chan struct{})}
	e.r = io.MultiReader(strings.NewReader(prefix), readFunc(e.readData), strings.NewReader(suffix))
	return e
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

func (e *encodedBody) readData(p []byte) (int, error) {
	e.once.Do(func() { go e.encode() })
	return e.pr.Read(p)
}

func (e *encodedBody) encode() {
	defer close(e.done)
	bw := bufio.NewWriterSize(e.pw, 64<<10)
	enc := base64.NewEncoder(base64.StdEncoding, bw)
	buf := make([]byte, 48<<10) // a multiple of 3: whole base64 groups per write
	_, err := io.CopyBuffer(enc, e.src, buf)
	if err == nil {
		err = enc.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	e.pw.CloseWithError(err)
}

// Read implements io.Reader.
func (e *encodedBody) Read(p []byte) (int, error) { return e.r.Read(p) }

// Close stops the encoder and waits until it no longer reads the file. It
// may be called more than once.
func (e *encodedBody) Close() error {
	e.closed.Do(func() {
		e.pr.CloseWithError(errBodyClosed)
		e.once.Do(func() { close(e.done) }) // never started
		<-e.done
	})
	return nil
}

// Messages the adapter recognises in the server's words.
var (
	// lockMsg matches lock wording, not a bare "lock" that could be part
	// of a file name in the message (lock.txt).
	lockMsg    = regexp.MustCompile(`(?i)\b(is|was|been) locked\b|\blocked by\b|\brecord lock\b|\bitem lock\b`)
	existsMsg  = regexp.MustCompile(`(?i)already (exists?|present)|\bduplicate\b`)
	subjectMsg = regexp.MustCompile(`(?i)\b(table|item|field|transition)\b`)
)

// reply reads and checks a JSON API answer. A failure (HTTP status or
// result.type other than OK) becomes a *targets.Error carrying the
// server's msg: a record lock is Retryable, a 404 Permanent naming which of
// table, item, field or transition the server could not find, the rest as
// the status says. With HTTP 2xx, a reply that is not JSON (a login page
// of a proxy in front of the server) is Unreachable; a result.type other
// than OK and JSON without a result are Permanent.
func (t *Target) reply(op string, resp *http.Response, d *Destination) (*reply, error) {
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	var raw []byte
	if ok2xx {
		var cut error
		if raw, cut = targets.ReadAnswer(op, resp); cut != nil {
			return nil, cut // done, perhaps: not a plain retry
		}
	} else {
		raw = targets.ReadBody(resp)
	}
	var rep reply
	jsonErr := json.Unmarshal(bytes.TrimPrefix(raw, []byte("\uFEFF")), &rep) // a byte-order mark (IIS) before the JSON
	if ok2xx && jsonErr == nil && rep.Result != nil && strings.EqualFold(rep.Result.Type, "OK") {
		return &rep, nil
	}
	msg := serverWords(raw, &rep, jsonErr)
	var e *targets.Error
	switch {
	case !ok2xx:
		e = targets.StatusError(op, resp, msg)
	case jsonErr != nil && targets.NotJSON(resp.Header, raw):
		// Not JSON at all: a page in front of the server (an SSO proxy's
		// login form, a maintenance page) or another application. No
		// request reached the JSON API, so it is about the target, not
		// the file: the target goes down and a probe tests it.
		e = targets.NotTheAPI(op, resp.StatusCode, raw, "an SBM JSON API result (is url the SBM Application Engine server?)")
	case jsonErr != nil, rep.Result == nil:
		// JSON that does not decode, or without a result: the server
		// answered, but not as the JSON API does.
		e = &targets.Error{Kind: targets.Permanent, Op: op, Status: resp.StatusCode, Msg: "the reply is not an SBM JSON API result (is url the SBM Application Engine server?): " + msg}
	default:
		e = &targets.Error{Kind: targets.Permanent, Op: op, Msg: msg}
		if rep.Result.Type != "" && !strings.EqualFold(rep.Result.Type, "ERROR") {
			e.Msg = "result " + rep.Result.Type + ": " + msg
		}
	}
	switch {
	case e.Kind == targets.Auth || e.Kind == targets.Throttled:
	case lockMsg.MatchString(msg):
		e.Kind = targets.Retryable
		e.Msg = msg + " (dropsync does not steal record locks and retries later; break_lock: true would)"
	case resp.StatusCode == http.StatusNotFound:
		e.Msg = notFound(d, msg)
	}
	return nil, e
}

// serverWords picks the server's message out of a reply.
func serverWords(raw []byte, rep *reply, jsonErr error) string {
	if jsonErr == nil && rep.Result != nil {
		if m := strings.TrimSpace(rep.Result.Msg); m != "" {
			return m
		}
		if m := strings.TrimSpace(rep.Result.MsgLoc); m != "" {
			return m
		}
		if rep.Result.Type != "" {
			return "result type " + rep.Result.Type + " without a message"
		}
	}
	return targets.Shorten(string(raw))
}

// notFound names which part of the destination the server did not find.
func notFound(d *Destination, msg string) string {
	if m := subjectMsg.FindString(msg); m != "" {
		which := strings.ToLower(m)
		v := map[string]string{"table": d.Table, "item": d.Item, "field": d.Field, "transition": d.Transition}[which]
		return fmt.Sprintf("%s %q not found (destination.%s): %s", which, v, which, msg)
	}
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("table %q, item %q or field %q not found, or url is not the SBM server (the server did not say which): %s", d.Table, d.Item, d.Field, msg)
}

// findRemote returns the object recorded as r (by id, else uuid), or nil.
func findRemote(objs []fileObjReply, r *targets.Remote) *fileObjReply {
	if r == nil {
		return nil
	}
	for i := range objs {
		o := &objs[i]
		if r.ID != "" && string(o.ID) == r.ID {
			return o
		}
		if u := r.Extra["uuid"]; u != "" && strings.EqualFold(o.UUID, u) {
			return o
		}
	}
	return nil
}

// findByName returns the object whose name or file name is name, the
// newest (highest id) if several are.
func findByName(objs []fileObjReply, name string) *fileObjReply {
	// The file name identifies a file; the display name only when no
	// object has that file name.
	for _, byFilename := range []bool{true, false} {
		var best *fileObjReply
		for i := range objs {
			o := &objs[i]
			if (byFilename && o.Filename != name) || (!byFilename && o.Name != name) {
				continue
			}
			if best == nil || idLess(best.ID, o.ID) {
				best = o
			}
		}
		if best != nil {
			return best
		}
	}
	return nil
}

func idLess(a, b flexString) bool {
	x, errA := strconv.ParseInt(string(a), 10, 64)
	y, errB := strconv.ParseInt(string(b), 10, 64)
	if errA != nil || errB != nil {
		return a < b
	}
	return x < y
}

// freeName returns name if no object uses it, else the first free
// "base(N).ext" from N = 2. Names compare case-insensitively.
func freeName(objs []fileObjReply, name string) string {
	taken := map[string]bool{}
	for _, o := range objs {
		taken[strings.ToLower(o.Name)] = true
		taken[strings.ToLower(o.Filename)] = true
	}
	if !taken[strings.ToLower(name)] {
		return name
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if stem == "" { // ".profile"
		stem, ext = name, ""
	}
	for n := 2; ; n++ {
		c := fmt.Sprintf("%s(%d)%s", stem, n, ext)
		if !taken[strings.ToLower(c)] {
			return c
		}
	}
}
