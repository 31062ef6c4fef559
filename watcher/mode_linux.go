package watcher

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// statfs is unix.Statfs; tests replace it.
var statfs = unix.Statfs

// remoteFS names the f_type magic numbers (linux/magic.h) of network and
// FUSE file systems.
var remoteFS = map[uint32]string{
	0x6969:     "nfs",
	0x517b:     "smb",
	0xff534d42: "cifs",
	0xfe534d42: "smb2",
	0x01021997: "9p",
	0x65735546: "fuse",
	0x00c36400: "ceph",
	0x5346414f: "afs",
	0x6b414653: "kafs",
	0x73757245: "coda",
	0x564c:     "ncp",
	0x47504653: "gpfs",
	0x0bd00bd0: "lustre",
	0x013111a8: "ibrix",
}

// localFS names common local file systems, for the log.
var localFS = map[uint32]string{
	0xef53:     "ext4",
	0x58465342: "xfs",
	0x9123683e: "btrfs",
	0x01021994: "tmpfs",
	0x794c7630: "overlayfs",
	0x2fc12fc1: "zfs",
	0x4d44:     "vfat",
	0x5346544e: "ntfs",
	0x7366746e: "ntfs3",
	0xf2f52010: "f2fs",
	0x3153464a: "jfs",
	0x52654973: "reiserfs",
	0x2011bab0: "exfat",
}

func fsType(root string) (name string, remote bool, err error) {
	var st unix.Statfs_t
	if err := statfs(root, &st); err != nil {
		return "", false, err
	}
	t := uint32(st.Type)
	if n, ok := remoteFS[t]; ok {
		return n, true, nil
	}
	if n, ok := localFS[t]; ok {
		return n, false, nil
	}
	return fmt.Sprintf("file system 0x%x", t), false, nil
}
