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
	"sync/atomic"
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
// applied to waiting for the response headers once the request is sent
// (longer for a large body, see deadlineTransport) and to reading the whole
// answer, keep-alive, and the TLS options. Certificate verification stays
// on unless tls.insecure_skip_verify says otherwise.
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
		DialContext:           pooledCopyDial((&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext),
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        64 << 10,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: &deadlineTransport{next: tr, timeout: timeout},
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
	// Stall aborts a request that makes no progress (no request body
	// bytes taken, no response bytes read) for this long; 0: never.
	Stall time.Duration
	// Redirects hands 3xx answers to the adapter, which expects them (a
	// login page it explains itself). Otherwise Do turns a redirect into
	// an Unreachable error naming the Location: the url is wrong.
	Redirects bool
}

// NewClient returns a Client for the target with the given credentials;
// a request stalled for the target's timeout is aborted.
func (b *Base) NewClient(a Authorizer) *Client {
	return &Client{HTTP: b.HTTP, Auth: a, Stall: b.Config.Timeout.D()}
}

// Do sends the request that build returns. A 401 from a refreshable
// credential refreshes it and sends again, once; build is called again for
// that, so it must rewind any Body it uses. A request that makes no
// progress for c.Stall (a server that stops reading an upload or never
// answers) is aborted. A transport failure comes back as a Retryable
// *Error; cancellation as the context's error. The caller checks the status
// and must close the response body.
func (c *Client) Do(ctx context.Context, op string, build func() (*http.Request, error)) (*http.Response, error) {
	for try := 0; ; try++ {
		req, err := build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		req.Header.Set("User-Agent", version.UserAgent())
		if c.Auth != nil {
			if err := c.Auth.Authorize(ctx, req); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
		}
		act := newActivity(ctx, c.Stall)
		bodies := &bodyTracker{}
		if req.Body != nil && req.Body != http.NoBody { // else nothing to send: only the answer is watched
			act.resume()
			req.Body = bodies.wrap(req.Body, act)
			if gb := req.GetBody; gb != nil { // the transport re-sends (redirects, retried connections)
				req.GetBody = func() (io.ReadCloser, error) {
					rc, err := gb()
					if err != nil {
						return nil, err
					}
					return bodies.wrap(rc, act), nil
				}
			}
		}
		resp, err := c.HTTP.Do(req.WithContext(act.ctx))
		if err != nil {
			act.end()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", op, ctx.Err())
			}
			if act.stalled() {
				return nil, &Error{Kind: Retryable, Op: op, Msg: fmt.Sprintf("no progress for %s: the server stopped reading or answering", c.Stall), Err: err}
			}
			te := transportError(op, err)
			if readOnly(ctx) {
				te.Ambiguous = false
			}
			return nil, te
		}
		act.resume()
		resp.Body = &watchedBody{ReadCloser: resp.Body, act: act, bodies: bodies}
		if resp.StatusCode/100 == 3 && resp.StatusCode != http.StatusNotModified && !c.Redirects {
			DrainClose(resp)
			return nil, &Error{Kind: Unreachable, Op: op, Status: resp.StatusCode,
				Msg: fmt.Sprintf("unexpected redirect to %q (a moved server or a login page): check the target's url and auth", location(resp))}
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 0 && c.Auth != nil && c.Auth.Refresh() {
			if err := drainClose(resp); err != nil {
				return nil, &Error{Kind: Retryable, Op: op, Msg: err.Error(), Err: err}
			}
			continue
		}
		return resp, nil
	}
}

type readOnlyKey struct{}

// ReadOnly marks requests made with the returned context as reads that
// change nothing on the server even when they carry a body (SBM's
// GetFileField is a POST): a lost answer to them is never ambiguous.
func ReadOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnlyKey{}, true)
}

func readOnly(ctx context.Context) bool { v, _ := ctx.Value(readOnlyKey{}).(bool); return v }

// transportError classifies a request that got no answer: the target is
// Unreachable when no connection could be made (refused, DNS, TLS);
// otherwise the failure is Retryable, and Ambiguous when the whole body had
// been sent (the server may have stored it).
func transportError(op string, err error) *Error {
	e := &Error{Kind: Retryable, Op: op, Err: err}
	var na *noAnswerError
	if errors.As(err, &na) {
		e.Ambiguous = na.bodySent
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL may carry identifiers; the op says enough
	}
	e.Msg = err.Error()
	var oe *net.OpError
	var de *net.DNSError
	var ce *tls.CertificateVerificationError
	var re tls.RecordHeaderError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	if (errors.As(err, &oe) && oe.Op == "dial") || errors.As(err, &de) || errors.As(err, &ce) || errors.As(err, &re) ||
		errors.As(err, &ua) || errors.As(err, &he) {
		e.Kind, e.Ambiguous = Unreachable, false
	}
	return e
}

// location is a redirect's target without its query, which may carry
// anything.
func location(resp *http.Response) string {
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "an unreadable Location"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// answerRate is the rate at which a server is assumed to take in (store,
// decode, scan) a body it has received before it answers: the wait for the
// response headers is the target's timeout plus the body's size at this
// rate.
const answerRate = 8 << 20 // bytes per second

// errNoAnswer and errSlowAnswer end requests the server does not answer in
// time.
var (
	errNoAnswer   = errors.New("no answer in time")
	errSlowAnswer = errors.New("the answer did not arrive in time")
)

// noAnswerError is a request that ended without response headers;
// bodySent tells whether the whole request body had been sent.
type noAnswerError struct {
	err      error
	bodySent bool
}

func (e *noAnswerError) Error() string {
	if e.bodySent {
		return "sent, but no answer: " + e.err.Error()
	}
	return e.err.Error()
}

func (e *noAnswerError) Unwrap() error { return e.err }

// deadlineTransport bounds every exchange, so that no server can hold a
// worker: once the request (and its body) is sent, the response headers
// must arrive within timeout plus the body's size at answerRate; once they
// have, the whole answer must be read within timeout, whatever trickle of
// bytes the server sends. A failure without an answer tells whether the
// body had been sent whole.
type deadlineTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

// RoundTrip implements http.RoundTripper.
func (t *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.timeout <= 0 {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	x := &exchange{timeout: t.timeout, cancel: cancel}
	out := req.WithContext(ctx)
	if req.Body == nil || req.Body == http.NoBody {
		x.sent()
	} else {
		out.Body = x.wrap(req.Body)
		if gb := req.GetBody; gb != nil {
			out.GetBody = func() (io.ReadCloser, error) {
				rc, err := gb()
				if err != nil {
					return nil, err
				}
				return x.wrap(rc), nil
			}
		}
	}
	resp, err := t.next.RoundTrip(out)
	if err != nil {
		x.end()
		cause := context.Cause(ctx)
		cancel(nil)
		if errors.Is(cause, errNoAnswer) {
			err = fmt.Errorf("%w after %s: %w", errNoAnswer, t.timeout, err)
		}
		if req.Context().Err() != nil {
			return nil, err
		}
		return nil, &noAnswerError{err: err, bodySent: x.whole(req.ContentLength)}
	}
	x.answered()
	resp.Body = &deadlineBody{ReadCloser: resp.Body, ctx: ctx, x: x}
	return resp, nil
}

// exchangePhase is where an exchange under deadlineTransport stands.
type exchangePhase int

const (
	sending  exchangePhase = iota // the transport takes the request body; no deadline yet
	awaiting                      // the body is sent: the response headers are due
	reading                       // the headers arrived: the whole answer is due
	over                          // failed, or the answer was closed
)

// exchange is one request's deadline under deadlineTransport: a single
// timer, armed when the body has been sent (for the headers) and again
// when the headers arrive (for the rest of the answer), which cancels the
// request's context with errNoAnswer or errSlowAnswer. No goroutine waits
// on it.
type exchange struct {
	timeout time.Duration
	cancel  context.CancelCauseFunc
	n       atomic.Int64 // request body bytes the transport took
	eof     atomic.Bool  // the transport read the body to its end

	mu       sync.Mutex
	phase    exchangePhase
	timer    *time.Timer // nil until first armed
	deadline time.Time   // of the phase the timer is armed for
}

// sent starts the wait for the response headers when the body has been
// sent for the first time: timeout plus the body's size at answerRate.
// Later calls (a body sent again, or after the answer) change nothing.
func (x *exchange) sent() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.phase == sending {
		x.phase = awaiting
		x.arm(x.timeout + time.Duration(float64(x.n.Load())/answerRate*float64(time.Second)))
	}
}

// answered starts the deadline for reading the whole answer.
func (x *exchange) answered() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.phase != over {
		x.phase = reading
		x.arm(x.timeout)
	}
}

// end stops the deadline; it may be called more than once.
func (x *exchange) end() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.phase = over
	if x.timer != nil {
		x.timer.Stop()
	}
}

// arm sets the timer to fire after d. Call with mu held.
func (x *exchange) arm(d time.Duration) {
	x.deadline = time.Now().Add(d)
	if x.timer == nil {
		x.timer = time.AfterFunc(d, x.expire)
	} else {
		x.timer.Reset(d)
	}
}

// expire cancels the request whose current phase ran out of time. A call
// for an earlier phase (it fired while the next one was being armed) finds
// the deadline still ahead and does nothing: the timer fires again then.
func (x *exchange) expire() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if time.Now().Before(x.deadline) {
		return
	}
	switch x.phase {
	case awaiting:
		x.cancel(errNoAnswer)
	case reading:
		x.cancel(errSlowAnswer)
	}
}

// whole reports whether the body was sent to its end.
func (x *exchange) whole(length int64) bool {
	return x.eof.Load() || (length > 0 && x.n.Load() >= length)
}

// wrap counts what the transport takes of rc, a body sent (again) from
// its start.
func (x *exchange) wrap(rc io.ReadCloser) io.ReadCloser {
	x.n.Store(0)
	x.eof.Store(false)
	return &countingBody{ReadCloser: rc, x: x}
}

type countingBody struct {
	io.ReadCloser
	x *exchange
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.x.n.Add(int64(n))
	if err == io.EOF {
		c.x.eof.Store(true)
		c.x.sent()
	}
	return n, err
}

// deadlineBody ends the exchange's deadline when the answer is closed and
// names the deadline when it cut the answer short.
type deadlineBody struct {
	io.ReadCloser
	ctx context.Context
	x   *exchange
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if err != nil && err != io.EOF && errors.Is(context.Cause(d.ctx), errSlowAnswer) {
		err = fmt.Errorf("the answer was not read within %s: %w", d.x.timeout, err)
	}
	return n, err
}

func (d *deadlineBody) Close() error {
	err := d.ReadCloser.Close()
	d.x.end()
	d.x.cancel(nil)
	return err
}

// errStalled cancels a request that made no progress.
var errStalled = errors.New("stalled")

// activity watches one request for progress; its context is cancelled with
// errStalled when nothing moves for the stall period. It watches while the
// transport takes the request body (a server that stops reading) and while
// the response body is read. Between the two (the body handed to the
// kernel, the server working) it is paused: bytes still in the socket buffer
// show no progress here, and deadlineTransport covers that wait. Progress
// is a timestamp; a timer checks it when the period may have run out, so
// no goroutine watches.
type activity struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stall  time.Duration
	last   atomic.Int64 // unix nanoseconds of the last progress
	paused atomic.Bool

	mu    sync.Mutex
	timer *time.Timer // nil when stall is 0
	ended bool
}

// newActivity returns a watch that starts paused: resume starts it.
func newActivity(parent context.Context, stall time.Duration) *activity {
	ctx, cancel := context.WithCancelCause(parent)
	a := &activity{ctx: ctx, cancel: cancel, stall: stall}
	a.paused.Store(true)
	return a
}

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }

// pause stops the stall check until resume: the timer, when it fires,
// leaves itself unarmed.
func (a *activity) pause() { a.paused.Store(true) }

// resume counts as progress and, when paused, (re)starts the check.
func (a *activity) resume() {
	a.touch()
	if a.paused.CompareAndSwap(true, false) && a.stall > 0 {
		a.mu.Lock()
		switch {
		case a.ended:
		case a.timer == nil:
			a.timer = time.AfterFunc(a.stall, a.check)
		default:
			a.timer.Reset(a.stall)
		}
		a.mu.Unlock()
	}
}

// check runs when the stall period may have passed since the last
// progress: it cancels the request if it has, and otherwise fires again
// when it would. Paused, it stays unarmed (resume arms it).
func (a *activity) check() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended || a.paused.Load() {
		return
	}
	idle := time.Since(time.Unix(0, a.last.Load()))
	if idle >= a.stall {
		a.cancel(errStalled)
		return
	}
	a.timer.Reset(a.stall - idle)
}

// end stops watching and releases the request's context; it may be called
// more than once.
func (a *activity) end() {
	a.mu.Lock()
	a.ended = true
	if a.timer != nil {
		a.timer.Stop()
	}
	a.mu.Unlock()
	a.cancel(nil)
}

func (a *activity) stalled() bool { return errors.Is(context.Cause(a.ctx), errStalled) }

// watchedBody counts response reads as progress and ends the watch when
// closed. Close also waits until the transport has released the request's
// body: a server may answer before reading all of it, and the transport
// keeps reading it until it closes it. After Close, a Body may be rewound
// and sent again safely.
type watchedBody struct {
	io.ReadCloser
	act    *activity
	bodies *bodyTracker
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.ReadCloser.Read(p)
	if n > 0 {
		w.act.touch()
	}
	if err != nil && w.act.stalled() {
		err = fmt.Errorf("no progress while reading the answer: %w", err)
	}
	return n, err
}

func (w *watchedBody) Close() error {
	err := w.ReadCloser.Close()
	if werr := w.bodies.wait(30 * time.Second); werr != nil {
		err = werr
	}
	w.act.end()
	return err
}

// bodyTracker knows every request body the transport got for one request
// (the original and any GetBody re-send).
type bodyTracker struct {
	mu     sync.Mutex
	closed []chan struct{}
}

func (b *bodyTracker) wrap(rc io.ReadCloser, act *activity) *closeSignal {
	ch := make(chan struct{})
	b.mu.Lock()
	b.closed = append(b.closed, ch)
	b.mu.Unlock()
	return &closeSignal{ReadCloser: rc, closed: ch, act: act}
}

// wait returns once the transport has closed every body, or an error after d.
func (b *bodyTracker) wait(d time.Duration) error {
	b.mu.Lock()
	chans := append([]chan struct{}(nil), b.closed...)
	b.mu.Unlock()
	if len(chans) == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for _, ch := range chans {
		select {
		case <-ch:
		case <-t.C:
			return errors.New("the request body was not released by the transport in time; not sending it again now")
		}
	}
	return nil
}

// closeSignal reports when the transport has closed a request body, after
// which it reads no more of it.
type closeSignal struct {
	io.ReadCloser
	once   sync.Once
	closed chan struct{}
	act    *activity
}

// Read counts body bytes taken by the transport as progress; once all are
// taken the stall check pauses until the answer arrives.
func (c *closeSignal) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.act.resume() // also after a pause: the transport may send a body again
	}
	if err == io.EOF {
		c.act.pause()
	}
	return n, err
}

func (c *closeSignal) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.ReadCloser.Close()
}

// ReadBody reads at most 1 MiB of a response body, for parsing a reply or
// an error message, and closes it (see Do: after that the request's Body may
// be rewound and sent again).
func ReadBody(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return b
}

// DrainClose discards what is left of a response body (so the connection
// can be reused) and closes it.
func DrainClose(resp *http.Response) { _ = drainClose(resp) }

func drainClose(resp *http.Response) error {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}
