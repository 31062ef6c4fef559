//go:build windows

package daemon

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dropsync/dropsync/queue"
)

// lockStateDir keeps a lock file open exclusively so that two daemons
// never share one queue (Windows refuses a second exclusive open).
func lockStateDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	p := filepath.Join(dir, queue.LockFileName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil && os.IsExist(err) {
		if rerr := os.Remove(p); rerr != nil {
			return nil, fmt.Errorf("state dir %s is in use by another dropsync process: %w", dir, rerr)
		}
		f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return func() { f.Close(); os.Remove(p) }, nil
}

// Running reports whether a daemon holds the state directory's lock; on
// Windows that cannot be told from outside, so known is false.
func Running(string) (running, known bool) { return false, false }
