//go:build windows

package safefs

import (
	"os"
	"path/filepath"
	"testing"
)

// Go opens files on Windows without FILE_SHARE_DELETE, and Rename was
// os.Link then os.Remove of the old name. Renaming a file that is
// open (the daemon keeps it open: finishAfterUpload stages base while f is
// open, actOnStaged hands f to MoveIf, copyAcross keeps from open through
// removeSource) makes the link, then fails to remove the old name
// (ERROR_SHARING_VIOLATION) and returns an error that is not fs.ErrExist:
// the file is left under both names. The daemon's next attempt finds the
// staging name taken and puts it "back" under a free name ("x (2)"), a new
// file that is uploaded a second time.
func TestWindowsRenameOfAnOpenFileLeavesItUnderOneName(t *testing.T) {
	dir := winTempDir(t)
	if err := os.WriteFile(filepath.Join(dir, "x.pdf"), []byte("delivered"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.Open("x.pdf", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rerr := d.Rename("x.pdf", d, ".dropsync-stage.x.pdf")
	_, oldErr := os.Lstat(filepath.Join(dir, "x.pdf"))
	_, newErr := os.Lstat(filepath.Join(dir, ".dropsync-stage.x.pdf"))
	if oldErr == nil && newErr == nil {
		t.Fatalf("Rename of an open file (err %v) left it under both names: the next attempt puts the staged name back as a free name and uploads it again", rerr)
	}
	if rerr != nil {
		t.Fatalf("Rename of a file the daemon holds open fails (%v): after_upload never stages a file on Windows", rerr)
	}
}

// MoveIf with from open (actOnStaged passes the staged file's handle on
// every OS) cannot move it on Windows, and leaves a second name in dst.
func TestWindowsMoveIfFromAnOpenHandle(t *testing.T) {
	src, dst := winTempDir(t), winTempDir(t)
	if err := os.WriteFile(filepath.Join(src, "s"), []byte("delivered"), 0o600); err != nil {
		t.Fatal(err)
	}
	sd, _ := OpenDir(src, "")
	dd, _ := OpenDir(dst, "")
	defer sd.Close()
	defer dd.Close()
	f, err := sd.Open("s", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	used, err := MoveIf(sd, "s", f, dd, "x.pdf", true, nil)
	_, srcErr := os.Lstat(filepath.Join(src, "s"))
	_, dstErr := os.Lstat(filepath.Join(dst, "x.pdf"))
	if err != nil || srcErr == nil {
		t.Fatalf("MoveIf from an open handle: used %q, err %v; source still there: %v, copy in dst: %v", used, err, srcErr == nil, dstErr == nil)
	}
}

// winTempDir is t.TempDir for tests run under wine, whose unlinkat fails
// t.TempDir's cleanup.
func winTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "safefs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
