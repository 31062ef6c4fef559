package targets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/internal/redact"
)

// AuthOptions tunes NewAuth to an API.
type AuthOptions struct {
	// Allowed lists the auth types the API accepts; others are refused.
	Allowed []string
	// APIKeyHeader is the header that carries an apikey credential.
	APIKeyHeader string
	// DefaultTokenURL is used for oauth2 when auth.token_url is empty.
	DefaultTokenURL string
	// ClientAuthInBody sends the oauth2 client id and secret as form fields
	// instead of HTTP Basic.
	ClientAuthInBody bool
	// HTTP is the client for token requests.
	HTTP *http.Client
}

// NewAuth builds the standard credentials: none, basic, bearer, apikey, or
// oauth2 client credentials (token cached until it expires and fetched again
// after a 401).
func NewAuth(a config.Auth, o AuthOptions) (Authorizer, error) {
	if len(o.Allowed) > 0 && !contains(o.Allowed, a.Type) {
		return nil, fmt.Errorf("auth.type: %q is not supported here (use %s)", a.Type, strings.Join(o.Allowed, " or "))
	}
	switch a.Type {
	case "none":
		return headerAuth{}, nil
	case "basic":
		pw := NewSecret(a.Password, a.PasswordFile)
		return headerAuth{set: func(r *http.Request) {
			p := pw.Reveal()
			r.SetBasicAuth(a.Username, p)
			registerBasic(a.Username, p)
		}}, nil
	case "bearer":
		tok := NewSecret(a.Token, a.TokenFile)
		return headerAuth{set: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Reveal()) }}, nil
	case "apikey":
		h := o.APIKeyHeader
		if h == "" {
			h = "apikey"
		}
		key := NewSecret(a.Key, a.KeyFile)
		return headerAuth{set: func(r *http.Request) { r.Header.Set(h, key.Reveal()) }}, nil
	case "oauth2":
		tokenURL := a.TokenURL
		if tokenURL == "" {
			tokenURL = o.DefaultTokenURL
		}
		if tokenURL == "" {
			return nil, fmt.Errorf("auth.token_url: required for auth type oauth2")
		}
		cc := &clientcredentials.Config{ClientID: a.ClientID, ClientSecret: a.ClientSecret.Reveal(), TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
		if o.ClientAuthInBody {
			cc.AuthStyle = oauth2.AuthStyleInParams
		}
		if a.Scope != "" {
			cc.Scopes = strings.Fields(a.Scope)
		}
		return &OAuth2{cfg: cc, http: o.HTTP, secret: NewSecret(a.ClientSecret, a.ClientSecretFile), fetch: make(chan struct{}, 1)}, nil
	}
	return nil, fmt.Errorf("auth.type: %q is not supported here", a.Type)
}

type headerAuth struct{ set func(*http.Request) }

func (h headerAuth) Authorize(_ context.Context, r *http.Request) error {
	if h.set != nil {
		h.set(r)
	}
	return nil
}

func (headerAuth) Refresh(*http.Request) bool { return false }

// OAuth2 is the client-credentials flow: a token fetched from the token
// URL, cached until shortly before it expires, and dropped after a 401.
// Each fetch runs under the context of the request that needs the token,
// so a stop is honoured during it; one fetch runs at a time, and callers
// waiting for it give up when their own context ends.
type OAuth2 struct {
	cfg    *clientcredentials.Config
	http   *http.Client
	secret *Secret

	fetch chan struct{} // holds one token while a fetch runs

	mu  sync.Mutex
	tok *oauth2.Token
}

// Authorize implements Authorizer.
func (o *OAuth2) Authorize(ctx context.Context, r *http.Request) error {
	tok, err := o.token(ctx)
	if err != nil {
		return tokenError(err)
	}
	redact.Add(tok.AccessToken)
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// token returns the cached token while it is valid, and fetches a new one
// under ctx otherwise.
func (o *OAuth2) token(ctx context.Context) (*oauth2.Token, error) {
	if tok := o.cached(); tok != nil {
		return tok, nil
	}
	select {
	case o.fetch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-o.fetch }()
	if tok := o.cached(); tok != nil { // fetched while this caller waited
		return tok, nil
	}
	if o.http != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, o.http)
	}
	o.cfg.ClientSecret = o.secret.Reveal() // client_secret_file may have changed; cfg is only used here, one fetch at a time
	if o.cfg.AuthStyle == oauth2.AuthStyleInHeader {
		// The library sends the id and secret query-escaped as HTTP Basic.
		registerBasic(url.QueryEscape(o.cfg.ClientID), url.QueryEscape(o.cfg.ClientSecret))
	}
	tok, err := o.cfg.Token(ctx)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.tok = tok
	o.mu.Unlock()
	return tok, nil
}

func (o *OAuth2) cached() *oauth2.Token {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tok.Valid() {
		return o.tok
	}
	return nil
}

// Refresh implements Authorizer: the cached token is dropped if it is
// the one rejected carried.
func (o *OAuth2) Refresh(rejected *http.Request) bool {
	o.mu.Lock()
	if o.tok != nil && rejected.Header.Get("Authorization") == "Bearer "+o.tok.AccessToken {
		o.tok = nil
	}
	o.mu.Unlock()
	return true
}

// tokenError classifies a failed token fetch. The token endpoint's
// refusals are about the target's credentials, never about a file: a 4xx
// is Auth (RFC 6749 §5.2 answers invalid_client, unauthorized_client,
// invalid_grant and invalid_scope with 400, some servers with 401 or
// 403), so the target waits for a fixed secret instead of failing every
// file of the backlog; a 429 is Throttled with its Retry-After; the rest
// (5xx, no answer) is Retryable. A redirect is a wrong token_url (an
// http:// answered with https://, a moved identity provider, a login
// page), about the target as Client.Do's unexpected redirects are:
// Unreachable, naming where it points.
func tokenError(err error) *Error {
	e := &Error{Kind: Retryable, Op: "get oauth2 token", Msg: tokenErrorMsg(err), Err: err}
	var re *oauth2.RetrieveError
	switch {
	case errors.Is(err, context.Canceled):
		e.Kind = Canceled
	case errors.As(err, &re) && re.Response != nil:
		// As any API's answer (StatusError: a 503 with Retry-After is
		// throttled too), but a refusal is about the credentials.
		se := StatusError(e.Op, re.Response, e.Msg)
		e.Status, e.RetryAfter = se.Status, se.RetryAfter
		switch {
		case e.Status/100 == 3 && e.Status != http.StatusNotModified:
			e.Kind = Unreachable
			e.Msg = fmt.Sprintf("the token_url redirects to %q (a moved server or a login page): check auth.token_url", Location(re.Response))
		case se.Kind == Throttled:
			e.Kind = Throttled
		case e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout:
			e.Kind = Auth
		default:
			e.Kind = se.Kind
		}
	}
	return e
}

func tokenErrorMsg(err error) string {
	if re, ok := err.(*oauth2.RetrieveError); ok {
		if re.ErrorDescription != "" {
			return re.ErrorCode + ": " + re.ErrorDescription
		}
		if re.ErrorCode != "" {
			return re.ErrorCode
		}
		if words := Shorten(string(re.Body)); words != "" {
			return "the token endpoint answered: " + words
		}
		if re.Response != nil {
			return "the token endpoint refused without a reason"
		}
	}
	return err.Error()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Secret is a credential that follows its *_file: when the file changes on
// disk (an operator fixing or rotating a token), the next request reads it
// again, so a target whose credentials were rejected recovers without a
// restart. A secret given inline or through ${ENV} never changes.
type Secret struct {
	path string

	mu    sync.Mutex
	val   config.Secret
	stamp fsid.Fingerprint // the file's when val was read (fileStamp)
}

// NewSecret returns the secret val, read from path (if not "") when that
// file changes.
func NewSecret(val config.Secret, path string) *Secret {
	s := &Secret{path: path, val: val}
	if path != "" {
		s.stamp, _ = fileStamp(path)
	}
	return s
}

// Reveal returns the current value.
func (s *Secret) Reveal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		return s.val.Reveal()
	}
	if st, ok := fileStamp(s.path); ok && st != s.stamp {
		// Read as at start (size cap, trailing newline dropped); a file
		// caught empty half-way through an edit keeps the old value.
		if v, _, err := config.ReadSecretFile(s.path); err == nil {
			s.val, s.stamp = v, st
		}
	}
	return s.val.Reveal()
}

// fileStamp identifies a file's content cheaply: its fingerprint (size,
// modification and change time, inode and device; false when it cannot be
// read). The change time and the inode catch a rotation that keeps size
// and mtime (cp -p of a token of the same length, a file renamed over it
// with its times restored), which size and mtime alone missed.
func fileStamp(path string) (fsid.Fingerprint, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fsid.Fingerprint{}, false
	}
	return fsid.Of(fi), true
}

// CredentialFiles lists the *_file paths of a target's credentials.
func CredentialFiles(a config.Auth) []string {
	var out []string
	for _, p := range []string{a.PasswordFile, a.TokenFile, a.KeyFile, a.ClientSecretFile} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// CredentialStamp identifies the current content of a target's credential
// files; it changes when one of them does.
func CredentialStamp(a config.Auth) string {
	var b strings.Builder
	for _, p := range CredentialFiles(a) {
		if fp, ok := fileStamp(p); ok {
			fmt.Fprint(&b, fp)
		}
		b.WriteByte(';')
	}
	return b.String()
}
