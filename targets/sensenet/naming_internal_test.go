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

// TestReplaceInvalidAgreesWithThePattern: the byte-by-byte replacement of
// ASCII names gives what the pattern's regexp gives, for the default
// rules, one-character patterns of other shapes, and patterns whose
// matches are longer (which always take the regexp).
func TestReplaceInvalidAgreesWithThePattern(t *testing.T) {
	names := []string{"", "plain.txt", "ünï cödé+x.txt", "tab\there\r\n", "a#b]]c", "ABab-x--", "\x00\x7f"}
	var all []byte
	for b := range 128 {
		all = append(all, byte(b))
	}
	names = append(names, string(all))
	for i := range 200 { // a fixed spread of ASCII names
		var b []byte
		for k := range 1 + i%13 {
			b = append(b, byte((i*31+k*17)%128))
		}
		names = append(names, string(b))
	}
	for _, c := range []struct {
		pattern string
		byByte  bool
	}{
		{"", true}, {`[#\u005D]`, true}, {`(?i)x`, true}, {`[^_a-z]`, true}, {`a|B`, true}, {`\x{41}`, true},
		{`ab`, false}, {`a+`, false}, {`(a)`, false},
	} {
		n, err := newNamer(c.pattern, "_")
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		if n.byByte != c.byByte {
			t.Errorf("%q: byByte %v, want %v", c.pattern, n.byByte, c.byByte)
		}
		for _, name := range names {
			if got, want := n.replaceInvalid(name), n.invalid.ReplaceAllLiteralString(name, n.repl); got != want {
				t.Errorf("%q: replaceInvalid(%q) = %q, the regexp gives %q", c.pattern, name, got, want)
			}
		}
	}
}
