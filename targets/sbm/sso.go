package sbm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/redact"
	"github.com/dropsync/dropsync/internal/version"
	"github.com/dropsync/dropsync/targets"
)

// TokenHeader is the header that carries an SBM SSO token.
const TokenHeader = "ALFSSOAuthNToken"

const opToken = "sbm: get sso token"

// sso is the SBM single sign-on credential: a token from the SSO
// TokenService, fetched with the configured username and password, cached,
// and sent as the ALFSSOAuthNToken header. After a 401 it is fetched again.
// It is safe for concurrent use; concurrent requests share one fetch.
type sso struct {
	url      string
	username string
	password *targets.Secret
	http     *http.Client

	mu    sync.Mutex
	token string // the cached token value; "" until fetched
}

func newSSO(a config.Auth, hc *http.Client) (*sso, error) {
	u, err := url.Parse(a.TokenServiceURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auth.token_service_url: %q is not an http(s) URL (e.g. https://sso.example.com:8085/idp/services/rest/TokenService/)", a.TokenServiceURL)
	}
	return &sso{url: a.TokenServiceURL, username: a.Username, password: targets.NewSecret(a.Password, a.PasswordFile), http: hc}, nil
}

// Authorize implements targets.Authorizer.
func (s *sso) Authorize(ctx context.Context, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" {
		tok, err := s.fetch(ctx)
		if err != nil {
			return err
		}
		redact.Add(tok)
		s.token = tok
	}
	r.Header.Set(TokenHeader, s.token)
	return nil
}

// Refresh implements targets.Authorizer: the cached token is dropped if
// it is the one rejected carried.
func (s *sso) Refresh(rejected *http.Request) bool {
	s.mu.Lock()
	if s.token == rejected.Header.Get(TokenHeader) {
		s.token = ""
	}
	s.mu.Unlock()
	return true
}

type tokenRequest struct {
	Credentials struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"credentials"`
}

type tokenReply struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Token   struct {
		TokenType string `json:"tokenType"`
		Encoding  string `json:"encoding"`
		Value     string `json:"value"`
	} `json:"token"`
}

// fetch asks the TokenService for a token.
func (s *sso) fetch(ctx context.Context) (string, error) {
	var tr tokenRequest
	tr.Credentials.Username, tr.Credentials.Password = s.username, s.password.Reveal()
	body, err := json.Marshal(tr)
	if err != nil {
		return "", fmt.Errorf("%s: %w", opToken, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(string(body)))
	if err != nil {
		return "", fmt.Errorf("%s: %w", opToken, err)
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", version.UserAgent())
	resp, err := s.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s: %w", opToken, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", &targets.Error{Kind: targets.Retryable, Op: opToken, Msg: err.Error(), Err: err}
	}
	raw := targets.ReadBody(resp)
	var rep tokenReply
	jsonErr := json.Unmarshal(raw, &rep)
	words := rep.Message
	if jsonErr != nil || words == "" {
		words = targets.Shorten(string(raw))
	}
	switch {
	case resp.StatusCode/100 == 3 && resp.StatusCode != http.StatusNotModified:
		// A wrong token_service_url (http answered with https, a login
		// page): about the target, as Client.Do's unexpected redirects.
		return "", &targets.Error{Kind: targets.Unreachable, Op: opToken, Status: resp.StatusCode,
			Msg: fmt.Sprintf("the token_service_url redirects to %q (a moved server or a login page): check auth.token_service_url", targets.Location(resp))}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		// The TokenService's refusals are about the target's credentials
		// (a locked or expired account answers 400 or 403), never about a
		// file: what would fail a file for good rejects the credentials,
		// and the files wait for them to be fixed.
		e := targets.StatusError(opToken, resp, words)
		if e.Kind == targets.Permanent {
			e.Kind = targets.Auth
		}
		return "", e
	}
	switch {
	case jsonErr != nil:
		return "", &targets.Error{Kind: targets.Retryable, Op: opToken, Status: resp.StatusCode, Msg: "the reply is not a TokenService answer: " + words}
	case !strings.EqualFold(rep.Status, "OK"):
		return "", &targets.Error{Kind: targets.Auth, Op: opToken, Msg: fmt.Sprintf("status %s for user %s: %s", rep.Status, s.username, words)}
	case rep.Token.Value == "":
		return "", &targets.Error{Kind: targets.Auth, Op: opToken, Msg: "the TokenService answered OK without a token value"}
	}
	return rep.Token.Value, nil
}
