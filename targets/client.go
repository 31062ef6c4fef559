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
// on unless tls.insecure_skip_verify says otherwise. A password in the
// userinfo of the target's urls is registered with package redact (see
// registerURLs).
func NewHTTPClient(t *config.Target) (*http.Client, error) {
	registerURLs(t.URL, t.Auth.TokenURL, t.Auth.TokenServiceURL)
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
		DialContext:           copyBufferDial((&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext),
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
	// Refresh forgets a cached token after the server answered 401 to
	// rejected, and reports whether sending again may help. A token other
	// than the one rejected carried (fetched meanwhile for another request
	// that met the same expiry) is kept: one expiry costs one fetch.
	Refresh(rejected *http.Request) bool
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
		req.Header.Set("User-Agent", userAgent)
		if c.Auth != nil {
			if err := c.Auth.Authorize(ctx, req); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
		}
		if req.URL != nil && req.Host == req.URL.Host {
			// The same Host header either way; http.Client copies the URL
			// of every request whose Host is set.
			req.Host = ""
		}
		cl := newCall(ctx, c.Stall)
		if req.Body != nil && req.Body != http.NoBody { // else nothing to send: only the answer is watched
			cl.resume()
			req.Body = cl.wrapFirst(req.Body)
			if gb := req.GetBody; gb != nil { // the transport re-sends (redirects, retried connections)
				req.GetBody = func() (io.ReadCloser, error) {
					rc, err := gb()
					if err != nil {
						return nil, err
					}
					return cl.wrap(rc), nil
				}
			}
		}
		resp, err := c.HTTP.Do(req.WithContext(&cl.ctx))
		if err != nil {
			cl.end()
			if ctx.Err() != nil {
				if req.Body != nil && req.Body != http.NoBody && cl.x.whole(req.ContentLength) && !readOnly(ctx) {
					// Stopped (a shutdown's deadline) after the whole body
					// went out: the server may have stored it.
					return nil, &Error{Kind: Canceled, Op: op, Ambiguous: true, Err: ctx.Err(),
						Msg: "stopped after the whole body was sent, before the answer came"}
				}
				return nil, fmt.Errorf("%s: %w", op, ctx.Err())
			}
			if cl.stalled() {
				return nil, &Error{Kind: Retryable, Op: op, Msg: fmt.Sprintf("no progress for %s: the server stopped reading or answering", c.Stall), Err: err}
			}
			te := transportError(op, err)
			if readOnly(ctx) {
				te.Ambiguous = false
			}
			return nil, te
		}
		cl.watchAnswer()
		cl.answer = watchedBody{ReadCloser: resp.Body, c: cl}
		resp.Body = &cl.answer
		if resp.StatusCode/100 == 3 && resp.StatusCode != http.StatusNotModified && !c.Redirects {
			DrainClose(resp)
			return nil, &Error{Kind: Unreachable, Op: op, Status: resp.StatusCode,
				Msg: fmt.Sprintf("unexpected redirect to %q (a moved server or a login page): check the target's url and auth", Location(resp))}
		}
		if resp.StatusCode == http.StatusGatewayTimeout && req.Body != nil && req.Body != http.NoBody && cl.x.whole(req.ContentLength) && !readOnly(ctx) {
			// A gateway passed the whole request on and gave up waiting
			// for the answer: the server behind it may have stored it, as
			// when no answer comes at all.
			e := StatusError(op, resp, "")
			e.Kind, e.Ambiguous = Retryable, true
			e.Msg = "a gateway timed out waiting for the server's answer after the whole body was sent (the server may have stored it): " + gatewayWords(resp)
			return nil, e
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 0 && c.Auth != nil && c.Auth.Refresh(req) {
			if err := drainClose(resp); err != nil {
				return nil, &Error{Kind: Retryable, Op: op, Msg: err.Error(), Err: err}
			}
			continue
		}
		return resp, nil
	}
}

// gatewayWords is what a gateway's error page says, short, or its status.
func gatewayWords(resp *http.Response) string {
	if w := Shorten(string(ReadBody(resp))); w != "" {
		return w
	}
	return resp.Status
}

// userAgent is the User-Agent header of every request.
var userAgent = version.UserAgent()

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

// Location is a redirect's target without its query, which may carry
// anything.
func Location(resp *http.Response) string {
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

// RoundTrip implements http.RoundTripper. Under Client.Do the deadline
// runs on the call's context and counts what the call's body wrapper
// sees, so that a request costs one context and one copy, not two; any
// other request (a token fetch, a second hop of one call) gets a context
// and a body wrapper of its own.
func (t *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	registerUserinfo(req.URL) // renewed: the registry forgets what is not
	if t.timeout <= 0 {
		return t.next.RoundTrip(req)
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	out := req
	x := callExchange(req, t.timeout)
	if x == nil {
		ctx, cancel := context.WithCancelCause(req.Context())
		x = &exchange{ctx: ctx, cancel: cancel, own: true, timeout: t.timeout}
		out = req.WithContext(ctx)
		if hasBody {
			x.body = countingBody{ReadCloser: req.Body, x: x}
			out.Body = &x.body
			if gb := req.GetBody; gb != nil {
				out.GetBody = func() (io.ReadCloser, error) {
					rc, err := gb()
					if err != nil {
						return nil, err
					}
					x.restart()
					return &countingBody{ReadCloser: rc, x: x}, nil
				}
			}
		}
	}
	if !hasBody {
		x.sent()
	}
	resp, err := t.next.RoundTrip(out)
	if err != nil {
		x.end()
		cause := context.Cause(x.ctx)
		if x.own {
			x.cancel(nil)
		}
		if errors.Is(cause, errNoAnswer) {
			err = fmt.Errorf("%w after %s: %w", errNoAnswer, t.timeout, err)
		} else if req.Context().Err() != nil {
			return nil, err // the caller's end, or its stall watch
		}
		return nil, &noAnswerError{err: err, bodySent: x.whole(req.ContentLength)}
	}
	x.answered()
	x.answer = deadlineBody{ReadCloser: resp.Body, x: x}
	resp.Body = &x.answer
	return resp, nil
}

// callExchange returns the exchange of the Client.Do call that req belongs
// to, set to timeout, when the call's body wrapper is what the transport
// will read and no earlier exchange used it; otherwise nil.
func callExchange(req *http.Request, timeout time.Duration) *exchange {
	cc, ok := req.Context().(*callCtx)
	if !ok || (req.Body != nil && req.Body != http.NoBody && req.Body != io.ReadCloser(&cc.call.first)) {
		return nil
	}
	x := &cc.call.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.timeout != 0 {
		return nil
	}
	x.timeout = timeout
	return x
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
	ctx    context.Context
	cancel context.CancelCauseFunc
	own    bool         // ctx is the exchange's own, not a call's: cancel it at the end
	n      atomic.Int64 // request body bytes the transport took
	eof    atomic.Bool  // the transport read the body to its end

	mu       sync.Mutex
	timeout  time.Duration // 0: no deadline (a call's exchange no deadlineTransport took)
	phase    exchangePhase
	timer    *time.Timer // nil until first armed
	deadline time.Time   // of the phase the timer is armed for

	body   countingBody // the request body, when the exchange wraps it itself
	answer deadlineBody
}

// restart counts a body sent again from its start.
func (x *exchange) restart() {
	x.n.Store(0)
	x.eof.Store(false)
}

// took counts n bytes the transport took of the body, and its end.
func (x *exchange) took(n int, err error) {
	x.n.Add(int64(n))
	if err == io.EOF {
		x.eof.Store(true)
		x.sent()
	}
}

// sent starts the wait for the response headers when the body has been
// sent for the first time: timeout plus the body's size at answerRate.
// Later calls (a body sent again, or after the answer) change nothing.
func (x *exchange) sent() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.timeout > 0 && x.phase == sending {
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

// countingBody counts what the transport takes of a request body for an
// exchange of its own.
type countingBody struct {
	io.ReadCloser
	x *exchange
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.x.took(n, err)
	return n, err
}

// deadlineBody ends the exchange's deadline when the answer is closed and
// names the deadline when it cut the answer short.
type deadlineBody struct {
	io.ReadCloser
	x *exchange
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if err != nil && err != io.EOF && errors.Is(context.Cause(d.x.ctx), errSlowAnswer) {
		err = fmt.Errorf("the answer was not read within %s: %w", d.x.timeout, err)
	}
	return n, err
}

func (d *deadlineBody) Close() error {
	err := d.ReadCloser.Close()
	d.x.end()
	if d.x.own {
		d.x.cancel(nil)
	}
	return err
}

// errStalled cancels a request that made no progress.
var errStalled = errors.New("stalled")

// call is one attempt of Client.Do, in one allocation: its context, the
// stall watch, the deadline a deadlineTransport keeps on it, and the
// wrappers of the request body and of the answer.
//
// The stall watch cancels the context with errStalled when nothing moves
// for the stall period. It watches while the transport takes the request
// body (a server that stops reading) and while the response body is read.
// It starts paused, and pauses between the two (the body handed to the
// kernel, the server working): bytes still in the socket buffer show no
// progress here, and deadlineTransport covers that wait. Progress is a
// timestamp; a timer checks it when the period may have run out, so no
// goroutine watches.
type call struct {
	ctx    callCtx
	cancel context.CancelCauseFunc

	stall  time.Duration
	last   atomic.Int64 // unix nanoseconds of the last progress
	paused atomic.Bool

	mu        sync.Mutex
	timer     *time.Timer // the stall check; nil until first armed
	ended     bool
	answering bool          // the answer arrived: the body's end pauses nothing
	open      int           // request bodies the transport has not closed
	allClosed chan struct{} // made by waitBodies, closed when open drops to 0

	x      exchange
	first  closeSignal // the request body; a re-sent one is wrapped anew
	answer watchedBody
}

// callCtx is a call's context: cancellable with a cause, and known to
// deadlineTransport.
type callCtx struct {
	context.Context
	call *call
}

// newCall returns a call whose stall watch is paused: resume starts it.
func newCall(parent context.Context, stall time.Duration) *call {
	c := &call{stall: stall}
	ctx, cancel := context.WithCancelCause(parent)
	c.ctx, c.cancel = callCtx{Context: ctx, call: c}, cancel
	c.x.ctx, c.x.cancel = &c.ctx, cancel
	c.paused.Store(true)
	return c
}

func (c *call) touch() { c.last.Store(time.Now().UnixNano()) }

// pause stops the stall check until resume: the timer, when it fires,
// leaves itself unarmed. Once the answer is watched it does nothing: a
// transport may take the request body's end after the answer arrived
// (HTTP/1's writer reads it after writing the last bytes, and the server
// may answer in between).
func (c *call) pause() {
	c.mu.Lock()
	if !c.answering {
		c.paused.Store(true)
	}
	c.mu.Unlock()
}

// watchAnswer starts the stall check for reading the answer, for good.
func (c *call) watchAnswer() {
	c.mu.Lock()
	c.answering = true
	c.mu.Unlock()
	c.resume()
}

// resume counts as progress and, when paused, (re)starts the check.
func (c *call) resume() {
	c.touch()
	if c.paused.CompareAndSwap(true, false) && c.stall > 0 {
		c.mu.Lock()
		switch {
		case c.ended:
		case c.timer == nil:
			c.timer = time.AfterFunc(c.stall, c.check)
		default:
			c.timer.Reset(c.stall)
		}
		c.mu.Unlock()
	}
}

// check runs when the stall period may have passed since the last
// progress: it cancels the request if it has, and otherwise fires again
// when it would. Paused, it stays unarmed (resume arms it).
func (c *call) check() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.paused.Load() {
		return
	}
	idle := time.Since(time.Unix(0, c.last.Load()))
	if idle >= c.stall {
		c.cancel(errStalled)
		return
	}
	c.timer.Reset(c.stall - idle)
}

// end stops watching and releases the request's context; it may be called
// more than once.
func (c *call) end() {
	c.mu.Lock()
	c.ended = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.cancel(nil)
}

func (c *call) stalled() bool { return errors.Is(context.Cause(&c.ctx), errStalled) }

// wrapFirst wraps the request's body.
func (c *call) wrapFirst(rc io.ReadCloser) io.ReadCloser {
	c.mu.Lock()
	c.open++
	c.mu.Unlock()
	c.first = closeSignal{ReadCloser: rc, c: c}
	return &c.first
}

// wrap wraps a body sent again from its start (GetBody).
func (c *call) wrap(rc io.ReadCloser) io.ReadCloser {
	c.mu.Lock()
	c.open++
	c.mu.Unlock()
	c.x.restart()
	return &closeSignal{ReadCloser: rc, c: c}
}

// waitBodies returns once the transport has closed every request body it
// was given, or an error after d.
func (c *call) waitBodies(d time.Duration) error {
	c.mu.Lock()
	if c.open == 0 {
		c.mu.Unlock()
		return nil
	}
	if c.allClosed == nil {
		c.allClosed = make(chan struct{})
	}
	ch := c.allClosed
	c.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return errors.New("the request body was not released by the transport in time; not sending it again now")
	}
}

// watchedBody counts response reads as progress and ends the call when
// closed. Close also waits until the transport has released the request's
// body: a server may answer before reading all of it, and the transport
// keeps reading it until it closes it. After Close, a Body may be rewound
// and sent again safely.
type watchedBody struct {
	io.ReadCloser
	c *call
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.ReadCloser.Read(p)
	if n > 0 {
		w.c.touch()
	}
	if err != nil && w.c.stalled() {
		err = fmt.Errorf("no progress while reading the answer: %w", err)
	}
	return n, err
}

func (w *watchedBody) Close() error {
	err := w.ReadCloser.Close()
	if werr := w.c.waitBodies(30 * time.Second); werr != nil {
		err = werr
	}
	w.c.end()
	return err
}

// closeSignal is a request body as the transport takes it: each read is
// progress (and counts for the call's deadline), and its close tells the
// call that the transport reads no more of it.
//
// A transport may close a body while another of its goroutines is inside
// a Read of it, and read it again after: HTTP/2 does, when the server
// answers 300 or more before it has the whole body (a 401, a 409). Close
// therefore waits for a Read in progress, and a Read after Close yields
// nothing, so that once the call knows the body closed, nothing touches
// the body again and it may be rewound and sent anew.
type closeSignal struct {
	io.ReadCloser
	c      *call
	mu     sync.Mutex // held by Read while it reads, and by Close to wait for it
	closed bool       // under mu
}

// errBodyClosed is what a request body yields once the transport closed it.
var errBodyClosed = errors.New("request body read after it was closed")

// Read counts body bytes taken by the transport as progress; once all are
// taken the stall check pauses until the answer arrives.
func (s *closeSignal) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errBodyClosed
	}
	n, err := s.ReadCloser.Read(p)
	if n > 0 {
		s.c.resume() // also after a pause: the transport may send a body again
	}
	s.c.x.took(n, err)
	if err == io.EOF {
		s.c.pause()
	}
	return n, err
}

// Close closes the body first, which may end a Read that waits (a pipe's),
// then waits for a Read in progress before the call hears of it.
func (s *closeSignal) Close() error {
	err := s.ReadCloser.Close()
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	s.mu.Unlock()
	if first {
		c := s.c
		c.mu.Lock()
		c.open--
		if c.open == 0 && c.allClosed != nil {
			close(c.allClosed)
			c.allClosed = nil
		}
		c.mu.Unlock()
	}
	return err
}

// ReadBody reads at most 1 MiB of a response body, for parsing a reply or
// an error message, and closes it (see Do: after that the request's Body may
// be rewound and sent again). A body cut off is returned as far as it came.
func ReadBody(resp *http.Response) []byte {
	b, _ := readBody(resp, false)
	return b
}

// ReadAnswer reads, as ReadBody does, the 2xx answer to a request that
// stores something on the server. An answer cut off before its end (the
// connection dropped half-way) is a Retryable *Error marked Ambiguous: the
// server accepted the request and may have stored it, so that the daemon
// asks the server (or bounds the re-sends) before sending it again, as for
// an answer that never came. An answer longer than 1 MiB is read to its end
// all the same, its excess discarded, so that a cut after the first MiB is
// seen too; the request's deadline (the target's timeout for the whole
// answer), its stall watch and its context bound that read.
func ReadAnswer(op string, resp *http.Response) ([]byte, error) {
	b, err := readBody(resp, true)
	if err != nil {
		return b, &Error{Kind: Retryable, Op: op, Status: resp.StatusCode, Ambiguous: true, Err: err,
			Msg: "the server accepted the request but its answer was cut off: " + err.Error()}
	}
	return b, nil
}

// readLimit is the most of a response body that is kept.
const readLimit = 1 << 20

// readBody reads at most readLimit bytes of a response body and closes it;
// err says why a body ended before its end. With toEnd, a body that
// reaches the limit is read on to its end, discarding what is over the
// limit, so that err also tells of a body cut off after the limit.
func readBody(resp *http.Response, toEnd bool) ([]byte, error) {
	defer resp.Body.Close()
	b, err := readLimited(resp)
	if err == nil && toEnd && len(b) >= readLimit {
		if _, err = io.Copy(io.Discard, resp.Body); err != nil {
			err = fmt.Errorf("after the first %d bytes: %w", readLimit, err)
		}
	}
	return b, err
}

// readLimited reads at most readLimit bytes of a response body.
func readLimited(resp *http.Response) ([]byte, error) {
	const limit = readLimit
	if n := resp.ContentLength; n >= 0 && n < limit {
		// An answer of announced length is read into a buffer of its
		// size (io.ReadAll starts at 512 bytes), and one more byte, so
		// that the read which finds its end is made and the connection
		// goes back to the pool.
		b := make([]byte, n+1)
		m, err := io.ReadFull(resp.Body, b)
		if m < int(n) {
			return b[:m], err
		}
		if m == int(n) {
			return b[:m], nil
		}
		rest, err := io.ReadAll(io.LimitReader(resp.Body, limit-int64(m)))
		return append(b, rest...), err
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}

// DrainClose discards what is left of a response body (so the connection
// can be reused) and closes it.
func DrainClose(resp *http.Response) { _ = drainClose(resp) }

func drainClose(resp *http.Response) error {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}
