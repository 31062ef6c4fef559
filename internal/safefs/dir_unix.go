//go:build !windows

package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

const isWindows = false

// Dir is an open folder below a root; its operations are relative to its
// descriptor. It is not safe for concurrent Close.
type Dir struct {
	fd   int
	name string   // for messages
	list *os.File // owns fd once ReadDir was called
}

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC

// OpenDir opens the folder rel (slash-separated, "" for root itself) below
// root without following a symlink in any component of rel.
func OpenDir(root, rel string) (*Dir, error) { return openDir(root, rel, dirFlags) }

// openLookupDir is OpenDir for a Dir that only looks names up (Stat,
// Ident, Open): on Linux it is an O_PATH handle, which costs the kernel
// less to open and close than a readable one; ReadDir and Sync fail on it.
func openLookupDir(root, rel string) (*Dir, error) { return openDir(root, rel, dirFlags|pathOnly) }

// openDir opens rel below root with flags. The root, when rel is below it,
// is only the base of that lookup, and is opened as a path (pathOnly).
func openDir(root, rel string, flags int) (*Dir, error) {
	parts, err := components(rel)
	if err != nil {
		return nil, err
	}
	rflags := flags
	if len(parts) > 0 {
		rflags = dirFlags | pathOnly
	}
	rfd, err := retry(func() (int, error) { return unix.Open(root, rflags, 0) })
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	if len(parts) == 0 {
		return &Dir{fd: rfd, name: root}, nil
	}
	fd, err := openBeneath(rfd, rel, parts, flags)
	unix.Close(rfd)
	if err != nil {
		return nil, pathErr("open", path.Join(root, rel), err)
	}
	return &Dir{fd: fd, name: path.Join(root, rel)}, nil
}

// walk opens parts below fd one component at a time with O_NOFOLLOW, the
// last with flags: the fallback where openat2 is missing. fd stays open.
func walk(fd int, parts []string, flags int) (int, error) {
	cur := fd
	for i, p := range parts {
		f := dirFlags | pathOnly
		if i == len(parts)-1 {
			f = flags
		}
		next, err := retry(func() (int, error) { return unix.Openat(cur, p, f|unix.O_NOFOLLOW, 0) })
		if cur != fd {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return cur, nil
}

// pathErr wraps an errno, turning a symlink or an escape into ErrOutside.
func pathErr(op, p string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%s %s: %w (%v)", op, p, ErrOutside, err)
	}
	return &os.PathError{Op: op, Path: p, Err: err}
}

func retry(f func() (int, error)) (int, error) {
	for {
		fd, err := f()
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// Name is the folder's path, for messages.
func (d *Dir) Name() string { return d.name }

// Close closes the folder.
func (d *Dir) Close() error {
	if d.list != nil {
		return d.list.Close()
	}
	return unix.Close(d.fd)
}

// ReadDir reads the folder's entries as (*os.File).ReadDir does: at most n
// per call (all with n <= 0), io.EOF at the end. The entries are those of
// the folder d holds open, wherever its path points now; an entry's Info
// goes by path, so use Stat for it.
func (d *Dir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.list == nil {
		d.list = os.NewFile(uintptr(d.fd), d.name)
	}
	return d.list.ReadDir(n)
}

// Stat returns the information of name in the folder, without following a
// final symlink unless follow is set (what a followed link points to may
// lie anywhere). Its Sys is a *syscall.Stat_t, as os gives.
func (d *Dir) Stat(name string, follow bool) (fs.FileInfo, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	fi := &fileInfo{name: name}
	if err := unix.Fstatat(d.fd, name, &fi.st, flags); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path.Join(d.name, name), Err: err}
	}
	return fi, nil
}

// Open opens the regular file name for reading, without blocking and, unless
// follow is set, without following a symlink. It fails with ErrNotRegular
// when fstat says the handle is not a regular file.
func (d *Dir) Open(name string, follow bool) (*os.File, error) {
	f, _, err := d.OpenStat(name, follow)
	return f, err
}

// OpenStat is Open, and returns the handle's fstat information too.
func (d *Dir) OpenStat(name string, follow bool) (*os.File, fs.FileInfo, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	p := path.Join(d.name, name)
	// A first look without opening: a device or FIFO is never opened at
	// all in the common case (fstat below catches one swapped in since).
	var st unix.Stat_t
	atFlags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		atFlags = 0
	}
	if err := unix.Fstatat(d.fd, name, &st, atFlags); err != nil {
		return nil, nil, &os.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil, nil, fmt.Errorf("open %s: %w (a symlink)", p, ErrNotRegular)
		}
		return nil, nil, fmt.Errorf("open %s: %w", p, ErrNotRegular)
	}
	fd, err := retry(func() (int, error) { return unix.Openat(d.fd, name, flags, 0) })
	if errors.Is(err, unix.ELOOP) {
		return nil, nil, fmt.Errorf("open %s: %w (a symlink)", p, ErrNotRegular)
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, nil, fmt.Errorf("open %s: %w (it holds a lease)", p, ErrBusy)
	}
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("open %s: %w (%s)", p, ErrNotRegular, fi.Mode().Type())
	}
	return f, fi, nil
}

// Rename renames old in d to new in to, failing with an error matching
// fs.ErrExist if new exists: it never replaces a file.
func (d *Dir) Rename(old string, to *Dir, new string) error {
	if err := checkName(old); err != nil {
		return err
	}
	if err := checkName(new); err != nil {
		return err
	}
	if err := renameNoReplace(d.fd, old, to.fd, new); err != nil {
		return &os.LinkError{Op: "rename", Old: path.Join(d.name, old), New: path.Join(to.name, new), Err: err}
	}
	return nil
}

// linkRename renames by link and unlink, which never replaces a file; on a
// file system without hard links it checks, then renames.
func linkRename(ofd int, old string, nfd int, new string) error {
	err := unix.Linkat(ofd, old, nfd, new, 0)
	switch {
	case err == nil:
		return unix.Unlinkat(ofd, old, 0)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EMLINK):
		var st unix.Stat_t
		if err := unix.Fstatat(nfd, new, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
			return unix.EEXIST
		}
		return unix.Renameat(ofd, old, nfd, new)
	default:
		return err
	}
}

func crossDevice(err error) bool { return errors.Is(err, unix.EXDEV) }

// Remove unlinks name.
func (d *Dir) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return &os.PathError{Op: "remove", Path: path.Join(d.name, name), Err: err}
	}
	return nil
}

// Sync fsyncs the folder, making renames and new names in it durable.
func (d *Dir) Sync() error {
	if err := unix.Fsync(d.fd); err != nil {
		return &os.PathError{Op: "fsync", Path: d.name, Err: err}
	}
	return nil
}

// Create creates name (0600) for writing; it fails if name exists.
func (d *Dir) Create(name string) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	p := path.Join(d.name, name)
	fd, err := retry(func() (int, error) {
		return unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	})
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// Chtimes sets the access and modification times of name.
func (d *Dir) Chtimes(name string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	if err := unix.UtimesNanoAt(d.fd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chtimes", Path: path.Join(d.name, name), Err: err}
	}
	return nil
}

// Mkdir opens the sub-folder name, creating it (0700) if missing; a
// symlink there is refused.
func (d *Dir) Mkdir(name string) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	p := path.Join(d.name, name)
	if err := unix.Mkdirat(d.fd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mkdir", Path: p, Err: err}
	}
	fd, err := retry(func() (int, error) { return unix.Openat(d.fd, name, dirFlags|unix.O_NOFOLLOW, 0) })
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	return &Dir{fd: fd, name: p}, nil
}

// SameFolder reports whether d and o hold the same folder (device and
// inode of their descriptors): whether a folder opened earlier is still
// the one a fresh lookup finds, or was renamed away meanwhile.
func (d *Dir) SameFolder(o *Dir) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(d.fd, &a); err != nil {
		return false, &os.PathError{Op: "stat", Path: d.name, Err: err}
	}
	if err := unix.Fstat(o.fd, &b); err != nil {
		return false, &os.PathError{Op: "stat", Path: o.name, Err: err}
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// Ident returns the inode and device of name without opening it (an open
// would break the caller's own lease), following a final symlink only
// with follow.
func (d *Dir) Ident(name string, follow bool) (inode, dev uint64, err error) {
	if err := checkName(name); err != nil {
		return 0, 0, err
	}
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, flags); err != nil {
		return 0, 0, &os.PathError{Op: "stat", Path: path.Join(d.name, name), Err: err}
	}
	return uint64(st.Ino), uint64(st.Dev), nil
}
