package sensenet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// Type is the adapter's type name in the configuration.
const Type = "sensenet"

func init() {
	targets.Register(Type, New)
	targets.RegisterFake(Type, func() targets.Fake { return NewFake() })
}

var (
	_ targets.Target  = (*Target)(nil)
	_ targets.Chunker = (*Target)(nil)
	_ targets.Deleter = (*Target)(nil)
)

// Target uploads to one sensenet repository. It is safe for concurrent use
// by several workers.
type Target struct {
	base   string // the configured URL without a trailing slash
	client *targets.Client
	log    *slog.Logger
	// readVersion reads each uploaded content back (one GET) to record
	// its version label; the Upload action's answer has none.
	readVersion bool

	// creating makes workers that need the same missing folder at once
	// wait for one check and creation.
	creating singleflight.Group

	// names predicts the names the server stores (naming.go).
	names *namer

	// folders holds the lower-cased paths of remote folders known to
	// exist, so that sub-folders are checked and created once.
	mu      sync.Mutex
	folders map[string]bool
}

// Options are the sensenet target's own configuration keys.
type Options struct {
	// ReadVersion reads every uploaded content back with a GET to record
	// its version label (V2.0.A), which the Upload action's answer does
	// not carry. Default false: one request per new small file, and the
	// state table records the id, name and path without a version.
	ReadVersion bool `yaml:"read_version"`
	// InvalidNameChars and NameReplacement repeat the server's
	// ContentNamingProvider settings when an administrator changed them.
	InvalidNameChars string `yaml:"invalid_name_chars"`
	NameReplacement  string `yaml:"name_replacement"`
}

// New is the factory registered for type sensenet. Its own keys are in
// Options; auth must be bearer or apikey (sent in the apikey header).
func New(b *targets.Base) (targets.Target, error) {
	var opts Options
	if err := b.Config.Extra.Decode(&opts); err != nil {
		return nil, err
	}
	names, err := newNamer(opts.InvalidNameChars, opts.NameReplacement)
	if err != nil {
		return nil, err
	}
	if b.Config.ChunkSize > maxChunk {
		return nil, fmt.Errorf("chunk_size: %s is over sensenet's limit: the Upload action takes chunks below 2 GiB", b.Config.ChunkSize)
	}
	auth, err := targets.NewAuth(b.Config.Auth, targets.AuthOptions{
		Allowed:      []string{"bearer", "apikey"},
		APIKeyHeader: "apikey",
		HTTP:         b.HTTP,
	})
	if err != nil {
		return nil, err
	}
	return &Target{
		base:        strings.TrimRight(b.URL.String(), "/"),
		client:      b.NewClient(auth),
		log:         b.Log,
		readVersion: opts.ReadVersion,
		names:       names,
		folders:     map[string]bool{},
	}, nil
}

// Destination is a watch's destination block for sensenet.
type Destination struct {
	// Path is the parent content path, e.g. /Root/Content/Documents. It
	// must exist; sub-folders of the watch are created below it.
	Path string `yaml:"path"`
	// ContentType is the content type of uploaded files (default File).
	ContentType string `yaml:"content_type"`
}

var typeName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Watch decodes and checks the destination. Every on_conflict value and
// both deletes modes are supported.
func (t *Target) Watch(w *config.Watch) (any, error) {
	var d Destination
	if err := w.Destination.Decode(&d); err != nil {
		return nil, err
	}
	p, err := cleanPath(d.Path)
	if err != nil {
		return nil, fmt.Errorf("destination.path: %w", err)
	}
	d.Path = p
	if d.ContentType == "" {
		d.ContentType = "File"
	}
	if !typeName.MatchString(d.ContentType) {
		return nil, fmt.Errorf("destination.content_type: %q is not a content type name (e.g. File, Image)", d.ContentType)
	}
	switch w.OnConflict {
	case config.OnConflictVersion, config.OnConflictOverwrite, config.OnConflictRename, config.OnConflictSkip:
	default:
		return nil, fmt.Errorf("on_conflict: %q is not supported by sensenet (use version, overwrite, rename or skip)", w.OnConflict)
	}
	switch w.Deletes {
	case "ignore", "propagate":
	default:
		return nil, fmt.Errorf("deletes: %q is not one of ignore, propagate", w.Deletes)
	}
	return &d, nil
}

// cleanPath checks a destination path and returns it without a trailing
// slash.
func cleanPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("required: the parent content path, e.g. /Root/Content/Documents")
	}
	c := strings.TrimRight(p, "/")
	segs := strings.Split(c, "/")
	if segs[0] != "" || len(segs) < 2 || !strings.EqualFold(segs[1], "Root") {
		return "", fmt.Errorf("%q must start with /Root (a content path such as /Root/Content/Documents)", p)
	}
	for _, s := range segs[1:] {
		if s == "" || s == "." || s == ".." || strings.TrimSpace(s) != s {
			return "", fmt.Errorf("%q has an empty, dot or space-padded segment", p)
		}
	}
	return c, nil
}

// Prepare resolves the remote parent, creating the watch's sub-folders as
// needed under the names the server gives them, and applies on_conflict:
// version and overwrite let the server reuse the content of the same name
// (the recorded one, once the path was delivered), rename lets it pick a
// free name, and skip looks the server's name up and ends the job when
// the content exists.
func (t *Target) Prepare(ctx context.Context, f *targets.File) (*targets.Plan, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return nil, fmt.Errorf("sensenet: %s: destination is %T, not a sensenet destination", f.Rel, f.Dest)
	}
	parent, err := t.ensureFolders(ctx, d.Path, f.Dir())
	if err != nil {
		return nil, err
	}
	p := &targets.Plan{Name: f.Name(), Parent: parent}
	if r := t.recorded(f, parent); r != "" && f.OnConflict != config.OnConflictRename {
		// Later versions go to the content the server named for this path.
		p.Name = r
	}
	switch f.OnConflict {
	case config.OnConflictSkip:
		op := "sensenet: look up " + parent + "/" + p.Name
		name, err := t.names.storedName(op, p.Name)
		if err != nil {
			return nil, err
		}
		e, found, err := t.lookup(ctx, op, parent, name)
		if err != nil {
			return nil, err
		}
		if found && isFolder(e) {
			// The name (compared without case) belongs to a folder: it is
			// not this file, and skip must not record it as delivered.
			return nil, folderInTheWay(op, f, e)
		}
		if found {
			r := remoteOf(e.ID.String(), e.Name, e.Version, e.Path)
			p.Skip, p.Remote = true, &r
		}
	case config.OnConflictVersion, config.OnConflictOverwrite:
		p.Existing = f.Previous
	}
	return p, nil
}

// recorded is the server's name of the content f was last delivered as,
// when it is in parent; "" otherwise.
func (t *Target) recorded(f *targets.File, parent string) string {
	r := f.Previous
	if r == nil || r.Name == "" {
		return ""
	}
	if p := r.Extra["path"]; p != "" && !strings.EqualFold(parentOf(p), parent) {
		return ""
	}
	return r.Name
}

// overwrite is the Upload action's Overwrite parameter for on_conflict
// policy c: true reuses the content of the same name (a new version, or an
// in-place replacement, as the folder's versioning mode says); false makes
// the server create name(1).ext, name(2).ext… beside it. skip uploads only
// when the name was absent and never replaces what appeared meanwhile.
func overwrite(c string) bool {
	return c == config.OnConflictVersion || c == config.OnConflictOverwrite
}

// ensureFolders makes sure that the folders of dir (slash-separated)
// exist below root under the names the server gives them, creating the
// missing ones, and returns the server's path of dir. A content in the way
// that is not a folder fails permanently. Workers that need the same
// folder at once share one check and creation.
func (t *Target) ensureFolders(ctx context.Context, root, dir string) (string, error) {
	if dir == "" {
		return root, nil
	}
	var buf [256]byte
	b, bad, ok := t.names.appendRemoteDir(buf[:0], root, dir)
	if !ok {
		return "", nameError("sensenet: folder "+root+"/"+dir, bad)
	}
	full := string(b)
	if t.known(full) {
		return full, nil
	}
	_, err, _ := t.creating.Do(strings.ToLower(full), func() (any, error) {
		if t.known(full) {
			return nil, nil
		}
		return nil, t.createFolders(ctx, root, dir, full)
	})
	if err != nil {
		return "", err
	}
	return full, nil
}

// createFolders checks the folder full (root/dir as the server names it)
// and creates what is missing of it, level by level.
func (t *Target) createFolders(ctx context.Context, root, dir, full string) error {
	if found, err := t.checkFolder(ctx, full); err != nil || found {
		return err
	}
	cur, created := root, false
	for _, s := range strings.Split(dir, "/") {
		name := t.names.stored(s)
		next := cur + "/" + name
		if !created && next != full && !t.known(next) { // full was just found missing
			found, err := t.checkFolder(ctx, next)
			if err != nil {
				return err
			}
			if found {
				cur = next
				continue
			}
		}
		if !t.known(next) {
			if err := t.createFolder(ctx, cur, name, root); err != nil {
				return err
			}
			created = true
			t.remember(next)
		}
		cur = next
	}
	return nil
}

// checkFolder looks the folder p up and remembers it when found; a
// content there that is not a folder is a permanent failure.
func (t *Target) checkFolder(ctx context.Context, p string) (bool, error) {
	op := "sensenet: check folder " + p
	e, found, err := t.lookup(ctx, op, parentOf(p), nameOf(p))
	if err != nil || !found {
		return false, err
	}
	if !e.IsFolder {
		typ := e.Type
		if typ == "" {
			typ = "content"
		}
		return false, targets.Errorf(targets.Permanent, op, "%s exists on the server as a %s, not a folder; move or rename one of them", p, typ)
	}
	t.remember(p)
	return true, nil
}

// containerTypes are sensenet's built-in content types that hold children
// and have no Binary field, lower-cased. An Upload answer carries the
// content's type but not IsFolder; a folder of a type not listed here has
// no Binary either, so its Upload fails with 500, which post looks up
// (see checkUploaded).
var containerTypes = map[string]bool{
	"folder": true, "systemfolder": true, "smartfolder": true, "trashbin": true,
	"workspace": true, "site": true, "portalroot": true, "resources": true,
	"contentlist": true, "documentlibrary": true, "imagelibrary": true, "library": true,
	"itemlist": true, "customlist": true, "memolist": true, "tasklist": true, "linklist": true, "eventlist": true,
	"domain": true, "domains": true, "organizationalunit": true, "profiles": true, "userprofile": true,
}

// isFolderType reports whether typ is a folder's content type.
func isFolderType(typ string) bool { return containerTypes[strings.ToLower(typ)] }

// isFolder reports whether a content looked up is a folder.
func isFolder(e entity) bool { return e.IsFolder || isFolderType(e.Type) }

// folderInTheWay is the permanent failure of a file whose name the server
// resolves to a folder: sensenet compares names without case, so a file
// Sub and a folder sub are one name. An Upload with Overwrite would reuse
// the folder (the server cannot store a binary in it and answers 500) and
// a look-up finds the folder: the file must not be recorded as delivered
// there, nor its deletion delete the folder.
func folderInTheWay(op string, f *targets.File, e entity) *targets.Error {
	typ, p := e.Type, e.Path
	if typ == "" {
		typ = "Folder"
	}
	if p == "" {
		p = e.Name
	}
	return targets.Errorf(targets.Permanent, op,
		"%s cannot be stored: %s on the server is a %s, not a file, and holds its name (sensenet names ignore case); rename the file or the folder",
		f.Rel, p, typ)
}

// checkName looks the content name up under parent after an Upload by
// name failed, and returns folderInTheWay when it is a folder; nil
// otherwise, also when the look-up fails (the caller keeps its error).
func (t *Target) checkName(ctx context.Context, op string, f *targets.File, parent, name string) error {
	e, found, err := t.lookup(ctx, op+": look up", parent, name)
	if err != nil || !found || !isFolder(e) {
		return nil
	}
	if e.Path == "" {
		e.Path = parent + "/" + e.Name
	}
	return folderInTheWay(op, f, e)
}

// createFolder creates the folder name (as the server names it) under
// parent with the standard OData create request, as sensenet's own clients
// send it. A folder that exists already (another worker was quicker) is
// success.
func (t *Target) createFolder(ctx context.Context, parent, name, root string) error {
	op := "sensenet: create folder " + parent + "/" + name
	model, err := json.Marshal([]map[string]string{{"__ContentType": "Folder", "Name": name}})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	body := append([]byte("models="), model...)
	u := t.base + collectionPath(parent) + "?metadata=no"
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json")
		}
		return req, err
	})
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 {
		raw := targets.ReadBody(resp)
		if !isJSON(resp.Header, raw) {
			// A proxy's page: no folder was created.
			return targets.NotTheAPI(op, resp.StatusCode, raw, "sensenet's JSON")
		}
		return t.checkCreated(op, name, raw)
	}
	missing := "parent folder not found: " + parent
	e, code := statusErrorCode(op, resp, missing)
	if code == "ContentAlreadyExists" {
		if _, err := t.checkFolder(ctx, parent+"/"+name); err != nil {
			return err
		}
		return nil
	}
	if e.Status == http.StatusNotFound && e.Msg == missing && !strings.EqualFold(parent, root) {
		// A folder dropsync created earlier was removed meanwhile: forget
		// what is cached, so the next attempt creates it again.
		t.forget(parent)
		e.Kind, e.MaxAttempts = targets.Retryable, folderAttempts
	}
	return e
}

func (t *Target) known(p string) bool {
	var buf [256]byte
	k := append(buf[:0], p...)
	if !lowerASCII(k) {
		k = append(k[:0], strings.ToLower(p)...)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.folders[string(k)]
}

// remember records p and its ancestors as existing.
func (t *Target) remember(p string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p = strings.ToLower(p); strings.Count(p, "/") > 1; p = parentOf(p) {
		t.folders[p] = true
	}
}

// forget drops p and everything below it from the folder cache.
func (t *Target) forget(p string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p = strings.ToLower(p)
	for k := range t.folders {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(t.folders, k)
		}
	}
}

func parentOf(p string) string { return p[:strings.LastIndexByte(p, '/')] }
func nameOf(p string) string   { return p[strings.LastIndexByte(p, '/')+1:] }

// remoteOf is the Remote recorded for a content: its id, name and version,
// and its path in Extra["path"].
func remoteOf(id, name, version, path string) targets.Remote {
	r := targets.Remote{ID: id, Name: name, Version: version}
	if path != "" {
		r.Extra = map[string]string{"path": path}
	}
	return r
}

// Delete moves the content a file was delivered as to the trash (sensenet's
// default for an OData DELETE). It first checks that the content at the
// recorded path still has the recorded id, so that a content someone put
// there since is left alone. A content that is already gone is success.
func (t *Target) Delete(ctx context.Context, f *targets.File, r targets.Remote) error {
	p := r.Extra["path"]
	if p == "" {
		d, ok := f.Dest.(*Destination)
		if !ok {
			return fmt.Errorf("sensenet: delete %s: destination is %T, not a sensenet destination", f.Rel, f.Dest)
		}
		op := "sensenet: delete " + f.Rel
		dir, err := t.names.remoteDir(op, d.Path, f.Dir())
		if err != nil {
			return err
		}
		name := r.Name
		if name == "" {
			if name, err = t.names.storedName(op, f.Name()); err != nil {
				return err
			}
		}
		p = dir + "/" + name
	}
	op := "sensenet: delete " + p
	if r.ID != "" {
		e, found, err := t.lookup(ctx, op, parentOf(p), nameOf(p))
		if err != nil {
			return err
		}
		if !found {
			return nil
		}
		if e.ID.String() != r.ID {
			t.log.Info("remote content was replaced by another one; not deleted", "path", p, "recorded_id", r.ID, "found_id", e.ID.String())
			return nil
		}
	}
	u := t.base + entityOf(p)
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		return http.NewRequest(http.MethodDelete, u, nil)
	})
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound {
		targets.DrainClose(resp)
		return nil
	}
	return statusError(op, resp, "")
}

// CheckDestination implements targets.DestinationChecker: the destination
// folder must exist and be visible with the configured credentials.
func (t *Target) CheckDestination(ctx context.Context, dest any) error {
	d, ok := dest.(*Destination)
	if !ok {
		return fmt.Errorf("%s: destination is %T, not from Watch", Type, dest)
	}
	parent, name := parentOf(d.Path), d.Path[strings.LastIndexByte(d.Path, '/')+1:]
	if parent == "" {
		// /Root has no parent to look it up in; every repository holds
		// /Root/System, so that checks the credentials instead.
		parent, name = "/Root", "System"
	}
	_, found, err := t.lookup(ctx, Type+": check destination", parent, name)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("destination.path: %s does not exist on the server, or these credentials cannot see it", d.Path)
	}
	return nil
}
