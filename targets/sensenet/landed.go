package sensenet

import (
	"context"
	"fmt"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

var _ targets.Verifier = (*Target)(nil)

// Landed implements targets.Verifier: after an upload whose answer was
// lost, the content of the file's name in its folder holds it when its
// Size is the file's and, for a file delivered before, it is the recorded
// content at a new Version. sensenet keeps no checksum, so a content of the
// same name and size that was there before a first delivery counts as the
// upload. With rename the server chose the name; dropsync cannot find the
// upload and sends the file again.
func (t *Target) Landed(ctx context.Context, f *targets.File, _ string) (*targets.Remote, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return nil, fmt.Errorf("sensenet: %s: destination is %T, not a sensenet destination", f.Rel, f.Dest)
	}
	if f.OnConflict == config.OnConflictRename {
		return nil, nil
	}
	parent, err := t.ensureFolders(ctx, d.Path, f.Dir())
	if err != nil {
		return nil, err
	}
	name := f.Name()
	if r := t.recorded(f, parent); r != "" {
		name = r // later versions go to the content the server named for this path
	}
	op := "sensenet: look for the upload of " + parent + "/" + name
	stored, err := t.names.storedName(op, name)
	if err != nil {
		return nil, err
	}
	e, found, err := t.lookupFile(ctx, op, parent, stored)
	if err != nil || !found {
		return nil, err
	}
	if size, err := e.Size.Int64(); err != nil || size != f.Size {
		return nil, nil
	}
	if p := f.Previous; p != nil && p.ID == e.ID.String() && p.Version == e.Version {
		return nil, nil // the recorded version: the upload made none
	}
	r := remoteOf(e.ID.String(), e.Name, e.Version, e.Path)
	return &r, nil
}
