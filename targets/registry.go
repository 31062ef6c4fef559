package targets

import (
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/dropsync/dropsync/config"
)

// Factory builds a Target from its configuration. It decodes the adapter's
// own keys strictly (b.Config.Extra.Decode) and checks them.
type Factory func(b *Base) (Target, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes an adapter available under its type name. It panics on a
// duplicate, which is a programming error. Type names are stored in the
// queue, so they never change.
func Register(typ string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[typ]; dup {
		panic("targets: duplicate registration of " + typ)
	}
	factories[typ] = f
}

// Types lists the registered adapter types, sorted.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for t := range factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// New builds the configured target t.
func New(t *config.Target, log *slog.Logger) (Target, error) {
	mu.RLock()
	f, ok := factories[t.Type]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("targets.%s.type: unknown type %q (known: %s)", t.Name, t.Type, strings.Join(Types(), ", "))
	}
	u, err := url.Parse(strings.TrimRight(t.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("targets.%s.url: %w", t.Name, err)
	}
	hc, err := NewHTTPClient(t)
	if err != nil {
		return nil, fmt.Errorf("targets.%s.%w", t.Name, err)
	}
	if log == nil {
		log = slog.Default()
	}
	tg, err := f(&Base{Name: t.Name, Config: t, URL: u, HTTP: hc, Log: log.With("target", t.Name)})
	if err == nil && !t.Extra.Checked() {
		err = t.Extra.Decode() // the adapter has no keys of its own: any is unknown
	}
	if err != nil {
		return nil, prefixField("targets."+t.Name, err)
	}
	return tg, nil
}

// Set is every configured target with every watch's parsed destination.
type Set struct {
	Targets map[string]Target
	Dests   []any // per watch, in configuration order
}

// Build builds all targets of c and checks every watch against its target.
// Errors name the configuration field.
func Build(c *config.Config, log *slog.Logger) (*Set, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Set{Targets: map[string]Target{}}
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t, err := New(c.Targets[n], log)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Targets[n] = t
	}
	for i, w := range c.Watches {
		if fl, ok := s.Targets[w.Target].(Flattener); ok && fl.FlatNames() && w.IsRecursive() {
			log.Warn("files with the same name in different sub-folders of this watch share one remote name: the target has no folders",
				"watch", w.Path, "target", w.Target)
		}
		d, err := s.Targets[w.Target].Watch(w)
		if err == nil && !w.Destination.Checked() {
			err = w.Destination.Decode()
		}
		if err != nil {
			s.Close()
			return nil, prefixField(fmt.Sprintf("watches[%d]", i), err)
		}
		s.Dests = append(s.Dests, d)
	}
	return s, nil
}

// Close releases the targets' resources.
func (s *Set) Close() {
	for _, t := range s.Targets {
		if c, ok := t.(Closer); ok {
			c.Close()
		}
	}
}

// prefixField prefixes a field-naming error ("destination.path: …") with
// the block it belongs to, leaving "line N:" errors as they are.
func prefixField(prefix string, err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "line ") || strings.HasPrefix(msg, prefix) {
		return err
	}
	return fmt.Errorf("%s.%w", prefix, err)
}
