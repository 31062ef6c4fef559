package daemon

import (
	"context"
	"path/filepath"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/safefs"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// Remote name claims. Per target folder, a remote name (after the server's
// folding and sanitising, as the adapter's targets.NameKeyer says) belongs
// to one local path at a time: the queue's remote_names table records the
// owner of every name dropsync delivered to. Before an upload the file's
// name key is locked in memory (one upload per remote name at a time) and
// its owner looked up: a second local path whose name meets one owned by
// a path that still exists fails permanently with both paths in the
// message, or, with on_conflict rename, is uploaded without claiming it so
// that the adapter takes the next free name(N).ext. An owner that no
// longer exists locally (deleted, moved away after its upload) passes the
// name on, and the upload becomes the next version of the same remote
// object. The delivery's outcome records, in the same transaction, the
// claimed name and the name the server actually gave, so adapters that
// pick free names without listing the server (Blueworks) know every name
// used.

// nameClaim is what checkName decided for one upload.
type nameClaim struct {
	keyer  targets.NameKeyer // nil: the target keys no names
	key    string            // the key of the file's own name
	own    bool              // the upload claims key
	unlock func()
}

// release lets the next upload of the same remote name go; it may be
// called more than once.
func (c *nameClaim) release() {
	if c.unlock != nil {
		c.unlock()
		c.unlock = nil
	}
}

// take hands the claim's lock to the caller (nil if none): a delivery
// whose outcome could not be written keeps its name until it is
// (strandedJob), whatever the runner's deferred release does.
func (c *nameClaim) take() func() {
	if c == nil {
		return nil
	}
	u := c.unlock
	c.unlock = nil
	return u
}

// keys are the remote name keys a delivery as r owns. The server's name
// is keyed only when it is not the file's own, which the claim keyed
// already (NameKey is a function of the file's destination and the name).
func (c *nameClaim) keys(f *targets.File, r targets.Remote) []string {
	if c.keyer == nil {
		return nil
	}
	var ks []string
	if c.own {
		ks = append(ks, c.key)
	}
	if r.Name != "" && !(c.own && r.Name == f.Name()) {
		if k, err := c.keyer.NameKey(f, r.Name); err == nil && (!c.own || k != c.key) {
			ks = append(ks, k)
		}
	}
	return ks
}

// checkName gives f the target's name book, takes the in-memory lock of
// f's remote name, and fails when another existing local path owns that
// name. The caller releases the claim once the outcome is recorded.
func (d *Daemon) checkName(ctx context.Context, j *queue.Job, wc *config.Watch, tgt targets.Target, f *targets.File) (*nameClaim, error) {
	k, ok := tgt.(targets.NameKeyer)
	if !ok {
		return &nameClaim{}, nil
	}
	f.Names = d.q.Names(wc.Target)
	key, err := k.NameKey(f, f.Name())
	if err != nil {
		return nil, err
	}
	unlock, err := d.claims.lock(ctx, wc.Target+"\x00"+key)
	if err != nil {
		return nil, err
	}
	c := &nameClaim{keyer: k, key: key, own: true, unlock: unlock}
	watch, rel, found, ok := d.q.ClaimedOwner(j, wc.Target, key)
	if !ok {
		if watch, rel, found, err = d.q.NameOwner(ctx, wc.Target, key); err != nil {
			c.release()
			return nil, err
		}
	}
	if !found || (watch == f.Watch && rel == f.Rel) || !d.exists(watch, rel) {
		return c, nil
	}
	if wc.OnConflict == config.OnConflictRename {
		c.own = false // the adapter takes the next free name
		return c, nil
	}
	c.release()
	other := rel
	if watch != f.Watch {
		other = filepath.Join(watch, filepath.FromSlash(rel))
	}
	why := "it ignores case and replaces some characters"
	if fl, ok := tgt.(targets.Flattener); ok && fl.FlatNames() {
		why = "it has no folders: a file is known by its base name"
	}
	return nil, targets.Errorf(targets.Permanent, wc.Target+": remote name",
		"%s and %s meet at one remote name, compared by the server as %q (%s); %s keeps it: rename one of them, or set on_conflict: rename to upload %s under the next free name(N)",
		f.Rel, other, key, why, other, f.Rel)
}

// claimKeys gives a claim on generation g the remote name key of each job
// it claims (queue.Want.NameKey), so that the claim reads the key's owner
// while the writer's pages are warm; checkName uses that reading if it
// still holds (queue.ClaimedOwner). It runs inside the claim's
// transaction: it takes no lock and asks nothing of the queue.
func claimKeys(g *generation) func(*queue.Job) (string, string, bool) {
	return func(j *queue.Job) (string, string, bool) {
		idx, ok := g.watches[j.Watch]
		if !ok || j.Gone {
			return "", "", false
		}
		wc := g.cfg.Watches[idx]
		k, ok := g.set.Targets[wc.Target].(targets.NameKeyer)
		if !ok {
			return "", "", false
		}
		f := targets.File{Watch: wc.Path, Rel: j.Rel, Dest: g.set.Dests[idx]}
		key, err := k.NameKey(&f, f.Name())
		if err != nil {
			return "", "", false
		}
		return wc.Target, key, true
	}
}

// exists reports whether the local path rel of a configured watch exists,
// resolved beneath the watch (safefs.Stat): behind a folder swapped for a
// symlink it does not, whatever lies where the link points.
func (d *Daemon) exists(watch, rel string) bool {
	if _, ok := d.current().watches[watch]; !ok {
		return false
	}
	fi, err := safefs.Stat(watch, rel, false)
	return err == nil && !fi.IsDir()
}
