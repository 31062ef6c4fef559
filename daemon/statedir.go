package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/dropsync/dropsync/queue"
)

// prepareStateDir creates the state directory 0700, or tightens an
// existing one (and the database files in it) to 0700/0600: the database
// holds remote ids and paths others need not see. A directory that cannot
// be tightened is refused with the one line that says what to do.
func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state_dir %s: %w", dir, err)
	}
	if runtime.GOOS == "windows" {
		return nil // access is the folder's ACL, not its mode bits
	}
	if err := tighten(dir, 0o700, os.Stat); err != nil { // a state_dir may be a link to the real folder
		return fmt.Errorf("state_dir %s: %w: chown it to the user dropsync runs as, or chmod 700 it", dir, err)
	}
	for _, name := range []string{queue.FileName, queue.FileName + "-wal", queue.FileName + "-shm", queue.LockFileName} {
		if err := tighten(filepath.Join(dir, name), 0o600, os.Lstat); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("state_dir %s: %s: %w: chown it to the user dropsync runs as, or chmod 600 it", dir, name, err)
		}
	}
	return nil
}

// tighten removes every permission beyond want from path, as stat sees it.
func tighten(path string, want fs.FileMode, stat func(string) (fs.FileInfo, error)) error {
	fi, err := stat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return errors.New("a symbolic link")
	}
	perm := fi.Mode().Perm()
	if perm&^want == 0 {
		return nil
	}
	if err := os.Chmod(path, perm&want); err != nil {
		return fmt.Errorf("mode %#o cannot be tightened to %#o (%w)", perm, perm&want, unwrapPath(err))
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
