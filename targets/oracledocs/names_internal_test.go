package oracledocs

import (
	"strings"
	"testing"
	"unicode"
)

// TestFoldRuneIsOneMemberPerOrbit: for every rune, foldRune gives a rune of
// the rune's own unicode.SimpleFold orbit, the same for every member, so
// two runes get one representative exactly when they fold together.
func TestFoldRuneIsOneMemberPerOrbit(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		rep := foldRune(r)
		in := rep == r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f == rep {
				in = true
			}
			if g := foldRune(f); g != rep {
				t.Fatalf("foldRune(%U) = %U but foldRune(%U) = %U: one orbit, two keys", r, rep, f, g)
			}
		}
		if !in {
			t.Fatalf("foldRune(%U) = %U, not of its case-folding orbit", r, rep)
		}
	}
}

// TestFoldKeyAgreesWithEqualFold: keys are equal exactly when the server's
// comparison (strings.EqualFold) says the names are; ToLower is wrong both
// ways (ſ/s and ς/σ apart, İ/i together).
func TestFoldKeyAgreesWithEqualFold(t *testing.T) {
	names := []string{"scan.txt", "ſcan.txt", "SCAN.TXT", "σ.txt", "ς.txt", "Σ.TXT",
		"kelvin", "\u212Aelvin", "İ.txt", "i.txt", "I.txt", "ı.txt", "ǆ", "ǅ", "Ǆ",
		"ß", "ẞ", "ss", "Report.txt", "report.txt", "a\xffb", "a\xfeb", "a\uFFFDb", ""}
	for _, a := range names {
		for _, b := range names {
			if got, want := foldKey(a) == foldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("foldKey(%q) == foldKey(%q) is %v; EqualFold says %v", a, b, got, want)
			}
		}
	}
	if got := foldKey("Sub/Report.TXT"); got != "sub/report.txt" {
		t.Errorf("foldKey of a plain name = %q, want what strings.ToLower gave (keys recorded before)", got)
	}
}
