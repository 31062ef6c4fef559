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
//
// The lock is a flock on the directory itself, which cannot be removed
// while it holds the database, and on the lock file (which daemons before
// the directory lock took alone). A lock on the file alone was lost with
// the file: a tmp cleaner or an operator tidying the directory removed
// it, and a second daemon locked a new one and shared the queue.
func lockStateDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	p := filepath.Join(dir, queue.LockFileName)
	inUse := func(err error) error {
		holder := ""
		if b, rerr := os.ReadFile(p); rerr == nil {
			if pid, aerr := strconv.Atoi(strings.TrimSpace(string(b))); aerr == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		return fmt.Errorf("state dir %s is in use by another dropsync process%s (lock %s): %w", dir, holder, p, err)
	}
	df, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := syscall.Flock(int(df.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		df.Close()
		return nil, inUse(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		df.Close()
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		df.Close()
		return nil, inUse(err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close(); df.Close() }, nil
}

// Running reports whether a daemon holds the state directory's lock (on
// the directory, or on its lock file); known is false when that cannot be
// told.
func Running(dir string) (running, known bool) {
	known = true
	for _, p := range []string{dir, filepath.Join(dir, queue.LockFileName)} {
		f, err := os.Open(p)
		if err != nil {
			known = known && os.IsNotExist(err)
			continue
		}
		held := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
		if !held {
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
		f.Close()
		if held {
			return true, true
		}
	}
	return false, known
}
