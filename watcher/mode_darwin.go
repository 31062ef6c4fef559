package watcher

import (
	"strings"

	"golang.org/x/sys/unix"
)

// statfs is unix.Statfs; tests replace it.
var statfs = unix.Statfs

func fsType(root string) (name string, remote bool, err error) {
	var st unix.Statfs_t
	if err := statfs(root, &st); err != nil {
		return "", false, err
	}
	name = unix.ByteSliceToString(st.Fstypename[:])
	switch {
	case st.Flags&unix.MNT_LOCAL == 0, strings.Contains(name, "fuse"):
		return name, true, nil
	}
	switch name {
	case "nfs", "smbfs", "afpfs", "webdav", "cifs":
		return name, true, nil
	}
	return name, false, nil
}
