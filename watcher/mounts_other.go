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

// mountTable: mount table changes are not seen here; the device rule
// alone keeps a walk from sweeping a share that went away.
type mountTable struct{}

func takeMountTable() mountTable { return mountTable{} }
func (mountTable) changed() bool { return false }
func (mountTable) close()        {}
