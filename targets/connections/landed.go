package connections

import (
	"context"
	"errors"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

var _ targets.Verifier = (*Target)(nil)

// Landed implements targets.Verifier. Activities keeps no version or
// checksum of a file field, only its size, and replacing a field is in
// place, so sending again is harmless once the field exists; only a new
// field (a first upload under the file's name, or a rename's name(N).ext)
// could be added twice. Those count as landed when the node holds a field
// of that name (the newest of the file's renamed names) with the file's
// size; else the file is sent again.
func (t *Target) Landed(ctx context.Context, f *targets.File, _ string) (*targets.Remote, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return nil, errors.New("connections: the file's destination was not built by this target")
	}
	rename := f.OnConflict == config.OnConflictRename
	if f.OnConflict == config.OnConflictSkip || (!rename && f.Previous != nil) {
		return nil, nil
	}
	fields, err := t.readFields(ctx, d.ActivityID)
	if err != nil {
		return nil, err
	}
	name := targets.StoredName(f.Name()) // compared with the listing's names
	var best *fileField
	for i := range fields {
		fl := &fields[i]
		match := fl.Name == name
		if rename {
			match = targets.RenameOf(name, fl.Name) && (f.Previous == nil || f.Previous.ID != fl.FID)
		}
		if match && (best == nil || fl.Position >= best.Position) {
			best = fl
		}
	}
	if best == nil || best.Size != f.Size {
		return nil, nil
	}
	return t.remote(best.FID, best.Name, d.ActivityID), nil
}
