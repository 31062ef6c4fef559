package safefs

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// On Linux a backslash is an ordinary character of a name (NFS and local
// users can make one): a folder named `\in` is a folder below the root,
// not an absolute path.
func TestBackslashFolderIsBelowTheRoot(t *testing.T) {
	both(t, func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, `\in`, "a.txt"), "inside")
		d, f, _, err := OpenFile(root, `\in/a.txt`, false)
		if err != nil {
			t.Fatalf("OpenFile(`\\in/a.txt`) = %v: a real file below the root is refused", err)
		}
		f.Close()
		d.Close()
	})
}

// A file whose relative path is longer than PATH_MAX (a deep tree) is
// still below the root; openat2 refuses such a path at once
// (ENAMETOOLONG), and the component walk opens it.
func TestDeepTreeOpens(t *testing.T) {
	both(t, func(t *testing.T) {
		root := t.TempDir()
		rel := deepTree(t, root, 18)
		d, f, _, err := OpenFile(root, rel+"/deep.txt", false)
		if err != nil {
			t.Fatalf("OpenFile(%d-byte path) = %v", len(rel), err)
		}
		f.Close()
		d.Close()
	})
}

// deepTree makes n nested folders of 250-byte names below root, by
// descriptor, with deep.txt at the bottom; it returns their rel path.
func deepTree(t *testing.T, root string, n int) string {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for i := range n {
		name := strings.Repeat(string(rune('a'+i%26)), 250)
		if err := unix.Mkdirat(fd, name, 0o700); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
		parts = append(parts, name)
	}
	ffd, err := unix.Openat(fd, "deep.txt", unix.O_WRONLY|unix.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(ffd, []byte("deep"))
	unix.Close(ffd)
	unix.Close(fd)
	return strings.Join(parts, "/")
}
