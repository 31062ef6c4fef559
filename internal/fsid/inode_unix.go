//go:build !windows

package fsid

import (
	"os"
	"syscall"
)

func fill(fp *Fingerprint, fi os.FileInfo) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		fp.Inode, fp.Dev, fp.CTime = uint64(st.Ino), uint64(st.Dev), ctime(st)
	}
}
