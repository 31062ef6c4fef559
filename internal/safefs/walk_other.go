//go:build !linux && !windows

package safefs

// openBeneath walks the components with O_NOFOLLOW: openat2 is Linux's.
func openBeneath(fd int, _ string, parts []string) (int, error) { return walk(fd, parts) }

// renameNoReplace renames by link and unlink, which never replaces.
func renameNoReplace(ofd int, old string, nfd int, new string) error {
	return linkRename(ofd, old, nfd, new)
}
