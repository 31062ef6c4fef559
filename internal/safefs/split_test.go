package safefs

import (
	"errors"
	"slices"
	"testing"
)

// Windows path syntax (a backslash, a drive or stream colon) is refused
// only on Windows; on Unix those bytes are part of a name.
func TestSplitRefusesWindowsSyntaxOnlyOnWindows(t *testing.T) {
	for _, tc := range []struct {
		rel     string
		unix    []string // nil: refused
		windows []string
	}{
		{`\in/a.txt`, []string{`\in`, "a.txt"}, nil},
		{`a\..\..\x`, []string{`a\..\..\x`}, nil},
		{`C:/x`, []string{"C:", "x"}, nil},
		{`a/b:c`, []string{"a", "b:c"}, nil},
		{"a/b", []string{"a", "b"}, []string{"a", "b"}},
		{"/a", nil, nil},
		{"a/../b", nil, nil},
		{"a//b", nil, nil},
		// Device names open the device on Windows, whatever the folder
		// and extension ("in/CON" is the console, not a file in in/).
		{"in/CON", []string{"in", "CON"}, nil},
		{"in/nul.txt", []string{"in", "nul.txt"}, nil},
		{"in/Com1.pdf", []string{"in", "Com1.pdf"}, nil},
		{"LPT9/a", []string{"LPT9", "a"}, nil},
		{"in/aux .txt", []string{"in", "aux .txt"}, nil},
		{"in/CONSOLE.txt", []string{"in", "CONSOLE.txt"}, []string{"in", "CONSOLE.txt"}},
		{"in/com10", []string{"in", "com10"}, []string{"in", "com10"}},
	} {
		for _, windows := range []bool{false, true} {
			want := tc.unix
			if windows {
				want = tc.windows
			}
			got, err := split(tc.rel, windows)
			switch {
			case want == nil && !errors.Is(err, ErrOutside):
				t.Errorf("split(%q, windows=%v) = %q, %v; want ErrOutside", tc.rel, windows, got, err)
			case want != nil && (err != nil || !slices.Equal(got, want)):
				t.Errorf("split(%q, windows=%v) = %q, %v; want %q", tc.rel, windows, got, err, want)
			}
		}
	}
}
