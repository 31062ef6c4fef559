package targets

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Fake is an adapter's faithful fake server: strict about what the API's
// documentation requires, keeping what it receives, so that tests, the demo
// and `dropsync fake-server` can run without the real system.
type Fake interface {
	http.Handler
	// Setup describes how to point dropsync at this fake when it is served
	// at baseURL (no trailing slash).
	Setup(baseURL string) FakeSetup
}

// FakeSetup is the configuration that uses a fake.
type FakeSetup struct {
	// Target is the YAML of a target block for this fake, one key per line,
	// unindented, including type, url and auth.
	Target string
	// Destination is a watch's destination as a YAML flow mapping, e.g.
	// "{path: /Root/Content/Documents}".
	Destination string
	// OnConflict is the on_conflict a watch needs for this API when the
	// default (version) is not possible; "" keeps the default.
	OnConflict string
	// Notes are printed by `dropsync fake-server`: the credentials the fake
	// accepts and the objects it pre-created.
	Notes []string
}

var fakes = map[string]func() Fake{}

// RegisterFake makes an adapter's fake available under the adapter's type.
func RegisterFake(typ string, f func() Fake) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := fakes[typ]; dup {
		panic("targets: duplicate fake for " + typ)
	}
	fakes[typ] = f
}

// NewFake returns a fresh fake for the adapter type.
func NewFake(typ string) (Fake, error) {
	mu.RLock()
	f, ok := fakes[typ]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("no fake server for %q (known: %s)", typ, strings.Join(FakeTypes(), ", "))
	}
	return f(), nil
}

// FakeTypes lists the adapter types that have a fake, sorted.
func FakeTypes() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(fakes))
	for t := range fakes {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
