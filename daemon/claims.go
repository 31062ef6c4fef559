package daemon

import (
	"context"
	"os"
	"path/filepath"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// Remote name claims. Per target folder, a remote name (after the server's
// folding and sanitising, as the adapter's targets.NameKeyer says) belongs
// to one local path at a time: the queue's remote_names table records the
// owner of every name dropsync delivered to. Before an upload the file's
// name is claimed; a second local path whose name meets one owned by a
// path that still exists fails permanently with both paths in the message,
// or, with on_conflict rename, uploads without the claim so the adapter
// takes the next free name(N).ext. A claim whose owner no longer exists
// locally (deleted, moved away after its upload) passes to the new path,
// whose upload then becomes the next version of the same remote object.
// After every delivery the name the server actually gave is recorded too,
// so adapters that pick free names without listing the server (Blueworks)
// know every name used.

// claimName gives f the target's name book and claims f's remote name for
// it, or fails when another existing local path owns that name.
func (d *Daemon) claimName(ctx context.Context, wc *config.Watch, tgt targets.Target, f *targets.File) error {
	k, ok := tgt.(targets.NameKeyer)
	if !ok {
		return nil
	}
	f.Names = d.q.Names(wc.Target)
	key, err := k.NameKey(f, f.Name())
	if err != nil {
		return err
	}
	d.claimMu.Lock()
	defer d.claimMu.Unlock()
	watch, rel, found, err := d.q.NameOwner(ctx, wc.Target, key)
	if err != nil {
		return err
	}
	if found && (watch != f.Watch || rel != f.Rel) && d.exists(watch, rel) {
		if wc.OnConflict == config.OnConflictRename {
			return nil // the adapter takes the next free name
		}
		other := rel
		if watch != f.Watch {
			other = filepath.Join(watch, filepath.FromSlash(rel))
		}
		return targets.Errorf(targets.Permanent, wc.Target+": remote name",
			"%s and %s meet at one remote name, compared by the server as %q (it ignores case and replaces some characters); %s keeps it: rename one of them, or set on_conflict: rename to upload %s under the next free name(N)",
			f.Rel, other, key, other, f.Rel)
	}
	return d.q.ClaimName(ctx, wc.Target, key, f.Watch, f.Rel)
}

// recordName records the remote name a delivery of f ended up under.
func (d *Daemon) recordName(ctx context.Context, wc *config.Watch, tgt targets.Target, f *targets.File, r targets.Remote) error {
	k, ok := tgt.(targets.NameKeyer)
	if !ok || r.Name == "" {
		return nil
	}
	key, err := k.NameKey(f, r.Name)
	if err != nil {
		return err
	}
	d.claimMu.Lock()
	defer d.claimMu.Unlock()
	return d.q.ClaimName(ctx, wc.Target, key, f.Watch, f.Rel)
}

// exists reports whether the local path rel of a configured watch exists.
func (d *Daemon) exists(watch, rel string) bool {
	if _, ok := d.watches[watch]; !ok {
		return false
	}
	fi, err := os.Lstat(filepath.Join(watch, filepath.FromSlash(rel)))
	return err == nil && !fi.IsDir()
}
