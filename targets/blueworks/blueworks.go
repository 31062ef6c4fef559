package blueworks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// Type is the configuration's type name for this adapter. It is stored in
// the queue, so it never changes.
const Type = "blueworks"

// APIVersion is the FileUpload API version dropsync speaks, sent as
// X-IBM-API-Version.
const APIVersion = "20160630"

// MaxFileSize is the documented FileUpload limit, "50 MB", in bytes.
const MaxFileSize = 50_000_000

// Paths of the two calls, below the target's url.
const (
	UploadPath = "/scr/api/FileUpload"
	TokenPath  = "/oauth/token"
)

func init() {
	targets.Register(Type, New)
	targets.RegisterFake(Type, func() targets.Fake { return NewFake() })
}

// Destination is a watch's destination: where in Blueworks the files are
// attached.
type Destination struct {
	Location   string `yaml:"location"`     // activity | app | decision | instance | policy | post
	AncestorID string `yaml:"ancestor_id"`  // see locations
	ParentID   string `yaml:"parent_id"`    // see locations
	OnBehalfOf string `yaml:"on_behalf_of"` // X-On-Behalf-Of: needed with an account-level Service ID
}

// ids says what ancestorIdField and parentIdField mean for a location; ""
// means the location takes no such id.
type ids struct{ ancestor, parent string }

// locations holds the FileUpload page's meaning of the ids per location.
var locations = map[string]ids{
	"activity": {"the process blueprint ID", "the process ID"},
	"app":      {"the process application ID", "the application ID"},
	"decision": {"the decision diagram ID", "the decision ID"},
	"instance": {"the work ID", "the work ID"},
	"policy":   {"", "the policy ID"},
	"post":     {"", ""},
}

var locationNames = []string{"activity", "app", "decision", "instance", "policy", "post"}

// Target uploads files to one Blueworks account.
type Target struct {
	base    *targets.Base
	client  *targets.Client
	moves   *router
	resends int // ambiguous_resends
}

// Options are the Blueworks target keys.
type Options struct {
	// AmbiguousResends is how often a file is sent again after an attempt
	// that sent it whole and got no answer (default 1). Blueworks cannot be
	// asked whether it attached the file, and every upload adds an
	// attachment, so each re-send may add a duplicate.
	AmbiguousResends *int `yaml:"ambiguous_resends"`
}

var (
	_ targets.Target        = (*Target)(nil)
	_ targets.Limiter       = (*Target)(nil)
	_ targets.Checker       = (*Target)(nil)
	_ targets.ResendLimiter = (*Target)(nil)
)

// AmbiguousResends implements targets.ResendLimiter.
func (t *Target) AmbiguousResends() (int, string) {
	return t.resends, "the file may already be attached in Blueworks (check the attachments before sending it again)"
}

// New builds the target from its configuration. Blueworks has one
// adapter-specific target key (ambiguous_resends) and accepts only oauth2
// client credentials.
func New(b *targets.Base) (targets.Target, error) {
	var opts Options
	if !b.Config.Extra.IsZero() {
		if err := b.Config.Extra.Decode(&opts); err != nil {
			return nil, fmt.Errorf("%w; blueworks takes the common target keys and ambiguous_resends", err)
		}
	}
	resends := 1
	if opts.AmbiguousResends != nil {
		if *opts.AmbiguousResends < 0 {
			return nil, errors.New("ambiguous_resends: must not be negative")
		}
		resends = *opts.AmbiguousResends
	}
	if b.Config.Auth.Type != "oauth2" {
		return nil, fmt.Errorf("auth.type: blueworks FileUpload takes oauth2 client credentials (a User Service ID with the Artifact Authoring category), not %q", b.Config.Auth.Type)
	}
	if int64(b.Config.MaxFileSize) > MaxFileSize {
		b.Log.Warn("max_file_size is above the documented Blueworks FileUpload limit of 50 MB: larger files are sent and the server may answer SIZE", "max_file_size", b.Config.MaxFileSize.String())
	}
	moves := newRouter(b.Log)
	hc := *b.HTTP
	hc.Transport = &moveTransport{next: b.HTTP.Transport, moves: moves}
	auth, err := targets.NewAuth(b.Config.Auth, targets.AuthOptions{
		Allowed:          []string{"oauth2"},
		DefaultTokenURL:  b.URL.String() + TokenPath,
		ClientAuthInBody: true,
		HTTP:             &hc,
	})
	if err != nil {
		return nil, err
	}
	c := b.NewClient(auth)
	c.HTTP = &hc
	return &Target{base: b, client: c, moves: moves, resends: resends}, nil
}

// Watch checks a watch: its destination (location and the ids that
// location needs), on_conflict (rename or skip: every upload adds an
// attachment) and deletes (ignore: the API has no delete).
func (t *Target) Watch(w *config.Watch) (any, error) {
	switch w.OnConflict {
	case config.OnConflictVersion:
		return nil, fmt.Errorf("on_conflict: blueworks cannot add a version to an attachment (version is also the default when on_conflict is not set): every upload adds a new attachment; use rename (each change adds a new attachment beside the earlier ones) or skip (each file is uploaded once)")
	case config.OnConflictOverwrite:
		return nil, fmt.Errorf("on_conflict: blueworks cannot replace an attachment: every upload adds a new attachment; use rename (each change adds a new attachment beside the earlier ones) or skip (each file is uploaded once)")
	case config.OnConflictRename, config.OnConflictSkip:
	default:
		return nil, fmt.Errorf("on_conflict: %q is not one of rename, skip", w.OnConflict)
	}
	if w.Deletes == "propagate" {
		return nil, fmt.Errorf("deletes: blueworks FileUpload has no delete; use deletes: ignore")
	}
	var d Destination
	if err := w.Destination.Decode(&d); err != nil {
		return nil, err
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return &d, nil
}

// check applies the FileUpload page's rules for the ids a location needs.
func (d *Destination) check() error {
	need, ok := locations[d.Location]
	if !ok {
		if d.Location == "" {
			return fmt.Errorf("destination.location: required, one of %s", strings.Join(locationNames, ", "))
		}
		return fmt.Errorf("destination.location: %q is not one of %s", d.Location, strings.Join(locationNames, ", "))
	}
	for _, f := range []struct{ key, val, means string }{
		{"ancestor_id", d.AncestorID, need.ancestor},
		{"parent_id", d.ParentID, need.parent},
	} {
		switch {
		case f.means != "" && strings.TrimSpace(f.val) == "":
			return fmt.Errorf("destination.%s: %s needs %s = %s", f.key, d.Location, f.key, f.means)
		case f.means == "" && f.val != "":
			return fmt.Errorf("destination.%s: %s takes no %s (%s)", f.key, d.Location, f.key, d.describe())
		}
	}
	if strings.ContainsAny(d.OnBehalfOf, "\r\n") || d.OnBehalfOf != strings.TrimSpace(d.OnBehalfOf) {
		return fmt.Errorf("destination.on_behalf_of: %q is not a user name", d.OnBehalfOf)
	}
	return nil
}

// describe says what the location does take.
func (d *Destination) describe() string {
	need := locations[d.Location]
	switch {
	case need.ancestor != "":
		return fmt.Sprintf("it takes ancestor_id = %s and parent_id = %s", need.ancestor, need.parent)
	case need.parent != "":
		return fmt.Sprintf("it takes only parent_id = %s", need.parent)
	}
	return "it takes no ids"
}

// Prepare applies on_conflict: skip leaves a path that was delivered before
// alone (the state table is the only record; the API has no lookup);
// rename uploads a file under its own name the first time, and a changed
// file (or another path with the same name) under name(N).ext with N the
// first number the daemon's name book has not recorded for the location.
func (t *Target) Prepare(ctx context.Context, f *targets.File) (*targets.Plan, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return nil, fmt.Errorf("blueworks: prepare %s: destination is %T, not from Watch", f.Rel, f.Dest)
	}
	if f.OnConflict == config.OnConflictSkip && f.Previous != nil {
		return &targets.Plan{Name: f.Name(), Skip: true, Remote: f.Previous}, nil
	}
	name := f.Name()
	if f.OnConflict == config.OnConflictRename && f.Names != nil {
		var err error
		if name, err = t.freeName(ctx, f); err != nil {
			return nil, err
		}
	}
	return &targets.Plan{Name: name, Parent: d.ParentID}, nil
}

// maxRenames bounds the search for a free name(N).ext.
const maxRenames = 10000

// freeName is f's name when this is its first upload and no other path
// holds the name, else the first name(N).ext, N = 1, 2, …, not recorded.
func (t *Target) freeName(ctx context.Context, f *targets.File) (string, error) {
	name := f.Name()
	taken := func(n string) (watch, rel string, found bool, err error) {
		key, err := t.NameKey(f, n)
		if err != nil {
			return "", "", false, err
		}
		return f.Names.Owner(ctx, key)
	}
	watch, rel, found, err := taken(name)
	if err != nil {
		return "", err
	}
	if f.Previous == nil && (!found || watch == f.Watch && rel == f.Rel) {
		return name, nil
	}
	stem, ext := name, path.Ext(name)
	if ext != "" && ext != name {
		stem = strings.TrimSuffix(name, ext)
	} else {
		ext = ""
	}
	for n := 1; n <= maxRenames; n++ {
		cand := fmt.Sprintf("%s(%d)%s", stem, n, ext)
		if _, _, found, err := taken(cand); err != nil {
			return "", err
		} else if !found {
			return cand, nil
		}
	}
	return "", targets.Errorf(targets.Permanent, "blueworks: rename", "%s(1…%d)%s are all recorded for this location; use on_conflict skip", stem, maxRenames, ext)
}

// MaxFileSize implements targets.Limiter: FileUpload answers SIZE above 50
// MB, so a larger file is refused before any byte is sent.
func (t *Target) MaxFileSize() (int64, string) {
	return MaxFileSize, "the Blueworks FileUpload limit of 50 MB (50,000,000 bytes)"
}

// Check implements targets.Checker: it fetches a token, which shows that the
// server answers (following a move to the account's server) and accepts the
// client credentials. Whether the Service ID may upload (the Artifact
// Authoring category) shows only at the first upload.
func (t *Target) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base.URL.String()+UploadPath, nil)
	if err != nil {
		return err
	}
	if err := t.client.Auth.Authorize(ctx, req); err != nil {
		return fmt.Errorf("blueworks: check credentials: %w", err)
	}
	return nil
}

// newRequest builds a FileUpload request for the form.
func (t *Target) newRequest(d *Destination, body *gate, length int64, contentType string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, t.base.URL.String()+UploadPath, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-IBM-API-Version", APIVersion)
	if d.OnBehalfOf != "" {
		req.Header.Set("X-On-Behalf-Of", d.OnBehalfOf)
	}
	return req, nil
}

// FlatNames implements targets.Flattener: the API has no folders; a file is
// known by its base name.
func (t *Target) FlatNames() bool { return true }

// NameKey implements targets.NameKeyer: Blueworks has no folders, so a
// name is known per location (location, ancestor and parent ids).
func (t *Target) NameKey(f *targets.File, name string) (string, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return "", fmt.Errorf("blueworks: %s: destination is %T, not from Watch", f.Rel, f.Dest)
	}
	return d.Location + "/" + d.AncestorID + "/" + d.ParentID + "/" + name, nil
}
