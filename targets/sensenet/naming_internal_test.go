package sensenet

import "testing"

// TestStoredName checks the adapter's prediction against FACTS.md §5.6's
// examples, and an operator's own rules (a .NET pattern pasted as it is).
func TestStoredName(t *testing.T) {
	def, err := newNamer("", "")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"a+b#c.txt":       "a-b-c.txt",
		"Q&A: notes?.pdf": "Q-A- notes-.pdf",
		"draft-":          "draft",
		"x--y.":           "x-y",
		"ünï cödé.txt":    "ünï cödé.txt",
		"it's [1].txt":    "it-s -1-.txt",
		"tab\there":       "tab-here",
	} {
		if got := def.stored(in); got != want {
			t.Errorf("stored(%q) = %q, want %q", in, got, want)
		}
	}
	own, err := newNamer(`[#\u005D]`, "_")
	if err != nil {
		t.Fatal(err)
	}
	if got := own.stored("a#b]]c+d_"); got != "a_b_c+d" {
		t.Errorf("own rules: %q", got)
	}
	for _, bad := range [][2]string{{"[", ""}, {"", "--"}, {"", "#"}} {
		if _, err := newNamer(bad[0], bad[1]); err == nil {
			t.Errorf("newNamer(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
