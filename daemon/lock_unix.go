//go:build !windows

package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

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
//
// A daemon holds its locks exclusively; Running, which `status`, `queue`
// and `target` ask, takes them shared for a moment. A lock held shared
// only is therefore an inspector's, and the daemon tries again for a
// while (lockExclusive) instead of refusing to start.
func lockStateDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	p := filepath.Join(dir, queue.LockFileName)
	failed := func(what string, err error) error {
		if !errors.Is(err, errLockHeld) {
			return fmt.Errorf("lock state dir: flock %s: %w (the file system may not support locks)", what, err)
		}
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
	if err := lockExclusive(df); err != nil {
		df.Close()
		return nil, failed(dir, err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		df.Close()
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := lockExclusive(f); err != nil {
		f.Close()
		df.Close()
		return nil, failed(p, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close(); df.Close() }, nil
}

// flock is syscall.Flock; tests replace it.
var flock = syscall.Flock

// errLockHeld is a lock another process holds exclusively: a daemon.
var errLockHeld = errors.New("locked by another process")

// inspectorWait bounds how long lockExclusive waits for inspectors (shared
// holders) to let go: each holds the lock for the time of two system calls,
// so only one stuck or stopped (SIGSTOP) for longer makes a start fail.
const inspectorWait = 2 * time.Second

// lockExclusive takes f's flock exclusively. When the lock is held only
// shared (Running, for a moment), it tries again, with waits growing from
// 1ms to 50ms, for up to inspectorWait. When it is held exclusively (a
// daemon), it fails at once with errLockHeld; any other error of flock
// (ENOLCK on some network file systems) is returned as it is.
func lockExclusive(f *os.File) error {
	fd := int(f.Fd())
	deadline := time.Now().Add(inspectorWait)
	wait := time.Millisecond
	for {
		err := flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		// Held: exclusively (a daemon) or shared (inspectors)?
		switch err := flock(fd, syscall.LOCK_SH|syscall.LOCK_NB); {
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errLockHeld
		case err != nil:
			return err
		}
		flock(fd, syscall.LOCK_UN)
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: held shared (by `dropsync status` or another inspector) for over %s", errLockHeld, inspectorWait)
		}
		time.Sleep(wait) // a retry's pause, not synchronisation: the holder is another process
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Running reports whether a daemon holds the state directory's lock (on
// the directory, or on its lock file); known is false when that cannot be
// told. It tests with a shared lock, which only an exclusive holder (a
// daemon) refuses and which never makes a daemon's start fail (see
// lockExclusive).
func Running(dir string) (running, known bool) {
	known = true
	for _, p := range []string{dir, filepath.Join(dir, queue.LockFileName)} {
		f, err := os.Open(p)
		if err != nil {
			known = known && os.IsNotExist(err)
			continue
		}
		err = flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			flock(int(f.Fd()), syscall.LOCK_UN)
		}
		f.Close()
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			return true, true
		case err != nil:
			known = false // ENOLCK and the like: cannot tell
		}
	}
	return false, known
}
