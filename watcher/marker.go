package watcher

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/dropsync/dropsync/internal/safefs"
)

// Marker is a parsed ready_marker: "{name}.done"-style (any pattern with
// one {name}: a file waits for its own marker beside it) or "{dir}/NAME"
// (every file of a folder waits for NAME in that folder). The zero Marker
// is none: every file is ready.
type Marker struct {
	prefix, suffix string // per file: prefix + base name + suffix
	dirName        string // per folder
}

// ParseMarker parses a ready_marker pattern; "" is none.
func ParseMarker(s string) (Marker, error) {
	if s == "" {
		return Marker{}, nil
	}
	bad := fmt.Errorf("ready_marker %q: use a pattern with {name} (e.g. \"{name}.done\") or \"{dir}/NAME\" (e.g. \"{dir}/.ready\")", s)
	if name, ok := strings.CutPrefix(s, "{dir}/"); ok {
		if name == "" || strings.ContainsAny(name, `/\{}`) || name == "." || name == ".." {
			return Marker{}, bad
		}
		return Marker{dirName: name}, nil
	}
	prefix, suffix, ok := strings.Cut(s, "{name}")
	if !ok || prefix+suffix == "" || strings.ContainsAny(prefix+suffix, `/\{}`) {
		return Marker{}, bad
	}
	return Marker{prefix: prefix, suffix: suffix}, nil
}

// None reports whether there is no marker.
func (m Marker) None() bool { return m == Marker{} }

// PerFolder reports whether the marker is one per folder ({dir}/NAME).
func (m Marker) PerFolder() bool { return m.dirName != "" }

// Is reports whether a file with this base name is a marker.
func (m Marker) Is(base string) bool {
	switch {
	case m.dirName != "":
		return base == m.dirName
	case m.None():
		return false
	}
	return len(base) > len(m.prefix)+len(m.suffix) && strings.HasPrefix(base, m.prefix) && strings.HasSuffix(base, m.suffix)
}

// For returns the marker the file at p waits for ("" when none).
func (m Marker) For(p string) string {
	switch {
	case m.dirName != "":
		return filepath.Join(filepath.Dir(p), m.dirName)
	case m.None():
		return ""
	}
	return filepath.Join(filepath.Dir(p), m.prefix+filepath.Base(p)+m.suffix)
}

// markerReady reports whether the file rel may go: its marker exists
// beneath the root (one behind a folder swapped for a symlink does not).
func (w *Watcher) markerReady(rel string) bool {
	mp := w.marker.For(rel)
	if mp == "" {
		return true
	}
	_, err := safefs.Stat(w.o.Root, filepath.ToSlash(mp), false)
	return err == nil
}

// markerSeen notes the files a marker that just appeared releases: its
// file, or every file of its folder.
func (w *Watcher) markerSeen(rel string, gone bool) {
	base := path.Base(rel)
	if gone || !w.marker.Is(base) {
		return
	}
	dir := path.Dir(rel)
	defer w.stampFiles()()
	if w.marker.PerFolder() {
		d, err := safefs.OpenDir(w.o.Root, beneath(dir))
		if err != nil {
			return
		}
		ents, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return
		}
		for _, e := range ents {
			if !e.IsDir() {
				w.noteExisting(path.Join(dir, e.Name()))
			}
		}
		return
	}
	w.noteExisting(path.Join(dir, base[len(w.marker.prefix):len(base)-len(w.marker.suffix)]))
}

// noteExisting notes rel if it is a wanted file that exists.
func (w *Watcher) noteExisting(rel string) {
	if !w.wanted(rel) {
		return
	}
	_, fi, err := w.stat(rel)
	if err != nil {
		if !missing(err) {
			w.reportOnce(w.abs(rel), err)
		}
		return
	}
	w.noteSeen(rel, false, fi)
}
