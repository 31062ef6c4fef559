package watcher

import (
	"path"
	"strings"
)

// Covers returns the test of whether a watch with options o delivers the
// file at rel (slash-separated, below the root) by its name and place
// alone: include, exclude (also of a folder above it), ignore, recursive
// and the ready marker, as a scan with o decides. The daemon asks it of a
// job queued under other options (a reload changed them), so that a file
// the watch no longer covers is not sent.
func Covers(o Options) (func(rel string) bool, error) {
	m, err := ParseMarker(o.ReadyMarker)
	if err != nil {
		return nil, err
	}
	if len(o.Include) == 0 {
		o.Include = []string{"**"}
	}
	w := &Watcher{o: o, marker: m}
	return func(rel string) bool {
		if !o.Recursive && strings.Contains(rel, "/") {
			return false
		}
		for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
			if w.skipDir(d) {
				return false
			}
		}
		return w.wanted(rel)
	}, nil
}
