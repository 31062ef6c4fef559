//go:build !windows

package watcher

import (
	"errors"
	"path/filepath"
	"syscall"
)

// rootStat is what identifies the watched root: its device and inode, and
// whether it is a mount point (on another device than its parent).
type rootStat struct {
	dev, ino uint64
	mount    bool
}

func statRoot(root string) (rootStat, error) {
	var st, parent syscall.Stat_t
	if err := syscall.Stat(root, &st); err != nil {
		return rootStat{}, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return rootStat{}, errors.New("not a directory")
	}
	id := rootStat{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	if err := syscall.Stat(filepath.Dir(root), &parent); err == nil {
		id.mount = parent.Dev != st.Dev
	}
	return id, nil
}
