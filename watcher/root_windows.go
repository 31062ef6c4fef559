package watcher

import (
	"errors"
	"os"
)

// rootStat is what identifies the watched root. Windows gives no device
// and inode through os.Stat: only presence is checked there.
type rootStat struct {
	dev, ino uint64
	mount    bool
}

func statRoot(root string) (rootStat, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return rootStat{}, err
	}
	if !fi.IsDir() {
		return rootStat{}, errors.New("not a directory")
	}
	return rootStat{}, nil
}
