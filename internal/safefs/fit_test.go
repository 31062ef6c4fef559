package safefs_test

import (
	"strings"
	"testing"

	"github.com/dropsync/dropsync/internal/safefs"
)

// Fit cuts "at the start of a character" by walking back while
// the byte is not utf8.RuneStart, with no bound. A Linux name need not be
// UTF-8: a long name in a legacy code page whose bytes are all in
// 0x80-0xBF (CP1252 "…’“”–—" are 0x85, 0x92-0x97) is walked back to
// nothing. The note of such a parked file is then named ".error.txt" (a
// hidden file, the same for every such name) and its free name " (2).pdf".
func TestFitOfANonUTF8NameKeepsItsStem(t *testing.T) {
	stem := strings.Repeat("\x92\x85", 125) // 250 bytes, CP1252, not UTF-8
	for _, tc := range []struct{ got, suffix string }{
		{safefs.Fit(stem, ".error.txt"), ".error.txt"},
		{safefs.FreeName(stem+".pdf", 2), " (2).pdf"},
	} {
		if len(tc.got) > safefs.NameMax {
			t.Errorf("%q: %d bytes", tc.got, len(tc.got))
		}
		if kept := len(tc.got) - len(tc.suffix); kept < safefs.NameMax-len(tc.suffix)-3 {
			t.Errorf("%q: only %d bytes of the 250-byte stem kept (at most 3 need to go for a character boundary)", tc.got, kept)
		}
	}
}
