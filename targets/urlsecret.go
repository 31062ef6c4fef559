package targets

import (
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/dropsync/dropsync/internal/redact"
)

// A url may carry a credential: https://user:password@host (the target's
// url, an auth.token_url). net/http sends it as Basic auth to every request
// made with that url that has no Authorization header of its own, so a
// server that echoes the request puts it in an error page. registerURLs
// registers it with package redact when the target's HTTP client is built,
// and registerUserinfo again for every request (the registry forgets what
// is not renewed). Messages never print such a url whole: they name the
// host, or use url.Redacted.

// registerURLs registers the credentials in the userinfo of each raw url,
// also as written in it (percent-encoded).
func registerURLs(raws ...string) {
	for _, raw := range raws {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		registerUserinfo(u)
		if _, rest, ok := strings.Cut(raw, "://"); ok {
			if at := strings.LastIndexByte(rest[:authorityEnd(rest)], '@'); at >= 0 {
				if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
					redact.Add(pw) // as written, before unescaping
				}
			}
		}
	}
}

// authorityEnd is the end of the authority (userinfo@host:port) at the
// start of rest.
func authorityEnd(rest string) int {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return i
	}
	return len(rest)
}

// registerUserinfo registers the password in u's userinfo and the value of
// the Basic Authorization header net/http derives from the userinfo.
func registerUserinfo(u *url.URL) {
	if u == nil || u.User == nil {
		return
	}
	name := u.User.Username()
	pw, _ := u.User.Password()
	if name == "" && pw == "" {
		return
	}
	redact.Add(pw)
	if s := u.User.String(); strings.Contains(s, ":") {
		_, escaped, _ := strings.Cut(s, ":")
		redact.Add(escaped)
	}
	registerBasic(name, pw)
}

// registerBasic registers the value of the Basic Authorization header for
// user and password, the form a server that echoes the request shows.
func registerBasic(user, password string) {
	redact.Add(base64.StdEncoding.EncodeToString([]byte(user + ":" + password)))
}
