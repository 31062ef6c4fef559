package oracledocs

import (
	"context"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

var _ targets.Verifier = (*Target)(nil)

// Landed implements targets.Verifier: after an upload whose answer was
// lost, the file of that name in its folder holds it when its size is the
// file's and, for a file delivered before, it is the recorded file at a
// new version. Oracle returns no checksum, so before a first delivery a
// file of the same name and size counts as the upload. With rename the
// file is sent again (the free name is chosen anew).
func (t *Target) Landed(ctx context.Context, f *targets.File, _ string) (*targets.Remote, error) {
	d, err := destOf(f)
	if err != nil {
		return nil, err
	}
	parent, err := t.folderFor(ctx, d, f.Dir())
	if err != nil {
		return nil, err
	}
	if f.OnConflict == config.OnConflictRename {
		return nil, nil // the next free name was chosen before sending: it cannot be told from a file of that name made since
	}
	name := f.Name()
	if p := f.Previous; p != nil && p.Name != "" {
		name = p.Name
	}
	it, found, err := t.lookup(ctx, d, parent, name)
	if err != nil || !found || it.Type == "folder" {
		return nil, err
	}
	if size, ok := it.Size.Int(); !ok || size != f.Size {
		return nil, nil
	}
	if p := f.Previous; p != nil && p.ID == it.ID && p.Version == string(it.Version) {
		return nil, nil // the recorded version: the upload made none
	}
	r := remoteOf(it, name)
	return &r, nil
}
