package oracledocs

import (
	"strings"

	"github.com/dropsync/dropsync/targets"
)

var _ targets.NameKeyer = (*Target)(nil)

// NameKey implements targets.NameKeyer: Oracle compares file and folder
// names case-insensitively, so the key is the destination folder, the
// mirrored sub-folders and the name, lower-cased.
func (t *Target) NameKey(f *targets.File, name string) (string, error) {
	d, err := destOf(f)
	if err != nil {
		return "", err
	}
	k := d.FolderID + "/"
	if dir := f.Dir(); dir != "" {
		k += dir + "/"
	}
	return strings.ToLower(k + name), nil
}
