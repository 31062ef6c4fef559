package safefs

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once openat2 turned out to be missing (kernels before
// 5.6, or a seccomp filter that refuses it).
var noOpenat2 atomic.Bool

// pathOnly opens a folder that only serves as the base of lookups
// (openat, fstatat, renameat) as a path: no read access is set up for it.
const pathOnly = unix.O_PATH

// openBeneath opens rel (split into parts) below fd with openat2 and
// flags, which refuses symlinks in every component and any escape from fd;
// where openat2 is missing, and for a rel longer than PATH_MAX (a deep
// tree, which openat2 refuses as a whole), it walks the components with
// O_NOFOLLOW, which holds the same confinement.
func openBeneath(fd int, rel string, parts []string, flags int) (int, error) {
	if !noOpenat2.Load() {
		how := unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
		nfd, err := retry(func() (int, error) { return unix.Openat2(fd, rel, &how) })
		switch {
		case errors.Is(err, unix.ENAMETOOLONG):
			return walk(fd, parts, flags) // each component is short enough
		case !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM):
			return nfd, err
		}
		noOpenat2.Store(true)
	}
	return walk(fd, parts, flags)
}

// renameNoReplace renames with RENAME_NOREPLACE, falling back to link and
// unlink where the file system does not support the flag.
func renameNoReplace(ofd int, old string, nfd int, new string) error {
	err := unix.Renameat2(ofd, old, nfd, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return linkRename(ofd, old, nfd, new)
	}
	return err
}
