package connections

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// Type is the adapter's type name in the configuration.
const Type = "connections-activities"

// apiPath is where the Activities Atom API lives below the server URL.
const apiPath = "/activities/service/atom2"

func init() {
	targets.Register(Type, New)
	targets.RegisterFake(Type, func() targets.Fake { return NewFake() })
}

// Destination is a watch's destination block.
type Destination struct {
	// ActivityID is the uuid of the activity, or of an entry in it, that
	// receives new file fields.
	ActivityID string `yaml:"activity_id"`
}

// Target delivers files as file fields of a Connections activity node. It is
// safe for concurrent use.
type Target struct {
	base   *targets.Base
	client *targets.Client
	api    string // server URL + apiPath
	plans  targets.PlanMemo
}

var (
	_ targets.Target  = (*Target)(nil)
	_ targets.Chunker = (*Target)(nil)
)

// New builds the target from its configuration. The adapter has no keys of
// its own; auth must be basic or bearer.
func New(b *targets.Base) (targets.Target, error) {
	var none struct{}
	if err := b.Config.Extra.Decode(&none); err != nil {
		return nil, err
	}
	auth, err := targets.NewAuth(b.Config.Auth, targets.AuthOptions{Allowed: []string{"basic", "bearer"}, HTTP: b.HTTP})
	if err != nil {
		return nil, err
	}
	c := b.NewClient(auth)
	c.Redirects = true // a redirect is its login page: statusError explains it
	return &Target{base: b, client: c, api: b.URL.String() + apiPath}, nil
}

// Watch decodes the destination ({activity_id: …}) and refuses deletes:
// propagate, since dropsync does not delete file fields.
// DefaultChunkThreshold implements targets.ChunkDefaulter: the reference
// SDK switches to the two-phase protocol above 30 MiB.
func (t *Target) DefaultChunkThreshold() int64 { return 30 << 20 }

func (t *Target) Watch(w *config.Watch) (any, error) {
	var d Destination
	if err := w.Destination.Decode(&d); err != nil {
		return nil, err
	}
	d.ActivityID = strings.TrimSpace(d.ActivityID)
	if d.ActivityID == "" {
		return nil, errors.New("destination.activity_id: required: the uuid of the activity (or of an entry in it) that receives the file fields, e.g. {activity_id: 5f2c0d3e-…}")
	}
	if w.Deletes == "propagate" {
		return nil, errors.New("deletes: connections-activities does not delete file fields; use ignore")
	}
	return &d, nil
}

// Prepare reads the destination node's file fields and applies on_conflict.
// The field that receives the content is the recorded one (f.Previous) if
// the node still holds it, else the newest field with the file's name:
// version and overwrite replace it, rename picks the next free name(N).ext
// for a new field, skip leaves it alone. With no such field a new one is
// created under the file's name. The plan's chunk size is the whole file,
// so a two-phase upload is a single "chunk": phase 2.
func (t *Target) Prepare(ctx context.Context, f *targets.File) (*targets.Plan, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return nil, errors.New("connections: the file's destination was not built by this target")
	}
	if p, ok := t.plans.Get(f); ok {
		return p, nil // the last attempt was refused with an answer: nothing changed
	}
	fields, err := t.readFields(ctx, d.ActivityID)
	if err != nil {
		return nil, err
	}
	p := &targets.Plan{Name: f.Name(), Parent: d.ActivityID, ChunkSize: f.Size}
	var cur *fileField
	if f.Previous != nil && f.Previous.ID != "" {
		cur = fieldByID(fields, f.Previous.ID)
		if cur == nil {
			t.base.Log.Info("recorded file field is gone; looking it up by name", "file", f.Rel, "field", f.Previous.ID)
		}
	}
	if cur == nil {
		cur = newestByName(fields, p.Name)
	}
	if cur == nil {
		return p, nil
	}
	switch f.OnConflict {
	case config.OnConflictSkip:
		p.Skip = true
		p.Remote = t.remote(cur.FID, cur.Name, d.ActivityID)
	case config.OnConflictRename:
		p.Name = freeName(p.Name, fields)
	default: // version, overwrite: Activities keeps no versions; the field is replaced
		p.Name = cur.Name
		p.Existing = t.remote(cur.FID, cur.Name, d.ActivityID)
	}
	return p, nil
}

func (t *Target) remote(fid, name, activity string) *targets.Remote {
	return &targets.Remote{ID: fid, Name: name, Extra: map[string]string{"activity": activity}}
}

// activityURL is where new file fields of node id are posted.
func (t *Target) activityURL(id string) string {
	return t.api + "/activity?activityUuid=" + url.QueryEscape(id)
}

// nodeURL addresses a node, or (for the two-phase update) a file field.
func (t *Target) nodeURL(id string) string {
	return t.api + "/activitynode?activityNodeUuid=" + url.QueryEscape(id)
}

func fieldByID(fields []fileField, fid string) *fileField {
	for i := range fields {
		if fields[i].FID == fid {
			return &fields[i]
		}
	}
	return nil
}

// newestByName returns the field listed as name (targets.StoredName) with the
// highest position (the most recently added), or nil.
func newestByName(fields []fileField, name string) *fileField {
	name = targets.StoredName(name)
	var best *fileField
	for i := range fields {
		if fields[i].Name == name && (best == nil || fields[i].Position >= best.Position) {
			best = &fields[i]
		}
	}
	return best
}

// freeName returns name(N).ext for the smallest N ≥ 1 that no field uses,
// comparing as the server lists names (targets.StoredName) without regard to case.
func freeName(name string, fields []fileField) string {
	taken := make(map[string]bool, len(fields))
	for _, f := range fields {
		taken[strings.ToLower(f.Name)] = true
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if stem == "" { // ".profile": the whole name is the stem
		stem, ext = name, ""
	}
	for n := 1; ; n++ {
		c := stem + "(" + strconv.Itoa(n) + ")" + ext
		if !taken[strings.ToLower(targets.StoredName(c))] {
			return c
		}
	}
}

// CheckDestination implements targets.DestinationChecker: the activity node
// must be readable with the configured credentials.
func (t *Target) CheckDestination(ctx context.Context, dest any) error {
	d, ok := dest.(*Destination)
	if !ok {
		return fmt.Errorf("connections: destination is %T, not from Watch", dest)
	}
	_, err := t.readFields(ctx, d.ActivityID)
	return err
}

// FlatNames implements targets.Flattener: the API has no folders; a file is
// known by its base name.
func (t *Target) FlatNames() bool { return true }

// NameKey implements targets.NameKeyer: a file field is known by its name
// within its activity node, so a/report.pdf and b/report.pdf of one watch
// meet at one field, and the daemon refuses the second instead of letting
// it replace the first's content. The name is keyed as the server lists it
// (targets.StoredName): "scan\xff.pdf" and "scan\uFFFD.pdf" are one field.
func (t *Target) NameKey(f *targets.File, name string) (string, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return "", fmt.Errorf("connections: %s: destination is %T, not from Watch", f.Rel, f.Dest)
	}
	return d.ActivityID + "/" + targets.StoredName(name), nil
}
