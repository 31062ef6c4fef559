package config

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dropsync/dropsync/internal/lookup"
)

// Looking at the folders of a configuration.
//
// On a hard network mount whose server is gone a stat blocks in the
// kernel, where nothing interrupts it, and a configuration names its
// folders on such mounts. Invariants:
//   - Every look a load needs (the stat of each watch folder; the symbolic
//     links of each watch, move_to, failed_to and state_dir resolved) is
//     started at once, and the load waits for all of them together at
//     most pathWait: folders on one dead share cost one wait, not one
//     each.
//   - A folder that has not answered by then is taken as not there yet: a
//     watch waits for its folder (as for a share not mounted at boot),
//     with a warning, and a path not resolved is compared as written.
//   - A look still running is shared (package lookup): a later load that
//     needs it waits on it instead of starting another, for a while that
//     doubles with each look of that path still running, so a folder that
//     hangs holds a few goroutines (each with its thread blocked in the
//     kernel) however often the configuration is loaded, and a path that
//     answers again (the dead mount detached) is seen. A look that ended
//     is forgotten: the next load looks again.

// pathWait bounds the wait for the looks of one load.
var pathWait = 10 * time.Second

// looks are the looks under way, by kind and path (see package lookup).
var looks = &lookup.Calls{Max: time.Hour}

func statLook(p string) *lookup.Call {
	return looks.Start("stat\x00"+p, pathWait, func() (any, error) { return os.Stat(p) })
}

func resolveLook(p string) *lookup.Call {
	return looks.Start("resolve\x00"+p, pathWait, func() (any, error) { return resolve(p), nil })
}

// paths is what the looks of one load found.
type paths struct {
	stats    map[string]*lookup.Call
	resolved map[string]*lookup.Call
}

// lookAtPaths starts every look of c's folders (stats only when
// checkPaths) and waits for them at most pathWait in all.
func (c *Config) lookAtPaths(checkPaths bool) paths {
	ps := paths{stats: map[string]*lookup.Call{}, resolved: map[string]*lookup.Call{}}
	add := func(p string) {
		if p = filepath.Clean(p); ps.resolved[p] == nil {
			ps.resolved[p] = resolveLook(p)
		}
	}
	for _, w := range c.Watches {
		if checkPaths {
			ps.stats[w.Path] = statLook(w.Path)
		}
		add(w.Path)
		if w.MoveTo != "" {
			add(w.MoveTo)
		}
		if w.FailedTo != "" {
			add(w.FailedTo)
		}
	}
	add(c.StateDir)
	t := time.NewTimer(pathWait)
	defer t.Stop()
	for _, m := range []map[string]*lookup.Call{ps.stats, ps.resolved} {
		for _, l := range m {
			select {
			case <-l.Done():
			case <-t.C:
				return ps // the rest are read as they are now
			}
		}
	}
	return ps
}

// stat is the stat of p; ok is false when it has not answered.
func (ps paths) stat(p string) (fi os.FileInfo, err error, ok bool) {
	l := ps.stats[p]
	if l == nil || !l.Answered() {
		return nil, nil, false
	}
	fi, _ = l.Value.(os.FileInfo)
	return fi, l.Err, true
}

// resolvedPath is p with its links resolved, or p cleaned when that look
// has not answered (or was not made).
func (ps paths) resolvedPath(p string) string {
	p = filepath.Clean(p)
	if l := ps.resolved[p]; l != nil && l.Answered() {
		return l.Value.(string)
	}
	return p
}

// within reports whether path p is root or lies below it, also through
// symbolic links (a watch that is a link into another watch, a state_dir
// reached through one).
func (ps paths) within(p, root string) bool {
	p, root = ps.resolvedPath(p), ps.resolvedPath(root)
	if p == root {
		return true
	}
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// resolve is p, cleaned, with the symbolic links of its longest existing
// part resolved (the rest, not there yet, is kept as it is).
func resolve(p string) string {
	rest := ""
	for cur := p; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}
