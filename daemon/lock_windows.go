//go:build windows

package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"

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

// Running reports whether a daemon holds the state directory's lock: the
// daemon keeps the lock file open, so opening it with no sharing fails with
// a sharing violation while it runs. known is false when that cannot be
// told (no access).
func Running(dir string) (running, known bool) {
	name, err := windows.UTF16PtrFromString(filepath.Join(dir, queue.LockFileName))
	if err != nil {
		return false, false
	}
	h, err := windows.CreateFile(name, windows.GENERIC_READ, 0, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	switch {
	case err == nil:
		windows.CloseHandle(h) // a lock file left by a crash: nobody holds it
		return false, true
	case errors.Is(err, windows.ERROR_FILE_NOT_FOUND), errors.Is(err, windows.ERROR_PATH_NOT_FOUND):
		return false, true
	case errors.Is(err, windows.ERROR_SHARING_VIOLATION):
		return true, true
	}
	return false, false
}
