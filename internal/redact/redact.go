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

// maxValues bounds the registry: configured secrets and the tokens of the
// last hours, with their encoded forms, fit many times over.
const maxValues = 512

var reg = struct {
	sync.RWMutex
	seen map[string]*atomic.Uint64 // value → when it was last registered
}{seen: map[string]*atomic.Uint64{}}

// clock orders registrations.
var clock atomic.Uint64

// Add registers a credential value, with the forms a server may echo it
// in: URL-encoded (a form field, a query) and JSON-escaped. A value known
// already only has its age renewed, under the read lock: a credential
// revealed for every request costs little.
func Add(v string) {
	if len(v) < MinLen {
		return
	}
	forms := [...]string{v, url.QueryEscape(v), jsonEscaped(v)}
	known := true
	reg.RLock()
	for _, f := range forms {
		if a, ok := reg.seen[f]; ok {
			a.Store(clock.Add(1))
		} else {
			known = false
		}
	}
	reg.RUnlock()
	if known {
		return
	}
	reg.Lock()
	defer reg.Unlock()
	for _, f := range forms {
		if _, ok := reg.seen[f]; !ok {
			a := new(atomic.Uint64)
			a.Store(clock.Add(1))
			reg.seen[f] = a
		}
	}
	if len(reg.seen) > maxValues {
		evictOldest()
	}
}

// evictOldest drops the older half of the registry; reg is locked.
func evictOldest() {
	ages := make([]uint64, 0, len(reg.seen))
	for _, a := range reg.seen {
		ages = append(ages, a.Load())
	}
	slices.Sort(ages)
	cut := ages[len(ages)/2]
	for v, a := range reg.seen {
		if a.Load() < cut {
			delete(reg.seen, v)
		}
	}
}

func jsonEscaped(v string) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) < 2 {
		return v
	}
	return string(b[1 : len(b)-1])
}

// String returns s with every registered value replaced by Mark, the
// longest first (a value may contain another).
func String(s string) string {
	if len(s) < MinLen {
		return s
	}
	reg.RLock()
	var found []string
	for v := range reg.seen {
		if strings.Contains(s, v) {
			found = append(found, v)
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
