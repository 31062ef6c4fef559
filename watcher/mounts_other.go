//go:build !linux

package watcher

// subscribeMounts: mount table changes are not watched here; watchers
// check their root every rootProbe.
func subscribeMounts() (ch <-chan struct{}, cancel func(), ok bool) {
	return nil, func() {}, false
}
