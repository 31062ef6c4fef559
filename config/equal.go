package config

import (
	"reflect"

	"gopkg.in/yaml.v3"
)

// Same reports whether two watch blocks configure the same thing; where
// they stand in the file (line numbers) does not count. A reload uses it to
// tell changed watches from unchanged ones.
func (w *Watch) Same(o *Watch) bool {
	if w == nil || o == nil {
		return w == o
	}
	a, b := *w, *o
	if !sameRaw(a.Destination, b.Destination) {
		return false
	}
	a.Destination, b.Destination = Raw{}, Raw{}
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

// Same reports whether two target blocks configure the same thing, line
// numbers aside.
func (t *Target) Same(o *Target) bool {
	if t == nil || o == nil {
		return t == o
	}
	a, b := *t, *o
	if !sameRaw(a.Extra, b.Extra) {
		return false
	}
	a.Extra, b.Extra = Raw{}, Raw{}
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

// sameRaw compares two adapter blocks by their YAML content.
func sameRaw(a, b Raw) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	x, errA := yaml.Marshal(a.node)
	y, errB := yaml.Marshal(b.node)
	return errA == nil && errB == nil && string(x) == string(y)
}
