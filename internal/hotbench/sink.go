package hotbench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sink is a lean sensenet-compatible server: the Upload action (whole-file
// and chunked), content lookups and folder creation, as dropsync's sensenet
// adapter uses them. It stores no bytes: it hashes what it receives and
// records, per content path, the SHA-256, the size and the time of the
// commit on its own clock. It also counts every request per bench scenario
// (the first path segment below /Root/Bench).
//
// Control endpoints below /_bench/ (mark, stats, files) let the benchmark
// read its figures from the server's side.
type Sink struct {
	nextID atomic.Int64
	conns  atomic.Int64 // TCP connections accepted (see ConnState)

	mu       sync.Mutex
	contents map[string]*content  // lower-cased path → content
	sessions map[string]*session  // chunk token → session in progress
	scen     map[string]*scenario // scenario name → counters
}

type content struct {
	id     int64
	path   string
	folder bool
	size   int64
	sha    string
	commit time.Time
}

type session struct {
	path string
	next int64 // the offset the next chunk must start at
	h    hash.Hash
}

type scenario struct {
	requests  int64
	inFlight  int64 // requests being served
	maxFlight int64 // the most requests served at once
	files     int64
	mark      time.Time
	firstReq  time.Time
	first     time.Time
	last      time.Time
	bytesRecv int64
}

// Stats are one scenario's figures, on the sink's clock.
type Stats struct {
	Conns        int64     `json:"conns"` // connections accepted so far, all scenarios
	Requests     int64     `json:"requests"`
	MaxInFlight  int64     `json:"max_in_flight"` // the most requests served at once
	Files        int64     `json:"files"`
	Bytes        int64     `json:"bytes"`
	Mark         time.Time `json:"mark"`
	FirstRequest time.Time `json:"first_request"`
	FirstCommit  time.Time `json:"first_commit"`
	LastCommit   time.Time `json:"last_commit"`
}

// BenchRoot is the folder below which every scenario delivers.
const BenchRoot = "/Root/Bench"

// NewSink returns a sink holding /Root and /Root/Bench.
func NewSink() *Sink {
	s := &Sink{contents: map[string]*content{}, sessions: map[string]*session{}, scen: map[string]*scenario{}}
	for _, p := range []string{"/Root", BenchRoot} {
		s.contents[strings.ToLower(p)] = &content{id: s.nextID.Add(1), path: p, folder: true}
	}
	return s
}

// scenarioOf is the scenario a content path belongs to, "" outside
// /Root/Bench/<name>.
func scenarioOf(p string) string {
	rest, ok := strings.CutPrefix(p, BenchRoot+"/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// scenario returns the counters of name; s.mu must be held.
func (s *Sink) scenario(name string) *scenario {
	sc := s.scen[name]
	if sc == nil {
		sc = &scenario{}
		s.scen[name] = sc
	}
	return sc
}

func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/_bench/"); ok {
		s.control(w, r, rest)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/OData.svc")
	if !ok {
		http.NotFound(w, r)
		return
	}
	action := ""
	if i := strings.LastIndex(rest, "/"); i >= 0 && !strings.Contains(rest[i:], "(") && strings.HasSuffix(rest[:i], "')") {
		rest, action = rest[:i], rest[i+1:]
	}
	p, err := contentPath(rest)
	if err != nil {
		odataError(w, http.StatusBadRequest, "InvalidPath", err.Error())
		return
	}
	if sc := scenarioOf(p); sc != "" {
		s.mu.Lock()
		st := s.scenario(sc)
		st.requests++
		if st.firstReq.IsZero() {
			st.firstReq = time.Now()
		}
		st.inFlight++
		st.maxFlight = max(st.maxFlight, st.inFlight)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			st.inFlight--
			s.mu.Unlock()
		}()
	}
	switch {
	case r.Method == http.MethodGet && action == "":
		s.get(w, p)
	case r.Method == http.MethodPost && action == "" && !strings.HasSuffix(rest, "')"):
		s.createFolder(w, r, p)
	case r.Method == http.MethodPost && action == "Upload":
		s.upload(w, r, p)
	case r.Method == http.MethodPost && action == "FinalizeContent":
		w.WriteHeader(http.StatusNoContent)
	default:
		odataError(w, http.StatusMethodNotAllowed, "NotSupported", r.Method+" "+action+" is not served by the bench sink")
	}
}

// contentPath turns an OData path (/Root/Content('Documents'), or a
// collection path /Root/Content/Documents) into a content path.
func contentPath(rest string) (string, error) {
	if i := strings.Index(rest, "('"); i >= 0 {
		if !strings.HasSuffix(rest, "')") {
			return "", fmt.Errorf("bad entity path %q", rest)
		}
		name := strings.ReplaceAll(rest[i+2:len(rest)-2], "''", "'")
		parent := strings.TrimSuffix(rest[:i], "/")
		return parent + "/" + name, nil
	}
	return strings.TrimSuffix(rest, "/"), nil
}

func (s *Sink) get(w http.ResponseWriter, p string) {
	s.mu.Lock()
	c := s.contents[strings.ToLower(p)]
	s.mu.Unlock()
	if c == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	typ := "File"
	if c.folder {
		typ = "Folder"
	}
	writeJSON(w, http.StatusOK, map[string]any{"d": map[string]any{
		"Id": c.id, "Name": c.path[strings.LastIndexByte(c.path, '/')+1:], "Version": "V1.0.A", "Path": c.path, "Type": typ, "IsFolder": c.folder}})
}

func (s *Sink) createFolder(w http.ResponseWriter, r *http.Request, parent string) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	var models []struct {
		Type string `json:"__ContentType"`
		Name string `json:"Name"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(string(body), "models=")), &models); err != nil || len(models) != 1 || models[0].Name == "" {
		odataError(w, http.StatusBadRequest, "InvalidModel", "models must hold one content with a Name")
		return
	}
	p := parent + "/" + models[0].Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.contents[strings.ToLower(parent)] == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if s.contents[strings.ToLower(p)] != nil {
		odataError(w, http.StatusBadRequest, "ContentAlreadyExists", "Cannot create content: "+p+" already exists.")
		return
	}
	c := &content{id: s.nextID.Add(1), path: p, folder: true}
	s.contents[strings.ToLower(p)] = c
	writeJSON(w, http.StatusCreated, map[string]any{"d": map[string]any{"Id": c.id, "Name": models[0].Name, "Path": p}})
}

// upload serves the Upload action: create=1 starts a chunked session; a
// file part with Content-Range is a chunk (the last one commits); a file
// part without it is a whole-file upload.
func (s *Sink) upload(w http.ResponseWriter, r *http.Request, parent string) {
	s.mu.Lock()
	parentOK := s.contents[strings.ToLower(parent)] != nil
	s.mu.Unlock()
	if !parentOK {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNotFound) // sensenet: a missing parent is a 404 without a body
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		odataError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	fields := map[string]string{}
	var (
		h     hash.Hash
		n     int64
		sess  *session
		token string
		got   bool
	)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			odataError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
			return
		}
		if part.FileName() == "" {
			v, _ := io.ReadAll(io.LimitReader(part, 1<<16))
			fields[part.FormName()] = string(v)
			continue
		}
		got = true
		name := fields["FileName"]
		if name == "" {
			odataError(w, http.StatusBadRequest, "InvalidRequest", "FileName is required")
			return
		}
		if cr := r.Header.Get("Content-Range"); cr != "" {
			var start, end, total int64
			if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &start, &end, &total); err != nil {
				odataError(w, http.StatusBadRequest, "InvalidRange", cr)
				return
			}
			token = fields["ChunkToken"]
			s.mu.Lock()
			sess = s.sessions[token]
			s.mu.Unlock()
			if sess == nil || sess.next != start {
				odataError(w, http.StatusBadRequest, "InvalidChunk", "unknown token or chunk out of order: "+cr)
				return
			}
			m, err := io.Copy(sess.h, part)
			if err != nil || m != end-start+1 {
				odataError(w, http.StatusBadRequest, "InvalidChunk", fmt.Sprintf("chunk %s carried %d bytes", cr, m))
				return
			}
			sess.next += m
			s.count(parent+"/"+name, m)
			if sess.next < total {
				writeJSON(w, http.StatusOK, map[string]any{"Url": sess.path, "Name": name, "Length": total, "Type": "File", "Id": 0})
				return
			}
			h, n = sess.h, total
		} else {
			h = sha256.New()
			if n, err = io.Copy(h, part); err != nil {
				odataError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
				return
			}
			s.count(parent+"/"+name, n)
		}
	}
	name := fields["FileName"]
	p := parent + "/" + name
	if !got {
		if fields["create"] == "" || fields["UseChunk"] != "True" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		tok := strconv.FormatInt(s.nextID.Add(1), 10) + "*" + strconv.FormatInt(time.Now().UnixNano(), 36) + "*True*True"
		s.mu.Lock()
		s.sessions[tok] = &session{path: p, h: sha256.New()}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, tok)
		return
	}
	now := time.Now()
	s.mu.Lock()
	if token != "" {
		delete(s.sessions, token)
	}
	c := s.contents[strings.ToLower(p)]
	if c == nil {
		c = &content{id: s.nextID.Add(1), path: p}
		s.contents[strings.ToLower(p)] = c
	}
	c.size, c.sha, c.commit = n, hex.EncodeToString(h.Sum(nil)), now
	if sc := scenarioOf(p); sc != "" {
		st := s.scenario(sc)
		st.files++
		if st.first.IsZero() {
			st.first = now
		}
		st.last = now
	}
	id := c.id
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"Url": p, "Name": name, "Length": n, "Type": "File", "Id": id})
}

// ConnState counts new connections; set it as the http.Server's ConnState
// to see whether clients reuse their connections.
func (s *Sink) ConnState(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		s.conns.Add(1)
	}
}

func (s *Sink) count(p string, n int64) {
	if sc := scenarioOf(p); sc != "" {
		s.mu.Lock()
		s.scenario(sc).bytesRecv += n
		s.mu.Unlock()
	}
}

// control serves the benchmark's own endpoints:
//
//	POST /_bench/mark?scenario=S   records the start of S on the sink's clock
//	GET  /_bench/stats?scenario=S  Stats of S
//	GET  /_bench/files?scenario=S  content path → {size, sha256, commit} of S
func (s *Sink) control(w http.ResponseWriter, r *http.Request, what string) {
	name := r.URL.Query().Get("scenario")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch what {
	case "mark":
		s.scenario(name).mark = time.Now()
		w.WriteHeader(http.StatusNoContent)
	case "stats":
		sc := s.scenario(name)
		writeJSON(w, http.StatusOK, Stats{Conns: s.conns.Load(), Requests: sc.requests, MaxInFlight: sc.maxFlight, Files: sc.files, Bytes: sc.bytesRecv, Mark: sc.mark, FirstRequest: sc.firstReq, FirstCommit: sc.first, LastCommit: sc.last})
	case "files":
		out := map[string]File{}
		for _, c := range s.contents {
			if !c.folder && scenarioOf(c.path) == name {
				out[c.path] = File{Size: c.size, SHA256: c.sha, Commit: c.commit}
			}
		}
		writeJSON(w, http.StatusOK, out)
	default:
		http.NotFound(w, r)
	}
}

// File is what the sink holds for one delivered content.
type File struct {
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	Commit time.Time `json:"commit"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func odataError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": map[string]string{"lang": "en-us", "value": msg}}})
}

// Serve runs a Sink on a loopback port until ctx ends, after writing
// "sink listening on http://ADDR" and a newline to w: the line the
// benchmark (startSink) reads to find it. The dropsync-bench command and
// the test binaries that re-execute themselves as the sink process use it.
func Serve(ctx context.Context, w io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "sink listening on http://%s\n", ln.Addr())
	sink := NewSink()
	srv := &http.Server{Handler: sink, ConnState: sink.ConnState, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
