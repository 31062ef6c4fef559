//go:build !linux

package watcher

// subscribeMounts: mount table changes are not watched here; watchers
// check their root every rootProbe.
func subscribeMounts() (ch <-chan struct{}, cancel func(), ok bool) {
	return nil, func() {}, false
}

// mountPoints: the mount table is not read here; only folders that were
// mount points are checked.
func mountPoints() ([]string, error) { return nil, nil }
