package sensenet

import (
	"context"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
)

// The OData paths are built as they were by string concatenation: the
// reference below is the code before the paths were appended to one
// buffer.
func TestODataPathsMatchTheConcatenatedForm(t *testing.T) {
	refEscape := func(s string) string {
		const hex = "0123456789ABCDEF"
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
				b.WriteByte(c)
				continue
			}
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
		return b.String()
	}
	refLiteral := func(name string) string {
		return "('" + refEscape(strings.ReplaceAll(name, "'", "''")) + "')"
	}
	refCollection := func(p string) string {
		var b strings.Builder
		b.WriteString("/OData.svc")
		for _, s := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
			b.WriteByte('/')
			b.WriteString(refEscape(s))
		}
		return b.String()
	}
	refEntity := func(parent, name string) string {
		if parent == "" {
			return "/OData.svc/" + refLiteral(name)
		}
		return refCollection(parent) + refLiteral(name)
	}
	paths := []string{"", "/", "/Root", "Root", "/Root/Content/Documents", "/Root/Content/Documents/", "/Root//x",
		"/Root/Ünïcödé/résumé ✓", "/Root/it's (1) & more/''", "/Root/" + strings.Repeat("long name ", 40)}
	names := []string{"", "x", "'", "''", "it's", "a'b'c", "scan 001.pdf", "100% ✓+~", strings.Repeat("é'", 200)}
	for _, p := range paths {
		if got, want := collectionPath(p), refCollection(p); got != want {
			t.Errorf("collectionPath(%q) = %q, want %q", p, got, want)
		}
		if got, want := escape(p), refEscape(p); got != want {
			t.Errorf("escape(%q) = %q, want %q", p, got, want)
		}
		for _, n := range names {
			if got, want := entityPath(p, n), refEntity(p, n); got != want {
				t.Errorf("entityPath(%q, %q) = %q, want %q", p, n, got, want)
			}
			if full := p + "/" + n; entityOf(full) != refEntity(p, n) {
				t.Errorf("entityOf(%q) = %q, want %q", full, entityOf(full), refEntity(p, n))
			}
		}
	}
}

// An upload's URL is one allocation.
func TestUploadURLAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates on its own")
	}
	tg := &Target{base: "http://127.0.0.1:8080"}
	if n := testing.AllocsPerRun(100, func() { tg.uploadURL("/Root/Bench/d001") }); n > 1 {
		t.Fatalf("%.0f allocations, want 1", n)
	}
}

// NameKey, remoteDir and the folder cache's keys are what they were
// when built by concatenation and strings.ToLower (the reference below),
// errors included, for ASCII and other names, names the server keeps
// nothing of, and empty segments.
func TestNameKeysMatchTheConcatenatedForm(t *testing.T) {
	n, err := newNamer("", "")
	if err != nil {
		t.Fatal(err)
	}
	refDir := func(op, root, dir string) (string, error) {
		p := root
		if dir == "" {
			return p, nil
		}
		for _, s := range strings.Split(dir, "/") {
			name, err := n.storedName(op, s)
			if err != nil {
				return "", err
			}
			p += "/" + name
		}
		return p, nil
	}
	refKey := func(f *targets.File, name string) (string, error) {
		d := f.Dest.(*Destination)
		op := "sensenet: name " + f.Rel
		parent, err := refDir(op, d.Path, f.Dir())
		if err != nil {
			return "", err
		}
		s, err := n.storedName(op, name)
		if err != nil {
			return "", err
		}
		return strings.ToLower(parent + "/" + s), nil
	}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	tg := &Target{names: n, folders: map[string]bool{}}
	roots := []string{"/Root/Content/Documents", "/Root/ÜBER Ordner"}
	dirs := []string{"", "A", "a/B c", "Ünï/cödé", "x//y", "$$", "ok/...", "Q&A: notes?"}
	names := []string{"Scan 001.PDF", "ÄÖÜ.txt", "it's.doc", "$", "..", "a+b#c.txt"}
	for _, root := range roots {
		for _, dir := range dirs {
			gotDir, gerr := n.remoteDir("op", root, dir)
			wantDir, werr := refDir("op", root, dir)
			if gotDir != wantDir || errText(gerr) != errText(werr) {
				t.Errorf("remoteDir(%q, %q) = %q, %v; want %q, %v", root, dir, gotDir, gerr, wantDir, werr)
			}
			if werr == nil {
				tg.remember(wantDir)
				if !tg.known(strings.ToUpper(wantDir)) || !tg.known(wantDir) {
					t.Errorf("%q is not known after remember", wantDir)
				}
			}
			for _, name := range names {
				rel := name
				if dir != "" {
					rel = dir + "/" + name
				}
				f := &targets.File{Rel: rel, Dest: &Destination{Path: root}}
				got, gerr := tg.NameKey(f, name)
				want, werr := refKey(f, name)
				if got != want || errText(gerr) != errText(werr) {
					t.Errorf("NameKey(%q, %q) = %q, %v; want %q, %v", rel, name, got, gerr, want, werr)
				}
			}
		}
	}
	if tg.known("/Root/Content/Documents/elsewhere") {
		t.Error("an unknown folder is known")
	}
}

// A name key and the path of a known folder cost one allocation each.
func TestNameKeyAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates on its own")
	}
	n, err := newNamer("", "")
	if err != nil {
		t.Fatal(err)
	}
	tg := &Target{names: n, folders: map[string]bool{}}
	tg.remember("/Root/Bench/d001")
	f := &targets.File{Rel: "d001/f000123.dat", Dest: &Destination{Path: "/Root/Bench"}}
	if a := testing.AllocsPerRun(100, func() { tg.NameKey(f, f.Name()) }); a > 1 {
		t.Errorf("NameKey: %.0f allocations, want 1", a)
	}
	if a := testing.AllocsPerRun(100, func() { tg.ensureFolders(context.Background(), "/Root/Bench", "d001") }); a > 1 {
		t.Errorf("ensureFolders of a known folder: %.0f allocations, want 1", a)
	}
}
