// Package redact keeps the credentials this process puts on the wire and
// removes them from text that leaves it.
//
// A server may answer with what it was sent: an error page that echoes the
// request's headers (Authorization: Basic …, a bearer token), a token
// endpoint's page that echoes its form (client_secret=…). dropsync puts a
// server's own words in its errors, and errors reach the log, the database
// and `dropsync status`. The invariant:
//
//   - every credential value is registered with Add before a request
//     carries it: config.Secret.Reveal registers what it reveals, and
//     whatever derives a new credential (a Basic header's base64, a token
//     fetched from an identity provider) registers that too;
//   - every text made from a server's answer passes through String before
//     it is shown or stored: targets.Error's text, the daemon's record of
//     a failure, and every log record (the last net).
//
// Values shorter than MinLen are not kept: they would garble every message
// they happen to occur in. The registry is bounded: the least recently
// registered values go first (a credential in use is registered again each
// time it is revealed; tokens that expired hours ago are not).
package redact

import (
	"encoding/json"
	"html"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mark replaces a credential in text.
const Mark = "[redacted]"

// MinLen is the shortest value that is kept.
const MinLen = 4

// maxValues bounds the registry: the configured secrets and the tokens
// of the last days fit many times over.
const maxValues = 256

// entry is a registered value with the forms it may be echoed in.
type entry struct {
	forms []string
	age   atomic.Uint64 // when it was last registered
}

var reg = struct {
	sync.RWMutex
	seen map[string]*entry // by the value itself
}{seen: map[string]*entry{}}

// clock orders registrations.
var clock atomic.Uint64

// Add registers a credential value, with the forms a server may echo it
// in: URL-encoded (a form field or query, a path), JSON-escaped (without
// HTML escaping, as servers write it) and HTML-escaped (an error page, an
// XML body). A value known
// already only has its age renewed, under the read lock: a credential
// revealed for every request costs a map lookup.
func Add(v string) {
	if len(v) < MinLen {
		return
	}
	reg.RLock()
	e, ok := reg.seen[v]
	if ok {
		e.age.Store(clock.Add(1))
	}
	reg.RUnlock()
	if ok {
		return
	}
	e = &entry{forms: []string{v}}
	for _, f := range []string{url.QueryEscape(v), url.PathEscape(v), jsonEscaped(v), html.EscapeString(v)} {
		if !slices.Contains(e.forms, f) {
			e.forms = append(e.forms, f)
		}
	}
	e.age.Store(clock.Add(1))
	reg.Lock()
	defer reg.Unlock()
	if _, ok := reg.seen[v]; ok {
		return
	}
	reg.seen[v] = e
	if len(reg.seen) > maxValues {
		evictOldest()
	}
}

// evictOldest drops the older half of the registry; reg is locked.
func evictOldest() {
	ages := make([]uint64, 0, len(reg.seen))
	for _, e := range reg.seen {
		ages = append(ages, e.age.Load())
	}
	slices.Sort(ages)
	cut := ages[len(ages)/2]
	for v, e := range reg.seen {
		if e.age.Load() < cut {
			delete(reg.seen, v)
		}
	}
}

func jsonEscaped(v string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return v
	}
	s := strings.TrimSuffix(b.String(), "\n")
	if len(s) < 2 {
		return v
	}
	return s[1 : len(s)-1]
}

// String returns s with every registered value replaced by Mark, the
// longest first (a value may contain another).
func String(s string) string {
	if len(s) < MinLen {
		return s
	}
	reg.RLock()
	var found []string
	for _, e := range reg.seen {
		for _, f := range e.forms {
			if strings.Contains(s, f) {
				found = append(found, f)
			}
		}
	}
	reg.RUnlock()
	if len(found) == 0 {
		return s
	}
	slices.SortFunc(found, func(a, b string) int { return len(b) - len(a) })
	for _, v := range found {
		s = strings.ReplaceAll(s, v, Mark)
	}
	return s
}
