// Package fsid gives a file's identity as the watcher, the queue and the
// workers compare it: size, modification time, inode, device and change
// time (ctime).
//
// The change time is what makes the fingerprint trustworthy: a rewrite
// that keeps size and mtime (rsync --inplace -t, cp -p onto an existing
// file, touch -r) or a file replaced by another of the same size and mtime
// still moves the ctime, which no user call can set back. Renaming a file
// moves its ctime too, so code that renames a file itself compares with
// SameContent, which leaves the ctime out.
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
	Dev     uint64
	CTime   int64 // change time, Unix nanoseconds; 0 where unknown
}

// Of returns the fingerprint of fi.
func Of(fi os.FileInfo) Fingerprint {
	fp := Fingerprint{Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	fill(&fp, fi)
	return fp
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

// SameFile reports whether f and g are the same inode on the same device.
func (f Fingerprint) SameFile(g Fingerprint) bool { return f.Inode == g.Inode && f.Dev == g.Dev }

// SameContent reports whether f and g are the same inode with the same
// size and mtime: equal but for the change time, which a rename moves.
func (f Fingerprint) SameContent(g Fingerprint) bool {
	return f.SameFile(g) && f.Size == g.Size && f.ModTime == g.ModTime
}
