// Package safefs does dropsync's file operations on watched files without
// ever leaving the folder they belong to.
//
// Invariants:
//
//   - Confinement. A Dir is opened below a root folder with
//     openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), or one component at a
//     time with O_NOFOLLOW where openat2 is missing and for a path longer
//     than PATH_MAX (which openat2 refuses whole): no component may be a
//     symlink or "..", so a folder swapped for a link after a file was
//     queued is never followed out of the root. Every
//     later open, rename and unlink is relative to that Dir's descriptor,
//     never to a path string. (The root itself is configuration and is
//     opened as given.) Windows path syntax (`\`, a drive or stream
//     colon) is refused only on Windows: elsewhere it is part of a name.
//   - Metadata too. Stat and Dir.ReadDir, for questions that read no
//     content (does the file exist, what does the folder hold), resolve
//     the same way: a folder swapped for a link is not listed or stat'ed.
//   - Only regular files. Dir.Open opens with O_NONBLOCK and O_NOFOLLOW
//     (unless follow is asked for the last component) and returns the
//     handle only if fstat says it is a regular file: a FIFO or device
//     renamed over a file never blocks the caller, and what the handle
//     reads is what its fstat describes.
//   - Never overwrite. Rename fails with fs.ErrExist instead of replacing
//     (renameat2 RENAME_NOREPLACE, or link and unlink), Create uses
//     O_EXCL, and Move picks the next free name ("scan (2).pdf").
//   - Durable moves. A move across file systems copies to a fresh name,
//     fsyncs the copy and its folder, and only then removes the source.
//   - A copied source is removed only if it is the file copied. The copy
//     reads one handle, whose fstat must not change during it; the source
//     is then renamed to a private name (atomically: a file saved at the
//     name a moment later keeps it) and unlinked only if that private name
//     holds the handle's inode and device and the caller's last check
//     (MoveIf) passes. Otherwise it gets its name back and is left alone.
package safefs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dropsync/dropsync/internal/fsid"
)

// Errors.
var (
	// ErrOutside: the path crosses a symlink or leaves its root.
	ErrOutside = errors.New("safefs: the path crosses a symlink or leaves its folder")
	// ErrNotRegular: the name is not a regular file (a FIFO, a device, a
	// folder, or a symlink that is not followed).
	ErrNotRegular = errors.New("safefs: not a regular file")
	// ErrBusy: another process holds the file open (see Lease), or holds
	// a lease on it, so it cannot be opened without waiting.
	ErrBusy = errors.New("safefs: the file is open in another process")
	// ErrSourceKept: a move across file systems copied the file to its
	// destination (the name returned) but left the source where it was:
	// its name no longer led to the file copied, or the caller's condition
	// (MoveIf) refused the removal.
	ErrSourceKept = errors.New("safefs: copied across file systems; the source was left in place")
	// ErrChanged: the file was written to while it was copied across file
	// systems; nothing was moved.
	ErrChanged = errors.New("safefs: the file changed during the copy")
	// ErrNotSame: the name led to another file than the one open (Move's
	// from) when it was renamed: that file was put back, nothing moved.
	ErrNotSame = errors.New("safefs: the name led to another file than the one open")
)

// Missing reports whether err means that no regular file is at the name
// inside the root: absent, behind a symlink, or not a regular file.
func Missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrOutside) || errors.Is(err, ErrNotRegular)
}

// components splits a slash-separated relative path, refusing absolute
// paths and "." or ".." components, and on Windows any Windows path syntax
// (see split).
func components(rel string) ([]string, error) { return split(rel, isWindows) }

// split is components for Windows (windows) or Unix. On Unix a backslash
// or a colon is an ordinary byte of a name (`\in` is a folder below the
// root); on Windows a component holding either is refused: `\` is a
// separator there (`\x` is rooted, `a\..` climbs) and `:` makes a drive
// (`C:x`) or a stream; so is a device name (deviceName).
func split(rel string, windows bool) ([]string, error) {
	if rel == "" || rel == "." {
		return nil, nil
	}
	if path.IsAbs(rel) || windows && strings.HasPrefix(rel, `\`) {
		return nil, fmt.Errorf("%w: %s is absolute", ErrOutside, rel)
	}
	parts := strings.Split(rel, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || windows && (strings.ContainsAny(p, `\:`) || deviceName(p)) {
			return nil, fmt.Errorf("%w: %s", ErrOutside, rel)
		}
	}
	return parts, nil
}

// OpenFile opens the regular file at rel below root for reading (see
// Dir.Open), with the Dir of its folder, which the caller closes too, and
// the handle's fstat information. The Dir serves to look names up (Open,
// Stat, Ident, Rename, Remove): on Linux it is a path handle, on which
// ReadDir and Sync fail.
func OpenFile(root, rel string, follow bool) (*Dir, *os.File, fs.FileInfo, error) {
	dir, base := path.Split(rel)
	d, err := openLookupDir(root, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return nil, nil, nil, err
	}
	f, fi, err := d.OpenStat(base, follow)
	if err != nil {
		d.Close()
		return nil, nil, nil, err
	}
	return d, f, fi, nil
}

// Stat returns the information of rel below root, resolving every folder
// of rel beneath root without following a symlink (as OpenDir; a folder
// swapped for a link fails with ErrOutside), and following the last
// component only with follow. Nothing outside root is looked at, even for
// a metadata-only question such as whether a file exists.
func Stat(root, rel string, follow bool) (fs.FileInfo, error) {
	dir, base := path.Split(rel)
	d, err := openLookupDir(root, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Stat(base, follow)
}

// checkName refuses anything but a plain name inside the folder (no
// separator of the platform, no "." or ".."; on Windows no stream colon
// and no device name).
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name || isWindows && (strings.Contains(name, ":") || deviceName(name)) {
		return fmt.Errorf("%w: %q is not a name", ErrOutside, name)
	}
	return nil
}

// deviceName reports whether Windows takes the name for a device (CON,
// PRN, AUX, NUL, COM1-9, LPT1-9, CONIN$, CONOUT$, in any case, with any
// extension, trailing spaces and dots ignored): opening "in\CON" opens
// the console, not a file of the folder.
func deviceName(name string) bool {
	stem, _, _ := strings.Cut(name, ".")
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(stem) == 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) {
		c := stem[3]
		return c >= '1' && c <= '9'
	}
	// COM¹, COM², COM³ (and LPT): superscript digits, UTF-8 two bytes.
	if len(stem) == 5 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) {
		switch stem[3:] {
		case "\u00b9", "\u00b2", "\u00b3":
			return true
		}
	}
	return false
}

// NameMax is the longest file name dropsync makes, in bytes: Linux's
// NAME_MAX, which also fits the 255 UTF-16 units of Windows and the 255
// bytes of macOS.
const NameMax = 255

// Fit returns stem+suffix, stem cut so that the whole is at most NameMax
// bytes: a name made from a file's name (a free name, a note beside it)
// is one any file system takes, whatever the length of the name it was
// made from. A cut stem ends with "~" and 8 hex digits of the whole
// stem's SHA-256, so that two long names sharing their first bytes do not
// meet at one name; the cut falls at the start of a UTF-8 character when
// one is within 3 bytes (a name in another encoding is cut at the byte).
func Fit(stem, suffix string) string {
	if len(stem)+len(suffix) <= NameMax {
		return stem + suffix
	}
	sum := sha256.Sum256([]byte(stem))
	tag := "~" + hex.EncodeToString(sum[:4])
	cut := max(NameMax-len(suffix)-len(tag), 0)
	for back := 0; back < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(stem[cut]); back++ {
		cut--
	}
	return stem[:cut] + tag + suffix
}

// FreeName returns the n-th candidate for name: name itself for n <= 1,
// then "stem (n).ext", its stem shortened to fit NameMax (see Fit).
func FreeName(name string, n int) string {
	if n <= 1 {
		return name
	}
	ext := path.Ext(name)
	if ext == name || len(ext) > NameMax/2 { // ".profile"; a "extension" that long is the name
		ext = ""
	}
	return Fit(strings.TrimSuffix(name, ext), fmt.Sprintf(" (%d)%s", n, ext))
}

// FreeNameIndex reports which candidate FreeName(base, n) name is, if any.
func FreeNameIndex(base, name string) (int, bool) {
	if name == base {
		return 1, true
	}
	for i := strings.Index(name, " ("); i >= 0; {
		if j := strings.IndexByte(name[i:], ')'); j > 0 {
			if n, err := strconv.Atoi(name[i+2 : i+j]); err == nil && n >= 2 && FreeName(base, n) == name {
				return n, true
			}
		}
		k := strings.Index(name[i+2:], " (")
		if k < 0 {
			break
		}
		i += 2 + k
	}
	return 0, false
}

// CopyPrefix starts the temporary name of a copy Move makes across file
// systems.
const CopyPrefix = ".dropsync-copy-"

// RemovePrefix starts the private name a source copied across file
// systems takes in its own folder just before it is removed (MoveIf): a
// stop at that moment leaves it there, its content safe at the copy.
const RemovePrefix = ".dropsync-rm-"

// maxCandidates bounds the search for a free name.
const maxCandidates = 10000

// Move moves the file name in src to dst under want, or, when want is
// taken and free is set, under the first free FreeName(want, n); it
// returns the name used. Nothing is ever overwritten. Both folders are
// fsynced after a rename. Across file systems the file is copied (see
// MoveIf): the source is removed only if its name still leads to the very
// file copied.
func Move(src *Dir, name string, from *os.File, dst *Dir, want string, free bool) (string, error) {
	return MoveIf(src, name, from, dst, want, free, nil)
}

// MoveIf is Move with a condition: may (if not nil) is asked right before
// the source leaves its name (before the rename, or, across file systems,
// after the copy and just before the source is removed), and a non-nil
// answer stops the move there.
//
// With from set, only the file open as from is moved: after a rename the
// destination name must hold from's inode and device, or what was renamed
// (another file, swapped in at the name since from was opened) goes back
// to name (the next free one if taken meanwhile) and the error matches
// ErrNotSame.
//
// Across file systems the file is copied from the open handle from (if
// not nil, else from name, opened once) to a fresh name in dst; the copy
// and dst are fsynced and the copy takes its name. The source is then
// renamed to a private name in its own folder (an atomic step that nobody
// else makes: whatever is at the name at that instant is what is checked
// and removed), and removed only if it is the very file copied (the
// handle's inode and device) and may allows; otherwise it gets its name
// back (the next free one if a new file took it meanwhile) and MoveIf
// returns the name of the copy with an error matching ErrSourceKept: the
// copy stays, being the file as it was when copied, and the source is left
// alone. A file that changed during the copy (its fstat fingerprint, size,
// mtime, ctime) is not moved: the copy is removed and the error matches
// ErrChanged. A stop between the private rename and the removal leaves the
// source under a RemovePrefix name beside it, its content safe in dst.
func MoveIf(src *Dir, name string, from *os.File, dst *Dir, want string, free bool, may func() error) (string, error) {
	if may != nil {
		if err := may(); err != nil {
			return "", err
		}
	}
	for n := 1; n <= maxCandidates; n++ {
		cand := FreeName(want, n)
		err := src.Rename(name, dst, cand)
		switch {
		case err == nil:
			if from != nil {
				if err := isFile(dst, cand, from); err != nil {
					if _, berr := Move(dst, cand, nil, src, name, true); berr != nil {
						return "", fmt.Errorf("%w; it stays as %s: %v", err, path.Join(dst.name, cand), berr)
					}
					return "", err
				}
			}
			if err := dst.Sync(); err != nil {
				return cand, err
			}
			return cand, src.Sync()
		case errors.Is(err, fs.ErrExist) && free:
			continue
		case crossDevice(err):
			return copyAcross(src, name, from, dst, want, free, may)
		default:
			return "", err
		}
	}
	return "", fmt.Errorf("safefs: no free name for %s after %d tries", want, maxCandidates)
}

// isFile returns nil if name in d is the file open as f (inode and
// device), else an error matching ErrNotSame.
func isFile(d *Dir, name string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	ino, dev, err := d.Ident(name, false)
	if err != nil {
		return err
	}
	if want := fsid.Of(fi); ino != want.Inode || dev != want.Dev {
		return fmt.Errorf("%w: %s", ErrNotSame, path.Join(d.name, name))
	}
	return nil
}

// copyAcross is MoveIf between file systems.
func copyAcross(src *Dir, name string, from *os.File, dst *Dir, want string, free bool, may func() error) (string, error) {
	own := from == nil
	if own {
		in, err := src.Open(name, false)
		if err != nil {
			return "", err
		}
		defer in.Close()
		from = in
	}
	fi, err := from.Stat()
	if err != nil {
		return "", err
	}
	copied := fsid.Of(fi)
	tmp, out, err := dst.CreateTemp(CopyPrefix)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, io.NewSectionReader(from, 0, fi.Size()))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = dst.Chtimes(tmp, fi.ModTime()) // keep the mtime that identifies it
	}
	if err == nil {
		// A file written to during the copy gave a copy of no one
		// version: it is not moved.
		if now, serr := from.Stat(); serr != nil {
			err = serr
		} else if fsid.Of(now) != copied {
			err = fmt.Errorf("%w: %s was written to during the copy", ErrChanged, name)
		}
	}
	if err != nil {
		dst.Remove(tmp)
		return "", fmt.Errorf("copy %s across file systems: %w", name, err)
	}
	used, err := Move(dst, tmp, nil, dst, want, free)
	if err != nil {
		dst.Remove(tmp)
		return "", err
	}
	if own {
		from.Close() // Windows renames no file open here; fstat told what was copied
	}
	return used, removeSource(src, name, copied, may)
}

// removeSource removes name from src once its content is copied, only if
// name still leads to the file copied (copied's inode and device) and may
// allows; see MoveIf. It renames name to a private name first, so that
// what it checks is what it removes.
func removeSource(src *Dir, name string, copied fsid.Fingerprint, may func() error) error {
	priv, err := src.renameTemp(name, RemovePrefix)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSourceKept, err)
	}
	var why error
	ino, dev, err := src.Ident(priv, false)
	switch {
	case err != nil:
		why = err
	case ino != copied.Inode || dev != copied.Dev:
		why = fmt.Errorf("another file took the name %s during the copy", name)
	case may != nil:
		why = may()
	}
	if why != nil {
		if _, err := Move(src, priv, nil, src, name, true); err != nil {
			return fmt.Errorf("%w (%v); it stays as %s: %v", ErrSourceKept, why, priv, err)
		}
		return fmt.Errorf("%w: %w", ErrSourceKept, why)
	}
	if err := src.Remove(priv); err != nil {
		return err
	}
	return src.Sync()
}

// renameTemp renames name to prefix plus a random suffix, never replacing
// a file, and returns the new name.
func (d *Dir) renameTemp(name, prefix string) (string, error) {
	for {
		var b [8]byte
		rand.Read(b[:])
		tmp := prefix + hex.EncodeToString(b[:])
		err := d.Rename(name, d, tmp)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return tmp, err
	}
}

// MkdirAll opens the folder rel below root, creating missing folders
// (0700) on the way; like OpenDir, it follows no symlink below root. root
// itself is created if missing.
func MkdirAll(root, rel string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	parts, err := components(rel)
	if err != nil {
		return nil, err
	}
	d, err := OpenDir(root, "")
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		next, err := d.Mkdir(p)
		d.Close()
		if err != nil {
			return nil, err
		}
		d = next
	}
	return d, nil
}

// CreateTemp creates a new file named prefix plus a random suffix.
func (d *Dir) CreateTemp(prefix string) (string, *os.File, error) {
	for {
		var b [8]byte
		rand.Read(b[:])
		name := prefix + hex.EncodeToString(b[:])
		f, err := d.Create(name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, f, err
	}
}
