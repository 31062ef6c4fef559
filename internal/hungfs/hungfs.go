//go:build linux

// Package hungfs mounts, for tests, a FUSE file system that can hang: once
// Hang is called, every call into it (stat, lookup, directory listing,
// statfs, open, read) blocks in the kernel until Release, as the calls
// into a hard-mounted NFS share whose server is gone do; after HangOpens,
// only the opening of its files does. It is the real thing a daemon meets
// on a dead mount: a system call that does not return and that no context
// can interrupt. Its root holds the files AddFile gives it, read-only.
//
// Mounting needs /dev/fuse and the right to mount (root here); Mount skips
// the test where they are missing.
package hungfs

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is a mounted file system: an empty folder until Hang.
type FS struct {
	Dir string // the mount point

	root     *node
	hung     chan struct{} // closed by Hang
	opens    chan struct{} // closed by HangOpens
	released chan struct{} // closed by Release
	hang     sync.Once
	hangOpen sync.Once
	release  sync.Once
	blocked  atomic.Int64
	failing  atomic.Int64 // opens still to fail (FailOpens)
}

// Mount mounts an FS on a fresh folder and unmounts it when the test ends
// (releasing every blocked call first). A test whose own clean-up waits
// for a call blocked in it (a daemon stopped by the harness) calls
// Release in a clean-up registered after that one.
func Mount(t testing.TB) *FS {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE here: %v", err)
	}
	dir, err := os.MkdirTemp("", "hungfs")
	if err != nil {
		t.Fatal(err)
	}
	f := &FS{Dir: dir, hung: make(chan struct{}), opens: make(chan struct{}), released: make(chan struct{})}
	f.root = &node{fs: f}
	srv, err := fs.Mount(dir, f.root, &fs.Options{MountOptions: fuse.MountOptions{DirectMount: true, FsName: "hungfs", Name: "hungfs"}})
	if err != nil {
		os.Remove(dir)
		t.Skipf("cannot mount a FUSE file system here: %v", err)
	}
	t.Cleanup(func() {
		f.Release()
		if err := srv.Unmount(); err != nil {
			t.Errorf("hungfs: unmount %s: %v", dir, err)
		}
		os.Remove(dir)
	})
	return f
}

// MaxHang bounds a hang: a process with a thread blocked in its own FUSE
// file system cannot exit (the file system's server dies with it first),
// so a test that failed without calling Release would hold the test
// binary, and CI, forever.
const MaxHang = time.Minute

// Hang makes every later call into the file system block until Release,
// or MaxHang.
func (f *FS) Hang() {
	f.hang.Do(func() {
		close(f.hung)
		time.AfterFunc(MaxHang, f.Release)
	})
}

// HangOpens makes every later opening of a file block until Release, or
// MaxHang; the rest works.
func (f *FS) HangOpens() {
	f.hangOpen.Do(func() {
		close(f.opens)
		time.AfterFunc(MaxHang, f.Release)
	})
}

// FailOpens makes the next n openings of a file fail with EIO, as a
// network file system's do while its server restarts.
func (f *FS) FailOpens(n int) { f.failing.Store(int64(n)) }

// AddFile puts a file named name holding data in the root.
func (f *FS) AddFile(name string, data []byte) {
	ctx := context.Background()
	ch := f.root.NewPersistentInode(ctx, &file{fs: f, data: data, mtime: uint64(time.Now().Add(-time.Hour).Unix())}, fs.StableAttr{Mode: syscall.S_IFREG})
	f.root.AddChild(name, ch, true)
}

// Release ends the hang: blocked calls and later ones fail with EIO.
func (f *FS) Release() { f.release.Do(func() { close(f.released) }) }

// Blocked is the number of calls blocked now.
func (f *FS) Blocked() int { return int(f.blocked.Load()) }

// wait blocks while the file system hangs (while hung is closed); it
// reports whether the call may go on (false: released, the call fails).
func (f *FS) wait(hung chan struct{}) bool {
	select {
	case <-f.released:
		return false
	default:
	}
	select {
	case <-hung:
	default:
		return true
	}
	f.blocked.Add(1)
	defer f.blocked.Add(-1)
	<-f.released
	return false
}

// node is the root folder, empty.
type node struct {
	fs.Inode
	fs *FS
}

var (
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeLookuper  = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
	_ fs.NodeStatfser  = (*node)(nil)
	_ fs.NodeOpendirer = (*node)(nil)
)

func (n *node) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if !n.fs.wait(n.fs.hung) {
		return syscall.EIO
	}
	out.Mode = syscall.S_IFDIR | 0o700
	return 0
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !n.fs.wait(n.fs.hung) {
		return nil, syscall.EIO
	}
	ch := n.GetChild(name)
	if ch == nil {
		return nil, syscall.ENOENT
	}
	ch.Operations().(*file).attr(&out.Attr)
	return ch, 0
}

func (n *node) Opendir(ctx context.Context) syscall.Errno {
	if !n.fs.wait(n.fs.hung) {
		return syscall.EIO
	}
	return 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	if !n.fs.wait(n.fs.hung) {
		return nil, syscall.EIO
	}
	var es []fuse.DirEntry
	for name, ch := range n.Children() {
		es = append(es, fuse.DirEntry{Name: name, Mode: ch.Mode(), Ino: ch.StableAttr().Ino})
	}
	return fs.NewListDirStream(es), 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	if !n.fs.wait(n.fs.hung) {
		return syscall.EIO
	}
	return 0
}

// file is a read-only file of the root.
type file struct {
	fs.Inode
	fs    *FS
	data  []byte
	mtime uint64
}

var (
	_ fs.NodeGetattrer = (*file)(nil)
	_ fs.NodeOpener    = (*file)(nil)
	_ fs.NodeReader    = (*file)(nil)
)

func (f *file) attr(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | 0o600
	a.Size = uint64(len(f.data))
	a.Mtime, a.Ctime = f.mtime, f.mtime
}

func (f *file) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if !f.fs.wait(f.fs.hung) {
		return syscall.EIO
	}
	f.attr(&out.Attr)
	return 0
}

func (f *file) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if !f.fs.wait(f.fs.hung) || !f.fs.wait(f.fs.opens) || f.fs.failing.Add(-1) >= 0 {
		return nil, 0, syscall.EIO
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *file) Read(ctx context.Context, _ fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if !f.fs.wait(f.fs.hung) {
		return nil, syscall.EIO
	}
	if off >= int64(len(f.data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(f.data[off:min(off+int64(len(dest)), int64(len(f.data)))]), 0
}
