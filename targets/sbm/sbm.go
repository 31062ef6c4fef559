package sbm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// Type is the adapter's type name in the configuration.
const Type = "sbm"

// DefaultMaxFileSize is SBM's default Maximum File Size for attachments
// (Settings | Attachments in SBM System Administrator): 500 MB.
const DefaultMaxFileSize = 500 << 20

// Operations named in errors.
const (
	opUpdate = "sbm: update file field"
	opGet    = "sbm: get file field"
	opDelete = "sbm: delete file object"
)

// File object actions of UpdateFileField.
const (
	actionNewOnly   = "NEW-ONLY"
	actionNewUpdate = "NEW-UPDATE"
	actionDelete    = "DELETE"
)

func init() {
	targets.Register(Type, New)
	targets.RegisterFake(Type, func() targets.Fake { return NewFake() })
}

// Options are the sbm target's own configuration keys.
type Options struct {
	// BreakLock sends breakLock: true, letting dropsync steal an item's
	// record lock from the user holding it. Default false: a locked item
	// fails the delivery as retryable until the lock is released. A
	// watch's destination.break_lock overrides it.
	BreakLock bool `yaml:"break_lock"`
	// AlwaysTrans sends alwaysTrans: true, running the transition even
	// when the file field did not change. Default false.
	AlwaysTrans bool `yaml:"always_trans"`
}

// Destination is a watch's destination: the file field of one item.
// Table and Field take an ID, UUID, dbname or name; Item an ID or UUID;
// Transition an ID, UUID, internal name or name, "0" (the default) meaning
// a valid Update transition.
type Destination struct {
	Table      string `yaml:"table"`
	Item       string `yaml:"item"`
	Field      string `yaml:"field"`
	Transition string `yaml:"transition"`
	// BreakLock overrides the target's break_lock for this watch.
	BreakLock *bool `yaml:"break_lock"`

	breakLock bool // resolved
}

// String names the field for messages: table/item/field.
func (d *Destination) String() string { return d.Table + "/" + d.Item + "/" + d.Field }

// Target delivers files into an SBM item's file field through the JSON API.
// It is safe for concurrent use.
type Target struct {
	b      *targets.Base
	opts   Options
	client *targets.Client
	root   string // the server URL without a trailing slash
	plans  targets.PlanMemo
}

var (
	_ targets.Target  = (*Target)(nil)
	_ targets.Deleter = (*Target)(nil)
	_ targets.Limiter = (*Target)(nil)
)

// New builds an sbm target from its configuration. It accepts auth types
// basic and sso.
func New(b *targets.Base) (targets.Target, error) {
	var opts Options
	if err := b.Config.Extra.Decode(&opts); err != nil {
		return nil, err
	}
	var (
		auth targets.Authorizer
		err  error
	)
	if b.Config.Auth.Type == "sso" {
		auth, err = newSSO(b.Config.Auth, b.HTTP)
	} else {
		auth, err = targets.NewAuth(b.Config.Auth, targets.AuthOptions{Allowed: []string{"basic", "sso"}, HTTP: b.HTTP})
	}
	if err != nil {
		return nil, err
	}
	return &Target{b: b, opts: opts, client: b.NewClient(auth), root: strings.TrimRight(b.URL.String(), "/")}, nil
}

// Watch decodes a watch's destination ({table, item, field, transition,
// break_lock}) and accepts every on_conflict policy (overwrite is the same
// as version) and both deletes settings.
func (t *Target) Watch(w *config.Watch) (any, error) {
	d := &Destination{}
	if err := w.Destination.Decode(d); err != nil {
		return nil, err
	}
	for _, k := range []struct{ key, v, what string }{
		{"table", d.Table, "the table's ID, UUID, dbname or name"},
		{"item", d.Item, "the item's ID or UUID"},
		{"field", d.Field, "the file field's ID, UUID, dbname or name"},
	} {
		if strings.TrimSpace(k.v) == "" {
			return nil, fmt.Errorf("destination.%s: required: %s, e.g. destination: {table: 1000, item: 140, field: FILEFIELD}", k.key, k.what)
		}
	}
	if d.Transition == "" {
		d.Transition = "0"
	}
	d.breakLock = t.opts.BreakLock
	if d.BreakLock != nil {
		d.breakLock = *d.BreakLock
	}
	switch w.OnConflict {
	case config.OnConflictVersion, config.OnConflictRename, config.OnConflictSkip:
	case config.OnConflictOverwrite:
		t.b.Log.Warn("on_conflict: overwrite sends NEW-UPDATE, the same as version: an SBM file field keeps one file object per name and replaces its content", "watch", w.Path)
	default:
		return nil, fmt.Errorf("on_conflict: %q is not supported (use version, overwrite, rename or skip)", w.OnConflict)
	}
	switch w.Deletes {
	case "ignore", "propagate":
	default:
		return nil, fmt.Errorf("deletes: %q is not supported (use ignore or propagate)", w.Deletes)
	}
	return d, nil
}

// MaxFileSize implements targets.Limiter with SBM's default attachment
// limit. The request carries the file base64-encoded, about 4/3 of its size.
func (t *Target) MaxFileSize() (int64, string) {
	return DefaultMaxFileSize, "the SBM default Maximum File Size of 500 MB (524288000 bytes, an SBM administrator setting)"
}

// Prepare applies on_conflict. version and overwrite update the recorded
// file object; a file without one is added with NEW-ONLY and needs no
// lookup (Put finds and updates an object of the same name that dropsync
// did not record when the server refuses the add); rename picks the next
// free name(N).ext among the field's objects; skip ends the job when an
// object of that name (or the recorded one) exists.
func (t *Target) Prepare(ctx context.Context, f *targets.File) (*targets.Plan, error) {
	d, err := dest(f)
	if err != nil {
		return nil, err
	}
	if p, ok := t.plans.Get(f); ok {
		return p, nil // the last attempt was refused with an answer: nothing changed
	}
	p := &targets.Plan{Name: targets.StoredName(f.Name()), Parent: d.String()}
	switch f.OnConflict {
	case config.OnConflictVersion, config.OnConflictOverwrite:
		if f.Previous != nil && (f.Previous.ID != "" || f.Previous.Extra["uuid"] != "") {
			// NEW-UPDATE upserts: a recorded object gone from the server is
			// simply added again.
			prev := *f.Previous
			p.Existing = &prev
			if prev.Name != "" {
				p.Name = prev.Name
			}
			return p, nil
		}
		return p, nil
	case config.OnConflictSkip:
		objs, err := t.list(ctx, d)
		if err != nil {
			return nil, err
		}
		o := findRemote(objs, f.Previous)
		if o == nil {
			o = findByName(objs, p.Name)
		}
		if o != nil {
			r := o.remote()
			p.Skip, p.Remote = true, &r
		}
		return p, nil
	case config.OnConflictRename:
		objs, err := t.list(ctx, d)
		if err != nil {
			return nil, err
		}
		p.Name = freeName(objs, p.Name)
		return p, nil
	}
	return nil, fmt.Errorf("on_conflict: %q is not supported by sbm", f.OnConflict)
}

// Put sends the file in one UpdateFileField request whose JSON body carries
// the content base64-encoded on the fly: NEW-UPDATE of the recorded object
// for version and overwrite, NEW-ONLY for a file without one and for rename
// and skip.
func (t *Target) Put(ctx context.Context, f *targets.File, p *targets.Plan, body *targets.Body) (_ targets.Remote, err error) {
	defer func() { t.plans.Settle(f, p, err) }()
	d, err := dest(f)
	if err != nil {
		return targets.Remote{}, err
	}
	// p.Name is the object's display name (kept on update); the file name
	// is the local file's, or the free name(N).ext with rename.
	obj := fileObj{Action: actionNewUpdate, Name: p.Name, Filename: targets.StoredName(f.Name()), Contents: &contents{}}
	switch {
	case f.OnConflict == config.OnConflictRename || f.OnConflict == config.OnConflictSkip:
		obj.Action, obj.Filename = actionNewOnly, p.Name
	case p.Existing != nil:
		obj.ID, obj.UUID = remoteID(*p.Existing), p.Existing.Extra["uuid"]
	default:
		obj.Action = actionNewOnly // nothing recorded: add it (see existing)
	}
	req := updateRequest{BreakLock: d.breakLock, AlwaysTrans: t.opts.AlwaysTrans, FileObjFilter: []string{p.Name}, FileObjList: []fileObj{obj}}
	prefix, suffix, err := splitBody(req)
	if err != nil {
		return targets.Remote{}, fmt.Errorf("%s: %w", opUpdate, err)
	}
	u := t.url("UpdateFileField", d.Table, d.Item, d.Field, d.Transition)
	size := int64(len(prefix)) + base64EncodedLen(body.Len()) + int64(len(suffix))

	var cur *encodedBody
	defer func() {
		if cur != nil {
			cur.Close()
		}
	}()
	resp, err := t.client.Do(ctx, opUpdate, func() (*http.Request, error) {
		if cur != nil {
			// A resend after a token refresh: stop the first attempt's
			// encoder before rewinding the file under it.
			cur.Close()
		}
		if err := body.Rewind(); err != nil {
			return nil, err
		}
		cur = newEncodedBody(prefix, body, suffix)
		r, err := http.NewRequest(http.MethodPost, u, cur)
		if err != nil {
			return nil, err
		}
		r.ContentLength = size
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json")
		// The server answers a bad credential or a wrong table before it
		// reads the body; with 100-continue those answers cost no upload.
		r.Header.Set("Expect", "100-continue")
		return r, nil
	})
	if err != nil {
		return targets.Remote{}, err
	}
	reply, err := t.reply(opUpdate, resp, d)
	if err != nil {
		var te *targets.Error
		if obj.Action == actionNewOnly && errors.As(err, &te) && te.Kind == targets.Permanent && existsMsg.MatchString(te.Msg) {
			return t.existing(ctx, f, p, d, body, te)
		}
		return targets.Remote{}, err
	}
	o := findRemote(reply.Field.Objects, p.Existing)
	if o == nil {
		o = findByName(reply.Field.Objects, p.Name)
	}
	if o == nil {
		t.b.Log.Warn("the server accepted the file but did not list its file object; no id recorded", "field", d.String(), "name", p.Name)
		return targets.Remote{Name: p.Name}, nil
	}
	return o.remote(), nil
}

// existing handles a NEW-ONLY the server refused because the object exists:
// success for skip (the object is what the file was delivered as), a retry
// with the next free name for rename, and for version and overwrite an
// update of that object (put there by someone else, or delivered from
// another path with the same base name), found with GetFileField.
func (t *Target) existing(ctx context.Context, f *targets.File, p *targets.Plan, d *Destination, body *targets.Body, refused *targets.Error) (targets.Remote, error) {
	if f.OnConflict == config.OnConflictRename {
		return targets.Remote{}, &targets.Error{Kind: targets.Retryable, Op: opUpdate, Status: refused.Status,
			Msg: fmt.Sprintf("%s was added to %s meanwhile; the next attempt picks the next free name: %s", p.Name, d, refused.Msg)}
	}
	objs, err := t.list(ctx, d)
	if err != nil {
		return targets.Remote{}, err
	}
	o := findByName(objs, p.Name)
	switch {
	case o == nil:
		return targets.Remote{}, refused
	case f.OnConflict == config.OnConflictSkip:
		return o.remote(), nil
	}
	r := o.remote()
	p.Existing = &r
	return t.Put(ctx, f, p, body)
}

// Delete removes the file object r with a DELETE action. An object that is
// no longer in the field is not an error.
func (t *Target) Delete(ctx context.Context, f *targets.File, r targets.Remote) error {
	d, err := dest(f)
	if err != nil {
		return err
	}
	if r.ID == "" && r.Extra["uuid"] == "" {
		objs, err := t.list(ctx, d)
		if err != nil {
			return err
		}
		o := findByName(objs, r.Name)
		if o == nil {
			return nil
		}
		r = o.remote()
	}
	req := updateRequest{BreakLock: d.breakLock, AlwaysTrans: t.opts.AlwaysTrans, FileObjList: []fileObj{{
		Action: actionDelete, ID: remoteID(r), UUID: r.Extra["uuid"], Name: r.Name, Filename: r.Name,
	}}}
	if r.Name != "" {
		req.FileObjFilter = []string{r.Name}
	}
	_, err = t.post(ctx, opDelete, "UpdateFileField", d, req, d.Transition)
	if err == nil {
		return nil
	}
	var te *targets.Error
	if !errors.As(err, &te) || te.Kind != targets.Permanent {
		return err
	}
	// The server refused: find out whether the object is gone already.
	objs, lerr := t.list(ctx, d)
	if lerr != nil || findRemote(objs, &r) != nil {
		return err
	}
	return nil
}

// list returns the field's file objects (GetFileField, metadata only).
func (t *Target) list(ctx context.Context, d *Destination) ([]fileObjReply, error) {
	rep, err := t.post(targets.ReadOnly(ctx), opGet, "GetFileField", d, getRequest{IncludeFile: false})
	if err != nil {
		return nil, err
	}
	return rep.Field.Objects, nil
}

// post sends a small JSON request to a JSON API function and returns its
// checked reply. extra path segments follow table/item/field.
func (t *Target) post(ctx context.Context, op, fn string, d *Destination, body any, extra ...string) (*reply, error) {
	b, err := marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	u := t.url(fn, append([]string{d.Table, d.Item, d.Field}, extra...)...)
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		r, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json")
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	return t.reply(op, resp, d)
}

// url is {url}/jsonapi/{fn}/{segments…}, each segment path-escaped.
func (t *Target) url(fn string, segs ...string) string {
	var b strings.Builder
	b.WriteString(t.root)
	b.WriteString("/jsonapi/")
	b.WriteString(fn)
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

func dest(f *targets.File) (*Destination, error) {
	d, ok := f.Dest.(*Destination)
	if !ok || d == nil {
		return nil, fmt.Errorf("sbm: %s has no sbm destination (got %T)", f.Rel, f.Dest)
	}
	return d, nil
}

// remoteID is the numeric TS_ID of a recorded object, or 0.
func remoteID(r targets.Remote) int64 {
	id, err := strconv.ParseInt(r.ID, 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// CheckDestination implements targets.DestinationChecker: GetFileField on
// the destination's table, item and field, which also checks the
// credentials (a missing one is named).
func (t *Target) CheckDestination(ctx context.Context, dest any) error {
	d, ok := dest.(*Destination)
	if !ok {
		return fmt.Errorf("sbm: destination is %T, not from Watch", dest)
	}
	_, err := t.list(ctx, d)
	return err
}

// FlatNames implements targets.Flattener: the API has no folders; a file is
// known by its base name.
func (t *Target) FlatNames() bool { return true }

// NameKey implements targets.NameKeyer: a file object is known by its name
// within its item's field, so a/report.pdf and b/report.pdf of one watch
// meet at one object, and the daemon refuses the second instead of letting
// it replace the first's content. The name is keyed as the server stores
// it (targets.StoredName): "scan\xff.pdf" and "scan\xfe.pdf" are both stored as
// "scan\ufffd.pdf", one object.
func (t *Target) NameKey(f *targets.File, name string) (string, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return "", fmt.Errorf("sbm: %s: destination is %T, not from Watch", f.Rel, f.Dest)
	}
	return d.String() + "/" + targets.StoredName(name), nil
}
