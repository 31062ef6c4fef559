package watcher

import (
	"os/exec"
	"testing"
)

// takeMountTable's changed says whether a file system was mounted or
// unmounted since it was taken, and only then.
func TestMountTableChanged(t *testing.T) {
	dir := t.TempDir()
	mt := takeMountTable()
	defer mt.close()
	if mt.changed() {
		t.Fatal("changed before any mount")
	}
	mountTmpfs(t, dir)
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	if !mt.changed() {
		t.Fatal("a mount is not seen")
	}
	if mt.changed() {
		t.Fatal("changed again with no mount since the last look")
	}
}
