package sbm

import (
	"context"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

var _ targets.Verifier = (*Target)(nil)

// Landed implements targets.Verifier. SBM keeps no version or checksum of
// a file object, only its size, and NEW-UPDATE replaces an object in place,
// so sending again is harmless for version and overwrite once the object
// exists; only a first upload under the file's name, or a rename (a new
// name(N).ext object each time), could add a second object. Those count as
// landed when the field holds an object of that name (the newest of the
// file's renamed names) with the file's size; else the file is sent again.
func (t *Target) Landed(ctx context.Context, f *targets.File, _ string) (*targets.Remote, error) {
	d, err := dest(f)
	if err != nil {
		return nil, err
	}
	rename := f.OnConflict == config.OnConflictRename
	if f.OnConflict == config.OnConflictSkip || (!rename && f.Previous != nil) {
		return nil, nil
	}
	objs, err := t.list(ctx, d)
	if err != nil {
		return nil, err
	}
	var best *fileObjReply
	for i := range objs {
		o := &objs[i]
		name := o.Filename
		if name == "" {
			name = o.Name
		}
		match := name == targets.StoredName(f.Name())
		if rename {
			match = targets.RenameOf(targets.StoredName(f.Name()), name) && (f.Previous == nil || f.Previous.ID != string(o.ID))
		}
		if match && (best == nil || idLess(best.ID, o.ID)) {
			best = o
		}
	}
	if best == nil || best.Size != f.Size {
		return nil, nil
	}
	r := best.remote()
	return &r, nil
}
