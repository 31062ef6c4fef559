package blueworks

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/dropsync/dropsync/targets"
)

// maxMoves caps the host moves followed for one request.
const maxMoves = 3

// router remembers, per host the configuration addresses (the target's url,
// the token URL), the account server Blueworks moved it to. It is safe for
// concurrent use.
type router struct {
	log *slog.Logger

	mu    sync.RWMutex
	moved map[string]*url.URL // "scheme://host" as configured → scheme and host to use
}

func newRouter(log *slog.Logger) *router {
	return &router{log: log, moved: map[string]*url.URL{}}
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// route returns u on the server its host moved to, or u itself.
func (r *router) route(u *url.URL) *url.URL {
	r.mu.RLock()
	m := r.moved[origin(u)]
	r.mu.RUnlock()
	if m == nil {
		return u
	}
	c := *u
	c.Scheme, c.Host = m.Scheme, m.Host
	return &c
}

// follow checks a redirect answered to sent (the request as routed, which
// addressed the configured URL orig) and, if it is a host move to the
// account's own server, remembers that server and returns where to send
// the request now.
func (r *router) follow(orig, sent *url.URL, location string) (*url.URL, error) {
	if location == "" {
		return nil, &moveError{fmt.Sprintf("%s answered a redirect without a Location", sent.Host)}
	}
	to, err := sent.Parse(location)
	if err != nil {
		return nil, &moveError{fmt.Sprintf("%s redirected to an unreadable Location %q", sent.Host, location)}
	}
	refuse := func(why string) error {
		return &moveError{fmt.Sprintf("%s redirected to %s://%s%s, which dropsync does not follow: %s; if that server is the account's, set url to it",
			sent.Host, to.Scheme, to.Host, to.EscapedPath(), why)}
	}
	switch {
	case to.Scheme != "https" && to.Scheme != "http":
		return nil, refuse("not http(s)")
	case sent.Scheme == "https" && to.Scheme != "https":
		return nil, refuse("it drops https")
	case to.EscapedPath() != sent.EscapedPath():
		return nil, refuse("it changes the path, so it is not a move to another server")
	case to.Host == sent.Host:
		return nil, refuse("it points at the same server")
	case !sameAccount(orig.Hostname(), to.Hostname()):
		return nil, refuse("it leaves " + accountDomain(orig.Hostname()))
	}
	r.mu.Lock()
	r.moved[origin(orig)] = &url.URL{Scheme: to.Scheme, Host: to.Host}
	r.mu.Unlock()
	r.log.Info("blueworks: the account's server moved", "from", orig.Host, "to", to.Host)
	return to, nil
}

// sameAccount reports whether a move from host from to host to stays on
// the account's servers: the same host name (another port), or, for a
// configured www.example.com or example.com, any host under example.com.
func sameAccount(from, to string) bool {
	from, to = strings.ToLower(from), strings.ToLower(to)
	if from == to {
		return true
	}
	if net.ParseIP(from) != nil || net.ParseIP(to) != nil {
		return false
	}
	return strings.HasSuffix(to, "."+accountDomain(from))
}

// accountDomain is the domain a configured host may move within.
func accountDomain(host string) string {
	host = strings.ToLower(host)
	if rest, ok := strings.CutPrefix(host, "www."); ok && strings.Contains(rest, ".") {
		return rest
	}
	return host
}

// moveError is a redirect dropsync refuses to follow. It is a
// configuration matter, so the upload fails permanently with it.
type moveError struct{ msg string }

func (e *moveError) Error() string { return e.msg }

// moveTransport sends requests to the server their host moved to, and
// follows a new host move (301 or 308) by sending the request again from
// its GetBody. A request whose body cannot be replayed gets the redirect
// as its response.
type moveTransport struct {
	next  http.RoundTripper
	moves *router
}

// RoundTrip implements http.RoundTripper.
func (m *moveTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := m.next
	if next == nil {
		next = http.DefaultTransport
	}
	out := req
	if u := m.moves.route(req.URL); u != req.URL {
		out = req.Clone(req.Context())
		out.URL, out.Host = u, ""
	}
	for hop := 0; ; hop++ {
		resp, err := next.RoundTrip(out)
		if err != nil || (resp.StatusCode != http.StatusMovedPermanently && resp.StatusCode != http.StatusPermanentRedirect) {
			return resp, err
		}
		if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
			return resp, nil
		}
		if hop == maxMoves {
			targets.DrainClose(resp)
			return nil, &moveError{fmt.Sprintf("%s: more than %d host moves", req.URL.Host, maxMoves)}
		}
		to, err := m.moves.follow(req.URL, out.URL, resp.Header.Get("Location"))
		targets.DrainClose(resp)
		if err != nil {
			return nil, err
		}
		again := req.Clone(req.Context())
		again.URL, again.Host = to, ""
		if req.GetBody != nil {
			if again.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		out = again
	}
}
