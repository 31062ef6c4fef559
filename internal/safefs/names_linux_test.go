package safefs

import (
	"path/filepath"
	"testing"
)

// On Linux a backslash is an ordinary byte of a name (NFS clients and
// local users make such names): a folder named `\in` is a folder below
// the root, not an absolute path.
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
