package targets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/version"
)

// Base is what the registry hands an adapter's factory: the target's
// configuration and the shared HTTP setup.
type Base struct {
	Name   string         // the target's name in the configuration
	Config *config.Target // common keys; adapter keys are in Config.Extra
	URL    *url.URL       // Config.URL, parsed
	HTTP   *http.Client   // timeouts, TLS options and keep-alive from the configuration
	Log    *slog.Logger
}

// NewHTTPClient builds the one HTTP client setup every target uses:
// connection and TLS-handshake timeouts, the configured per-request timeout
// applied to waiting for the response headers (a large upload may take
// longer than that to send), keep-alive, and the TLS options. Certificate
// verification stays on unless tls.insecure_skip_verify says otherwise.
func NewHTTPClient(t *config.Target) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.TLS.InsecureSkipVerify} //nolint:gosec // opt-in by configuration
	if t.TLS.CAFile != "" {
		pem, err := os.ReadFile(t.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", t.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	timeout := t.Timeout.D()
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        64 << 10,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		// Redirects are not followed: a redirected POST would lose its
		// streamed body. Adapters that expect one handle it themselves.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// Authorizer adds credentials to requests.
type Authorizer interface {
	// Authorize adds credentials to req, fetching a token if needed.
	Authorize(ctx context.Context, req *http.Request) error
	// Refresh forgets a cached token after the server answered 401 and
	// reports whether sending again may help.
	Refresh() bool
}

// Client sends an adapter's requests with its credentials and the
// dropsync User-Agent.
type Client struct {
	HTTP *http.Client
	Auth Authorizer
}

// NewClient returns a Client for the target with the given credentials.
func (b *Base) NewClient(a Authorizer) *Client { return &Client{HTTP: b.HTTP, Auth: a} }

// Do sends the request that build returns. A 401 from a refreshable
// credential refreshes it and sends again, once; build is called again for
// that, so it must rewind any Body it uses. A transport failure comes back as
// a Retryable *Error; cancellation as the context's error. The caller checks
// the status and closes the body.
func (c *Client) Do(ctx context.Context, op string, build func() (*http.Request, error)) (*http.Response, error) {
	for try := 0; ; try++ {
		req, err := build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		req = req.WithContext(ctx)
		req.Header.Set("User-Agent", version.UserAgent())
		if c.Auth != nil {
			if err := c.Auth.Authorize(ctx, req); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
		}
		var bodyClosed chan struct{}
		if req.Body != nil && req.Body != http.NoBody {
			bodyClosed = make(chan struct{})
			req.Body = &closeSignal{ReadCloser: req.Body, closed: bodyClosed}
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", op, ctx.Err())
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the URL may carry identifiers; the op says enough
			}
			return nil, &Error{Kind: Retryable, Op: op, Msg: err.Error(), Err: err}
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 0 && c.Auth != nil && c.Auth.Refresh() {
			DrainClose(resp)
			// The server may answer before reading the whole body; the
			// transport keeps reading it until it closes it. Rebuilding
			// (which rewinds the shared Body) must wait for that.
			if err := waitClosed(ctx, op, bodyClosed); err != nil {
				return nil, err
			}
			continue
		}
		return resp, nil
	}
}

// closeSignal reports when the transport has closed a request body, after
// which it reads no more of it.
type closeSignal struct {
	io.ReadCloser
	once   sync.Once
	closed chan struct{}
}

func (c *closeSignal) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.ReadCloser.Close()
}

func waitClosed(ctx context.Context, op string, closed chan struct{}) error {
	if closed == nil {
		return nil
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", op, ctx.Err())
	case <-t.C:
		return &Error{Kind: Retryable, Op: op, Msg: "the rejected request's body was not released in time; sending again later"}
	}
}

// ReadBody reads at most 1 MiB of a response body, for parsing a reply or
// an error message, and closes it.
func ReadBody(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return b
}

// DrainClose discards what is left of a response body (so the connection
// can be reused) and closes it.
func DrainClose(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
