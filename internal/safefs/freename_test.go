package safefs_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dropsync/dropsync/internal/safefs"
)

// Free names and the names made from a long name stay within NameMax
// bytes, cut at the start of a character, and keep the extension and the
// number that tell them apart.
func TestFreeNameOfALongNameFits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		suffix string
	}{
		{strings.Repeat("m", 250) + ".pdf", 2, " (2).pdf"},
		{strings.Repeat("é", 125) + ".pdf", 10, " (10).pdf"}, // 254 bytes of two-byte characters
		{strings.Repeat("x", 255), 3, " (3)"},
		{"." + strings.Repeat("e", 254), 2, " (2)"}, // all extension: no extension
	} {
		got := safefs.FreeName(tc.name, tc.n)
		if len(got) > safefs.NameMax || !utf8.ValidString(got) || !strings.HasSuffix(got, tc.suffix) {
			t.Errorf("FreeName(%d-byte name, %d) = %d bytes %q, want at most %d valid bytes ending %q", len(tc.name), tc.n, len(got), got, safefs.NameMax, tc.suffix)
		}
	}
	if got := safefs.FreeName("report.pdf", 2); got != "report (2).pdf" {
		t.Errorf("FreeName(report.pdf, 2) = %q", got)
	}
	if got := safefs.Fit(strings.Repeat("é", 125)+".pdf", ".error.txt"); len(got) > safefs.NameMax || !utf8.ValidString(got) || !strings.HasSuffix(got, ".error.txt") {
		t.Errorf("Fit: %d bytes %q", len(got), got)
	}
}

// FreeNameIndex finds the candidate FreeName made, for short and long
// names, dotfiles and names with " (" of their own, and nothing else.
func TestFreeNameIndexInvertsFreeName(t *testing.T) {
	for _, base := range []string{"report.pdf", ".env", "a (1).txt", "x.tar (2).gz", strings.Repeat("m", 250) + ".pdf", strings.Repeat("é", 126)} {
		for _, n := range []int{1, 2, 10, 123} {
			name := safefs.FreeName(base, n)
			if got, ok := safefs.FreeNameIndex(base, name); !ok || got != max(n, 1) {
				t.Errorf("FreeNameIndex(%q, %q) = %d, %v; want %d", base, name, got, ok, n)
			}
		}
	}
	for _, tc := range [][2]string{{"report.pdf", "report (x).pdf"}, {"report.pdf", "report (1).pdf"}, {"report.pdf", "other (2).pdf"}, {"report.pdf", "report (2).txt"}} {
		if n, ok := safefs.FreeNameIndex(tc[0], tc[1]); ok {
			t.Errorf("FreeNameIndex(%q, %q) = %d: not a candidate", tc[0], tc[1], n)
		}
	}
}
