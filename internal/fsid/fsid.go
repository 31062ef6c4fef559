// Package fsid gives a file's identity as the watcher and the queue compare
// it: size, modification time and inode.
package fsid

import (
	"os"
	"time"
)

// Fingerprint identifies one state of a file's content. Two stats that give
// equal fingerprints mean the file did not change between them (as far as
// the file system can tell).
type Fingerprint struct {
	Size    int64
	ModTime int64 // Unix nanoseconds
	Inode   uint64
}

// Of returns the fingerprint of fi.
func Of(fi os.FileInfo) Fingerprint {
	return Fingerprint{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Inode: inode(fi)}
}

// Stat returns the fingerprint of the file at path, without following a
// final symlink.
func Stat(path string) (Fingerprint, os.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Fingerprint{}, nil, err
	}
	return Of(fi), fi, nil
}

// Time returns the modification time.
func (f Fingerprint) Time() time.Time { return time.Unix(0, f.ModTime) }
