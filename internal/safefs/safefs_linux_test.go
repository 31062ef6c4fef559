package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// both runs f with openat2 and with the O_NOFOLLOW walk that replaces it
// on kernels before 5.6.
func both(t *testing.T, f func(t *testing.T)) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			old := noOpenat2.Load()
			noOpenat2.Store(walk)
			defer noOpenat2.Store(old)
			f(t)
		})
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenStaysBelowTheRoot(t *testing.T) {
	both(t, func(t *testing.T) {
		root, outside := t.TempDir(), t.TempDir()
		write(t, filepath.Join(root, "real", "x"), "inside")
		write(t, filepath.Join(outside, "x"), "outside")
		os.Symlink(outside, filepath.Join(root, "link"))
		os.Symlink(filepath.Join(outside, "x"), filepath.Join(root, "real", "lx"))
		if err := syscall.Mkfifo(filepath.Join(root, "real", "fifo"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			rel    string
			follow bool
			want   error
		}{
			{"link/x", true, ErrOutside}, // a folder component is a symlink
			{"../x", false, ErrOutside},  // ".."
			{"real/../link/x", true, ErrOutside},
			{"real/lx", false, ErrNotRegular},   // a final symlink, not followed
			{"real/fifo", false, ErrNotRegular}, // never blocks
			{"real/missing", false, fs.ErrNotExist},
		} {
			d, f, _, err := OpenFile(root, tc.rel, tc.follow)
			if !errors.Is(err, tc.want) || !Missing(err) {
				if f != nil {
					f.Close()
					d.Close()
				}
				t.Errorf("%s: err %v, want %v", tc.rel, err, tc.want)
			}
		}
		d, f, _, err := OpenFile(root, "real/lx", true) // follow_symlinks: the last component only
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		d.Close()
		d, f, _, err = OpenFile(root, "real/x", false)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		defer f.Close()
		b := make([]byte, 6)
		if n, _ := f.Read(b); string(b[:n]) != "inside" {
			t.Fatalf("read %q", b[:n])
		}
	})
}

func TestMoveNeverOverwrites(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(dst, "scan.pdf"), "parked first")
	write(t, filepath.Join(dst, "scan (2).pdf"), "parked second")
	write(t, filepath.Join(src, "scan.pdf"), "third")
	sd, _ := OpenDir(src, "")
	dd, _ := OpenDir(dst, "")
	defer sd.Close()
	defer dd.Close()
	used, err := Move(sd, "scan.pdf", nil, dd, "scan.pdf", true)
	if err != nil || used != "scan (3).pdf" {
		t.Fatalf("used %q, %v", used, err)
	}
	for n, want := range map[string]string{"scan.pdf": "parked first", "scan (2).pdf": "parked second", "scan (3).pdf": "third"} {
		if b, _ := os.ReadFile(filepath.Join(dst, n)); string(b) != want {
			t.Errorf("%s holds %q", n, b)
		}
	}
	write(t, filepath.Join(src, "x"), "x")
	if _, err := Move(sd, "x", nil, dd, "scan.pdf", false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a move without free names replaced a file: %v", err)
	}
}

// The copy used across file systems: a fresh name, the mtime kept, the
// source removed only after the copy, a free name taken.
func TestCopyAcross(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "a.txt"), "payload")
	mt := time.Unix(1_700_000_000, 123)
	os.Chtimes(filepath.Join(src, "a.txt"), mt, mt)
	write(t, filepath.Join(dst, "a.txt"), "parked")
	sd, _ := OpenDir(src, "")
	dd, _ := MkdirAll(dst, "")
	defer sd.Close()
	defer dd.Close()
	used, err := copyAcross(sd, "a.txt", nil, dd, "a.txt", true, nil)
	if err != nil || used != "a (2).txt" {
		t.Fatalf("used %q, %v", used, err)
	}
	fi, err := os.Stat(filepath.Join(dst, used))
	if err != nil || !fi.ModTime().Equal(mt) {
		t.Fatalf("copy: %v, mtime %v", err, fi)
	}
	if _, err := os.Stat(filepath.Join(src, "a.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("the source is still there")
	}
	ents, _ := os.ReadDir(dst)
	if len(ents) != 2 {
		t.Fatalf("left in dst: %v", ents)
	}
}

func TestMkdirAllRefusesSymlinks(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.Symlink(outside, filepath.Join(root, "link"))
	if _, err := MkdirAll(root, "link/sub"); !errors.Is(err, ErrOutside) {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "sub")); err == nil {
		t.Fatal("created a folder outside the root")
	}
}

func TestLeaseRefusedWhileAnotherHolderHasTheFileOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, "x")
	f, _ := os.Open(p)
	defer f.Close()
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_WRLCK); err != nil {
		t.Skipf("no leases here (%v): the check is best effort", err)
	}
	unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
	w, _ := os.OpenFile(p, os.O_WRONLY, 0)
	if _, err := Lease(f); !errors.Is(err, ErrBusy) {
		w.Close()
		t.Fatalf("lease with a writer: %v, want ErrBusy", err)
	}
	w.Close()
	held, err := Lease(f)
	if err != nil {
		t.Fatal(err)
	}
	if held.Broken() {
		t.Fatal("broken with no other open")
	}
	if g, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil { // fails: the lease holds it
		g.Close()
		t.Fatal("opened a leased file without waiting")
	}
	if !held.Broken() {
		t.Fatal("an open waiting for the lease does not break it")
	}
	held.Release()
}

// Stat and ReadDir answer metadata questions without looking through a
// folder swapped for a symlink: what lies outside is neither stat'ed as
// present nor listed.
func TestStatAndReadDirStayBelowTheRoot(t *testing.T) {
	both(t, func(t *testing.T) {
		root, outside := t.TempDir(), t.TempDir()
		write(t, filepath.Join(root, "real", "x"), "inside")
		write(t, filepath.Join(outside, "secret"), "outside")
		os.Symlink(outside, filepath.Join(root, "link"))
		os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "real", "ls"))
		for _, rel := range []string{"link/secret", "real/../link/secret", "../secret"} {
			if fi, err := Stat(root, rel, true); !errors.Is(err, ErrOutside) {
				t.Errorf("Stat %s: %v, %v; want ErrOutside", rel, fi, err)
			}
		}
		if _, err := Stat(root, "real/missing", false); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat of a missing file: %v", err)
		}
		if fi, err := Stat(root, "real/ls", false); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("a final symlink, not followed: %v, %v", fi, err)
		}
		if fi, err := Stat(root, "real/ls", true); err != nil || !fi.Mode().IsRegular() { // follow_symlinks: the last component only
			t.Errorf("a final symlink, followed: %v, %v", fi, err)
		}
		if _, err := OpenDir(root, "link"); !errors.Is(err, ErrOutside) {
			t.Fatalf("OpenDir of a folder swapped for a link: %v", err)
		}
		d, err := OpenDir(root, "real")
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		ents, err := d.ReadDir(-1)
		if err != nil || len(ents) != 2 {
			t.Fatalf("ReadDir: %v, %v", ents, err)
		}
	})
}

// Stat's information is os.Lstat's: the same mode, size, mtime, and a Sys
// from which the inode, device and change time are read.
func TestStatIsLstat(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "d", "f"), "content")
	os.Symlink("f", filepath.Join(root, "d", "l"))
	syscall.Mkfifo(filepath.Join(root, "d", "p"), 0o640)
	for _, rel := range []string{"d", "d/f", "d/l", "d/p"} {
		got, err := Stat(root, rel, false)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.Lstat(filepath.Join(root, rel))
		if got.Name() != want.Name() || got.Mode() != want.Mode() || got.Size() != want.Size() || !got.ModTime().Equal(want.ModTime()) || got.IsDir() != want.IsDir() {
			t.Errorf("%s: %s %v %d %v, want %s %v %d %v", rel, got.Name(), got.Mode(), got.Size(), got.ModTime(), want.Name(), want.Mode(), want.Size(), want.ModTime())
		}
		g, w := got.Sys().(*syscall.Stat_t), want.Sys().(*syscall.Stat_t)
		if g.Ino != w.Ino || g.Dev != w.Dev || g.Ctim != w.Ctim || g.Mode != w.Mode {
			t.Errorf("%s: Sys %+v, want %+v", rel, g, w)
		}
	}
}

// A copy across file systems reads one handle; a new version renamed in
// at the name meanwhile (an editor's save) is not the file copied and
// keeps its name: the source is removed only if it is the file copied.
func TestCopyAcrossLeavesANewVersionAtTheName(t *testing.T) {
	src, dst, sd, dd, from := swappedAtTheName(t, "old", "new version")
	used, err := copyAcross(sd, "a.txt", from, dd, "a.txt", true, nil)
	if !errors.Is(err, ErrSourceKept) || used != "a.txt" {
		t.Fatalf("used %q, %v; want the copy kept and ErrSourceKept", used, err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "a.txt")); string(b) != "new version" {
		t.Fatalf("the new version at the name was not left alone: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "old" {
		t.Fatalf("the copy holds %q, not the file copied", b)
	}
	if ents, _ := os.ReadDir(src); len(ents) != 1 {
		t.Fatalf("the source folder holds %d entries, want only a.txt", len(ents))
	}
}

// The caller's last check (MoveIf) refuses the removal after the copy:
// the source stays at its name, the copy stays.
func TestCopyAcrossAsksBeforeRemoving(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "a.txt"), "payload")
	sd, _ := OpenDir(src, "")
	dd, _ := OpenDir(dst, "")
	defer sd.Close()
	defer dd.Close()
	no := errors.New("the folder left the watch")
	used, err := copyAcross(sd, "a.txt", nil, dd, "a.txt", true, func() error { return no })
	if !errors.Is(err, ErrSourceKept) || !errors.Is(err, no) || used != "a.txt" {
		t.Fatalf("used %q, %v", used, err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "a.txt")); string(b) != "payload" {
		t.Fatalf("the source was not left at its name: %q", b)
	}
}

// Move with a handle moves only that file: one swapped in at the name
// since the handle was opened is renamed back, and nothing is moved.
func TestMoveFromAHandleMovesOnlyThatFile(t *testing.T) {
	src, dst, sd, dd, from := swappedAtTheName(t, "tried", "untried")
	if used, err := Move(sd, "a.txt", from, dd, "a.txt", true); !errors.Is(err, ErrNotSame) {
		t.Fatalf("used %q, %v; want ErrNotSame", used, err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "a.txt")); string(b) != "untried" {
		t.Fatalf("the swapped-in file is not back at its name: %q", b)
	}
	if ents, _ := os.ReadDir(dst); len(ents) != 0 {
		t.Fatalf("something was moved: %v", ents)
	}
}

// swappedAtTheName makes a.txt (content first) in a source folder, opens
// it, and saves a new version (second) at its name the way an editor does
// (written beside, renamed over): from is the handle of the first. It
// returns the source folder and an empty destination, both also as Dirs
// (closed at the test's end), and from.
func swappedAtTheName(t *testing.T, first, second string) (src, dst string, sd, dd *Dir, from *os.File) {
	t.Helper()
	src, dst = t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "a.txt"), first)
	sd, err := OpenDir(src, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	if dd, err = OpenDir(dst, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dd.Close() })
	if from, err = sd.Open("a.txt", false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { from.Close() })
	write(t, filepath.Join(src, "saving"), second)
	if err := os.Rename(filepath.Join(src, "saving"), filepath.Join(src, "a.txt")); err != nil {
		t.Fatal(err)
	}
	return src, dst, sd, dd, from
}
