//go:build windows

package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
	deadline := time.Now().Add(inspectorWait)
	wait := time.Millisecond
	for {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && os.IsExist(err) {
			if rerr := os.Remove(p); rerr != nil {
				return nil, fmt.Errorf("state dir %s is in use by another dropsync process: %w", dir, rerr)
			}
			f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		}
		if err == nil {
			return func() { f.Close(); os.Remove(p) }, nil
		}
		// An inspector (Running) has the file open, sharing its deletion:
		// the removal above succeeded, and the name stays taken (delete
		// pending) until the inspector closes it, a moment later.
		if !errors.Is(err, windows.ERROR_ACCESS_DENIED) && !os.IsExist(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("lock state dir: %w", err)
		}
		time.Sleep(wait) // a retry's pause, not synchronisation: the holder is another process
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// inspectorWait bounds how long a starting daemon waits for an inspector
// (Running) to close the lock file.
const inspectorWait = 2 * time.Second

// openToInspect opens the lock file as Running does: asking for DELETE
// access, which a daemon's handle (it shares reading and writing, not
// deletion) refuses with a sharing violation, and sharing everything
// itself, so that a daemon starting meanwhile can remove it.
func openToInspect(p string) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(p)
	if err != nil {
		return 0, err
	}
	return windows.CreateFile(name, windows.DELETE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
}

// Running reports whether a daemon holds the state directory's lock: the
// daemon keeps the lock file open without sharing its deletion, so opening
// it for deletion (openToInspect) fails with a sharing violation while it
// runs. The inspector's own handle shares everything: a daemon starting
// at that moment is not refused (it waits, see lockStateDir). known is
// false when that cannot be told (no access).
func Running(dir string) (running, known bool) {
	h, err := openToInspect(filepath.Join(dir, queue.LockFileName))
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
