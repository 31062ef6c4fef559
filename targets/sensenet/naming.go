package sensenet

import (
	"encoding/json"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// The adapter's prediction of the names sensenet stores, written from
// FACTS.md §5.6 apart from the fake's model (fake_naming.go): the Upload
// action and the OData create derive a content's name through the
// server's ContentNamingProvider, by default CharReplacementContentNamingProvider.

// DefaultInvalidNameChars is sensenet's default InvalidNameCharsPattern,
// in Go regexp syntax (the server's \u005D is written \]).
const DefaultInvalidNameChars = `[\$&\+\\,/:;=?@"<>\#%{}|^~\[\]'’` + "`" + `\*\t\r\n]`

// DefaultNameReplacement is sensenet's default ReplacementChar.
const DefaultNameReplacement = "-"

// namer predicts the server's content names: every match of the invalid
// characters pattern becomes the replacement character, doubled
// replacement characters collapse to one until none is left, and trailing
// dots and replacement characters are trimmed from the whole name.
type namer struct {
	invalid *regexp.Regexp
	repl    string
	// byByte: every match of invalid is one character (the pattern is a
	// character class or a single character), so a name of ASCII
	// characters is replaced byte by byte, by ascii, without the regexp
	// (a name is predicted several times per delivery).
	byByte bool
	ascii  [utf8.RuneSelf]bool // ascii[b]: invalid matches the character b
}

// dotnetEscape matches the .NET regex escapes \uXXXX, which Go writes
// \x{XXXX}, so an operator may paste the server's pattern as it is.
var dotnetEscape = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

// newNamer compiles the server's naming rules; empty values take the
// defaults.
func newNamer(pattern, repl string) (*namer, error) {
	if pattern == "" {
		pattern = DefaultInvalidNameChars
	}
	if repl == "" {
		repl = DefaultNameReplacement
	}
	expr := dotnetEscape.ReplaceAllString(pattern, `\x{$1}`)
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid_name_chars: %w", err)
	}
	if utf8.RuneCountInString(repl) != 1 {
		return nil, fmt.Errorf("name_replacement: %q is not one character (sensenet's ReplacementChar is a single character)", repl)
	}
	if re.MatchString(repl) {
		return nil, fmt.Errorf("name_replacement: %q matches invalid_name_chars itself", repl)
	}
	n := &namer{invalid: re, repl: repl, byByte: oneCharacter(expr)}
	for b := range n.ascii {
		n.ascii[b] = re.MatchString(string(rune(b)))
	}
	return n, nil
}

// oneCharacter reports whether every match of the regular expression expr
// (Go syntax, as regexp.Compile takes it) is exactly one character.
func oneCharacter(expr string) bool {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return false
	}
	re = re.Simplify()
	switch re.Op {
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return true
	case syntax.OpLiteral:
		return len(re.Rune) == 1
	}
	return false
}

// replaceInvalid replaces every match of the invalid characters pattern
// by the replacement character.
func (n *namer) replaceInvalid(name string) string {
	if !n.byByte {
		return n.invalid.ReplaceAllLiteralString(name, n.repl)
	}
	found := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= utf8.RuneSelf {
			return n.invalid.ReplaceAllLiteralString(name, n.repl)
		}
		found = found || n.ascii[c]
	}
	if !found {
		return name
	}
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		if c := name[i]; n.ascii[c] {
			b.WriteString(n.repl)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stored is the name the server stores for a content requested as name.
func (n *namer) stored(name string) string {
	s := n.replaceInvalid(name)
	for double := n.repl + n.repl; strings.Contains(s, double); {
		s = strings.ReplaceAll(s, double, n.repl)
	}
	return strings.TrimRight(s, "."+n.repl)
}

// storedName is stored, failing when nothing of the name is left.
func (n *namer) storedName(op, name string) (string, error) {
	s := n.stored(name)
	if s == "" {
		return "", nameError(op, name)
	}
	return s, nil
}

// nameError is storedName's failure for name.
func nameError(op, name string) error {
	return targets.Errorf(targets.Permanent, op, "%q has no character the server keeps in a content name; rename it", name)
}

// remoteDir is the server's path of the watch's sub-folder dir
// (slash-separated, "" for the root) below root.
func (n *namer) remoteDir(op, root, dir string) (string, error) {
	if dir == "" {
		return root, nil
	}
	var buf [256]byte
	b, bad, ok := n.appendRemoteDir(buf[:0], root, dir)
	if !ok {
		return "", nameError(op, bad)
	}
	return string(b), nil
}

// appendRemoteDir appends remoteDir(…, root, dir) to b; ok is false, and
// bad the segment, when a segment of dir has no character the server
// keeps.
func (n *namer) appendRemoteDir(b []byte, root, dir string) (_ []byte, bad string, ok bool) {
	b = append(b, root...)
	if dir == "" {
		return b, "", true
	}
	for {
		seg, rest, more := strings.Cut(dir, "/")
		s := n.stored(seg)
		if s == "" {
			return b, seg, false
		}
		b = append(b, '/')
		b = append(b, s...)
		if !more {
			return b, "", true
		}
		dir = rest
	}
}

// NameKey implements targets.NameKeyer: the server's path of the content
// name would become for f, lower-cased (sensenet compares names
// case-insensitively).
func (t *Target) NameKey(f *targets.File, name string) (string, error) {
	d, ok := f.Dest.(*Destination)
	if !ok {
		return "", fmt.Errorf("sensenet: %s: destination is %T, not a sensenet destination", f.Rel, f.Dest)
	}
	var buf [256]byte
	b, bad, ok := t.names.appendRemoteDir(buf[:0], d.Path, f.Dir())
	s := t.names.stored(name)
	if !ok || s == "" {
		if ok {
			bad = name
		}
		return "", nameError("sensenet: name "+f.Rel, bad)
	}
	b = append(b, '/')
	b = append(b, s...)
	if !lowerASCII(b) {
		return strings.ToLower(string(b)), nil
	}
	return string(b), nil
}

// lowerASCII lowers b in place and reports true when b is ASCII;
// otherwise it leaves b as it is and reports false (strings.ToLower
// applies then).
func lowerASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return true
}

// checkCreated compares the name of a folder the server created (its
// answer {"d":{"Name":…}}) with the predicted one: a difference means the
// server's naming rules are not the ones configured, and every later
// look-up would miss.
func (t *Target) checkCreated(op, predicted string, raw []byte) error {
	var body struct {
		D struct{ Name string } `json:"d"`
	}
	if json.Unmarshal(raw, &body) != nil || body.D.Name == "" || strings.EqualFold(body.D.Name, predicted) {
		return nil
	}
	return targets.Errorf(targets.Permanent, op, "the server named the folder %q where dropsync predicted %q: its naming rules differ; set invalid_name_chars and name_replacement on the target to the server's InvalidNameCharsPattern and ReplacementChar", body.D.Name, predicted)
}

// warnName logs when the server stored an upload under another name than
// predicted (rename aside, where it adds (N)): look-ups by name would miss
// it, so the target's naming settings need a look.
func (t *Target) warnName(f *targets.File, p *targets.Plan, stored string) {
	if !overwrite(f.OnConflict) && f.OnConflict != config.OnConflictSkip {
		return
	}
	if want := t.names.stored(p.Name); !strings.EqualFold(want, stored) {
		t.log.Warn("the server stored the file under another name than predicted; check invalid_name_chars and name_replacement",
			"path", f.Rel, "predicted", want, "stored", stored)
	}
}
