//go:build !linux && !windows

package safefs

// pathOnly: O_PATH is Linux's; a lookup-only folder is opened for reading.
const pathOnly = 0

// openBeneath walks the components with O_NOFOLLOW: openat2 is Linux's.
func openBeneath(fd int, _ string, parts []string, flags int) (int, error) {
	return walk(fd, parts, flags)
}

// renameNoReplace renames by link and unlink, which never replaces.
func renameNoReplace(ofd int, old string, nfd int, new string) error {
	return linkRename(ofd, old, nfd, new)
}
