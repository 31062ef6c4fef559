//go:build windows

package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

const isWindows = true

// Dir is a folder below a root. Windows has no openat: every component is
// checked with Lstat (no symlink, no junction) when the Dir is opened, and
// operations use paths below it.
type Dir struct {
	name string
	list *os.File // opened by ReadDir
}

// openLookupDir is OpenDir for a Dir that only looks names up; see the
// Unix version.
func openLookupDir(root, rel string) (*Dir, error) { return OpenDir(root, rel) }

// OpenDir opens the folder rel below root, refusing a symlink or junction
// in any component of rel.
func OpenDir(root, rel string) (*Dir, error) {
	parts, err := components(rel)
	if err != nil {
		return nil, err
	}
	cur := root
	if fi, err := os.Stat(root); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open %s: %w", root, ErrOutside)
	}
	for _, p := range parts {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() || fi.Mode()&(os.ModeSymlink|os.ModeIrregular) != 0 {
			return nil, fmt.Errorf("open %s: %w", cur, ErrOutside)
		}
	}
	return &Dir{name: cur}, nil
}

// Name is the folder's path, for messages.
func (d *Dir) Name() string { return d.name }

// Close releases the folder.
func (d *Dir) Close() error {
	if d.list != nil {
		return d.list.Close()
	}
	return nil
}

// ReadDir reads the folder's entries as (*os.File).ReadDir does; see the
// Unix version.
func (d *Dir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.list == nil {
		f, err := os.Open(d.name)
		if err != nil {
			return nil, err
		}
		d.list = f
	}
	return d.list.ReadDir(n)
}

// Stat returns the information of name, following a final symlink only
// with follow.
func (d *Dir) Stat(name string, follow bool) (fs.FileInfo, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if follow {
		return os.Stat(filepath.Join(d.name, name))
	}
	return os.Lstat(filepath.Join(d.name, name))
}

// Open opens the regular file name for reading; see the Unix version.
func (d *Dir) Open(name string, follow bool) (*os.File, error) {
	f, _, err := d.OpenStat(name, follow)
	return f, err
}

// OpenStat is Open, and returns the handle's stat information too.
func (d *Dir) OpenStat(name string, follow bool) (*os.File, fs.FileInfo, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	p := filepath.Join(d.name, name)
	if !follow {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, nil, err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return nil, nil, fmt.Errorf("open %s: %w (a symlink)", p, ErrNotRegular)
		}
	}
	f, err := openShareDelete(p)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("open %s: %w", p, ErrNotRegular)
		}
		return nil, nil, err
	}
	return f, fi, nil
}

// openShareDelete opens p for reading, sharing reading, writing and
// deletion (os.Open does not share deletion): a file the daemon holds open
// can be renamed and removed (staging, moves), as on Unix.
func openShareDelete(p string) (*os.File, error) {
	name, err := windows.UTF16PtrFromString(p)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	h, err := windows.CreateFile(name, windows.GENERIC_READ, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(h), p), nil
}

// Rename renames without replacing: MoveFileEx without
// MOVEFILE_REPLACE_EXISTING, one step that fails if new exists (os.Rename
// replaces). A file open elsewhere without shared deletion cannot be
// renamed; one the daemon opened (openShareDelete) can. Across volumes it
// fails with ERROR_NOT_SAME_DEVICE (crossDevice).
func (d *Dir) Rename(old string, to *Dir, new string) error {
	if err := checkName(old); err != nil {
		return err
	}
	if err := checkName(new); err != nil {
		return err
	}
	o, n := filepath.Join(d.name, old), filepath.Join(to.name, new)
	from, err := windows.UTF16PtrFromString(o)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: o, New: n, Err: err}
	}
	dest, err := windows.UTF16PtrFromString(n)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: o, New: n, Err: err}
	}
	if err := windows.MoveFileEx(from, dest, 0); err != nil {
		if errors.Is(err, windows.ERROR_ALREADY_EXISTS) || errors.Is(err, windows.ERROR_FILE_EXISTS) {
			err = fs.ErrExist
		}
		return &os.LinkError{Op: "rename", Old: o, New: n, Err: err}
	}
	return nil
}

// errNotSameDevice is ERROR_NOT_SAME_DEVICE.
const errNotSameDevice = syscall.Errno(17)

func crossDevice(err error) bool { return errors.Is(err, errNotSameDevice) }

// Remove removes name.
func (d *Dir) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return os.Remove(filepath.Join(d.name, name))
}

// Sync is a no-op: Windows cannot flush a folder.
func (d *Dir) Sync() error { return nil }

// Create creates name for writing; it fails if name exists.
func (d *Dir) Create(name string) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(d.name, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// Chtimes sets the access and modification times of name.
func (d *Dir) Chtimes(name string, t time.Time) error {
	return os.Chtimes(filepath.Join(d.name, name), t, t)
}

// Mkdir opens the sub-folder name, creating it if missing.
func (d *Dir) Mkdir(name string) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	p := filepath.Join(d.name, name)
	if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() || fi.Mode()&(os.ModeSymlink|os.ModeIrregular) != 0 {
		return nil, fmt.Errorf("open %s: %w", p, ErrOutside)
	}
	return &Dir{name: p}, nil
}

// SameFolder reports whether d and o name the same folder. A Dir on
// Windows is its path: every operation goes to what is there now.
func (d *Dir) SameFolder(o *Dir) (bool, error) {
	return strings.EqualFold(filepath.Clean(d.name), filepath.Clean(o.name)), nil
}

// Ident returns 0, 0 on Windows, where the fingerprint has no inode
// either; it fails if name is missing.
func (d *Dir) Ident(name string, follow bool) (inode, dev uint64, err error) {
	if err := checkName(name); err != nil {
		return 0, 0, err
	}
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	_, err = stat(filepath.Join(d.name, name))
	return 0, 0, err
}
