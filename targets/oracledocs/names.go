package oracledocs

import (
	"strings"
	"unicode"

	"github.com/dropsync/dropsync/targets"
)

var _ targets.NameKeyer = (*Target)(nil)

// NameKey implements targets.NameKeyer: Oracle compares file and folder
// names case-insensitively, so the key is the destination folder, the
// mirrored sub-folders and the name, case-folded (see foldKey).
func (t *Target) NameKey(f *targets.File, name string) (string, error) {
	d, err := destOf(f)
	if err != nil {
		return "", err
	}
	k := d.FolderID + "/"
	if dir := f.Dir(); dir != "" {
		k += dir + "/"
	}
	return foldKey(k + name), nil
}

// foldKey returns s under simple case folding: each rune replaced by one
// representative of its unicode.SimpleFold orbit (see foldRune), so that
// foldKey(a) == foldKey(b) exactly when strings.EqualFold(a, b), the way
// the server compares names. strings.ToLower is not enough: it leaves "ſ"
// (long s) and "ς" (final sigma) as they are, while case folding makes them
// one letter with "s" and "σ"; and it maps "İ" to "i", which EqualFold
// keeps apart. Invalid UTF-8 bytes become U+FFFD, as EqualFold reads them.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune returns the representative of r's case-folding orbit: the lower
// case of the orbit's smallest rune when that is in the orbit, else the
// smallest rune itself. Lower case keeps the keys of plain names what
// strings.ToLower made them (keys are recorded in the queue database).
func foldRune(r rune) rune {
	if r < 0x80 {
		// ASCII: the orbits of k and s reach K (U+212A) and ſ (U+017F),
		// whose representatives are k and s all the same.
		if 'A' <= r && r <= 'Z' {
			return r - 'A' + 'a'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	l := unicode.ToLower(m)
	if l == m {
		return m
	}
	for f := unicode.SimpleFold(m); f != m; f = unicode.SimpleFold(f) {
		if f == l {
			return l
		}
	}
	return m
}
