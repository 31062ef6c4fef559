//go:build !windows

package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/dropsync/dropsync/queue"
)

// lockStateDir takes an exclusive lock on the state directory so that two
// daemons never share one queue, and writes the process id into the lock
// file, so that whoever finds the state directory (or its database) busy
// can say which process holds it. The lock dies with the process.
func lockStateDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	p := filepath.Join(dir, queue.LockFileName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		holder := ""
		if b, rerr := os.ReadFile(p); rerr == nil {
			if pid, aerr := strconv.Atoi(strings.TrimSpace(string(b))); aerr == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		return nil, fmt.Errorf("state dir %s is in use by another dropsync process%s (lock %s): %w", dir, holder, p, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

// Running reports whether a daemon holds the state directory's lock; known
// is false when that cannot be told.
func Running(dir string) (running, known bool) {
	f, err := os.Open(filepath.Join(dir, queue.LockFileName))
	if err != nil {
		return false, os.IsNotExist(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true, true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, true
}
