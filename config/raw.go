package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Raw is a YAML block whose shape belongs to a target adapter: a target's
// adapter-specific options, or a watch's destination. The adapter decodes
// it strictly with Decode.
type Raw struct {
	node    *yaml.Node
	what    string   // e.g. "targets.docs" or "watches[0].destination", for messages
	also    []string // keys accepted beside the adapter's, for messages
	checked bool
	scrub   *scrubber // removes values that may be secret from messages
}

// Checked reports whether Decode has run.
func (r *Raw) Checked() bool { return r.checked }

// IsZero reports whether the block is absent or empty.
func (r Raw) IsZero() bool { return r.node == nil || len(r.node.Content) == 0 }

// keys lists the block's keys.
func (r Raw) keys() []string {
	if r.node == nil {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(r.node.Content); i += 2 {
		out = append(out, r.node.Content[i].Value)
	}
	return out
}

// Line is the line the block starts on, or 0.
func (r Raw) Line() int {
	if r.node == nil {
		return 0
	}
	return r.node.Line
}

// Decode decodes the block into the structs dst, strictly: every key must
// belong to one of them, else the error names the key, its line and the keys
// that are accepted.
func (r *Raw) Decode(dst ...any) error {
	r.checked = true
	if r.IsZero() {
		return nil
	}
	known := map[string]bool{}
	for _, k := range r.also {
		known[k] = true
	}
	for _, d := range dst {
		t := reflect.TypeOf(d).Elem()
		for _, k := range yamlKeys(t) {
			known[k] = true
		}
		if err := checkKnown(r.node, t, r.what, nil); err != nil {
			return r.scrub.err(err)
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(r.node.Content); i += 2 {
		k := r.node.Content[i]
		if !known[k.Value] {
			return unknownKey(k, r.what, known)
		}
		if seen[k.Value] {
			// yaml.v3 keeps the last of a repeated key in a block it
			// decodes later: one of the two values would be dropped.
			return fmt.Errorf("line %d: %s.%s is given twice", k.Line, r.what, k.Value)
		}
		seen[k.Value] = true
	}
	for _, d := range dst {
		if err := r.node.Decode(d); err != nil {
			return r.scrub.err(fmt.Errorf("%s: %s", r.what, yamlValue.ReplaceAllString(cleanYAMLError(err).Error(), "")))
		}
	}
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler; the block is kept for later.
func (r *Raw) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return fmt.Errorf("line %d: must be a mapping of keys", n.Line)
	}
	r.node = n
	return nil
}

func unknownKey(k *yaml.Node, where string, known map[string]bool) error {
	if where == "" {
		where = "the configuration's top level"
	}
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	name := strconv.Quote(k.Value)
	if i := strings.IndexAny(k.Value, ": \t"); i >= 0 {
		// "token:S3cr3t" (no space after the colon) is one key holding a
		// value, which may be a secret: only what comes before is named.
		name = strconv.Quote(k.Value[:i]) + " followed by a value without a space after the colon"
	} else if len(k.Value) > 40 {
		name = fmt.Sprintf("of %d characters", len(k.Value))
	}
	return fmt.Errorf("line %d: unknown key %s in %s (accepted: %s)", k.Line, name, where, strings.Join(names, ", "))
}

// yamlKeys lists the yaml keys of struct type t.
func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		out = append(out, name)
	}
	return out
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	if tag == "-" {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	extraType       = reflect.TypeOf((*extraKeys)(nil)).Elem()
)

// extraKeys is implemented by structs that keep unknown keys for an adapter
// (Target) instead of rejecting them.
type extraKeys interface{ keepsExtraKeys() }

// checkKnown walks node against type t and reports the first key that t does
// not declare. skip lists keys of the top mapping to ignore.
func checkKnown(n *yaml.Node, t reflect.Type, where string, skip map[string]bool) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) && !reflect.PointerTo(t).Implements(extraType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("line %d: %s must be a mapping of keys", n.Line, where)
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			if name := yamlName(t.Field(i)); name != "" {
				fields[name] = t.Field(i)
			}
		}
		lenient := reflect.PointerTo(t).Implements(extraType)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if skip[k.Value] {
				continue
			}
			f, ok := fields[k.Value]
			if !ok {
				if lenient {
					continue
				}
				known := map[string]bool{}
				for name := range fields {
					known[name] = true
				}
				return unknownKey(k, where, known)
			}
			if err := checkKnown(v, f.Type, join(where, k.Value), nil); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKnown(n.Content[i+1], t.Elem(), join(where, n.Content[i].Value), nil); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := checkKnown(c, t.Elem(), fmt.Sprintf("%s[%d]", where, i), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

// expandEnv replaces ${VAR} in every scalar value with the environment
// variable's value; $$ stands for a literal $. An unset variable is an error
// naming its key and line, so a typo never becomes an empty password.
// Messages never show a value: in a secret key (see secretKeys) the
// variable's name is shown only when the whole value is that one ${NAME},
// because otherwise the name may be part of the secret itself. Every value
// taken from the environment, and every secret key's value, goes to scrub.
func expandEnv(n *yaml.Node, path string, scrub *scrubber) error {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if secretKeys[k.Value] && v.Kind == yaml.ScalarNode {
				scrub.add(v.Value)
			}
			if err := expandEnv(v, p, scrub); err != nil {
				return err
			}
			if secretKeys[k.Value] && v.Kind == yaml.ScalarNode {
				scrub.add(v.Value)
			}
		}
		return nil
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandEnv(c, fmt.Sprintf("%s[%d]", path, i), scrub); err != nil {
				return err
			}
		}
		return nil
	case yaml.ScalarNode:
	default:
		return nil
	}
	if !strings.Contains(n.Value, "$") {
		return nil
	}
	key := path[strings.LastIndexAny(path, ".]")+1:]
	secret := secretKeys[key]
	var b strings.Builder
	v := n.Value
	for i := 0; i < len(v); i++ {
		if v[i] != '$' || i+1 >= len(v) {
			b.WriteByte(v[i])
			continue
		}
		switch v[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(v[i:], '}')
			if end < 0 {
				return fmt.Errorf("line %d: %s: unclosed ${ (write $$ for a literal $)", n.Line, path)
			}
			name := v[i+2 : i+end]
			val, ok := os.LookupEnv(name)
			if !ok {
				if !envName.MatchString(name) || (secret && v != "${"+name+"}") {
					return fmt.Errorf("line %d: %s: refers to an environment variable that is not set (the value is not shown; write $$ for a literal $)", n.Line, path)
				}
				return fmt.Errorf("line %d: %s: environment variable %s is not set", n.Line, path, name)
			}
			scrub.add(val)
			b.WriteString(val)
			i += end
		default:
			b.WriteByte('$')
		}
	}
	n.Value = b.String()
	return nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// cleanYAMLError turns yaml.v3's multi-line "unmarshal errors" into one line.
func cleanYAMLError(err error) error {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimPrefix(s, "yaml: ")
	s = strings.Join(strings.Fields(s), " ")
	// yaml.v3 quotes text of the document in some messages: the name of
	// an alias ("unknown anchor 'X' referenced", which a password that
	// starts with * becomes) or a value. It may be a secret: only short
	// quotes (the punctuation yaml expected) stay.
	s = yamlQuoted.ReplaceAllString(s, "…")
	return fmt.Errorf("%s", s)
}

// yamlQuoted matches what yaml.v3 quotes of a document in single quotes
// in its messages, three characters or more (a value it quotes in
// backquotes is dropped by locate).
var yamlQuoted = regexp.MustCompile("'[^']{3,}'")
