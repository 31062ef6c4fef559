package fsid

import "os"

// StatFollow is Stat, following a final symlink when follow is set. A
// symlink that is not followed reports as a symlink (fi.Mode()&os.ModeSymlink).
func StatFollow(path string, follow bool) (Fingerprint, os.FileInfo, error) {
	if !follow {
		return Stat(path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Fingerprint{}, nil, err
	}
	return Of(fi), fi, nil
}
