package targets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/dropsync/dropsync/internal/redact"
)

// Kind is how a failure is handled.
type Kind int

// Kinds of failure. Classify maps every error to one of them; it is the
// only place that decides.
const (
	// Retryable failures (network, timeouts, 408, 5xx) are retried with
	// exponential backoff.
	Retryable Kind = iota
	// Throttled failures (429, 503 with Retry-After) pause the whole target
	// until the server's time has passed.
	Throttled
	// Auth failures are credentials the server rejects (401, and a 403
	// where the API means the caller, not the item): the target's
	// credentials are rejected until a probe succeeds; files wait.
	Auth
	// Permanent failures (not found, too large, unsupported, rejected
	// content) go to the failed list at once with the server's words.
	Permanent
	// Canceled means dropsync itself stopped the work (shutdown).
	Canceled
	// Unreachable failures are about the target as a whole, not the file:
	// connection refused, DNS, TLS, or a redirect the adapter does not
	// expect (a wrong url, a login page). The target goes down and a probe
	// tests it; the file waits.
	Unreachable
)

func (k Kind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Throttled:
		return "throttled"
	case Auth:
		return "auth"
	case Permanent:
		return "permanent"
	case Canceled:
		return "canceled"
	case Unreachable:
		return "unreachable"
	}
	return "unknown"
}

// ErrChanged marks an upload aborted because the file changed (or was
// replaced) while it was being sent; no version was committed.
var ErrChanged = errors.New("the file changed while it was being sent")

// ErrSessionInvalid marks an upload session the server no longer accepts
// (an expired or unknown token). The driver starts a new session once.
var ErrSessionInvalid = errors.New("upload session no longer valid")

// Error is a classified failure from a target.
type Error struct {
	Kind       Kind
	Op         string        // what was being done, e.g. "sensenet: create upload"
	Status     int           // HTTP status, if any
	Msg        string        // the server's own words, or ours
	RetryAfter time.Duration // with Throttled or Retryable: the server's wait
	// MaxAttempts, if set, caps how often a Retryable failure of this
	// Class is retried before it becomes permanent (e.g. Blueworks status
	// FAILED). Other failures of the same file do not count towards it.
	MaxAttempts int
	// Class names the kind of failure MaxAttempts counts; "" counts by Op
	// and Status.
	Class string
	// Ambiguous is set when a request carrying a body was sent whole and
	// no whole answer came (timeout, reset, an answer cut off, a stop
	// before the answer): the server may have stored it. It goes with
	// Retryable, or with Canceled for a stop.
	Ambiguous bool
	Err       error
}

// AttemptClass is the kind of failure e's MaxAttempts counts.
func (e *Error) AttemptClass() string {
	if e.Class != "" {
		return e.Class
	}
	return fmt.Sprintf("%s %d", e.Op, e.Status)
}

// Error is one line: the operation and the server's words (or the
// cause's), through Shorten, so that no credential a server echoes and no
// page of markup or stack trace reaches a log line, the database or
// `dropsync status`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Msg != "" {
		b.WriteString(Shorten(e.Msg))
	} else if e.Err != nil {
		b.WriteString(Shorten(e.Err.Error()))
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error of kind k for operation op.
func Errorf(k Kind, op, format string, args ...any) *Error {
	return &Error{Kind: k, Op: op, Msg: fmt.Sprintf(format, args...)}
}

// KindOfStatus is the standard classification of an HTTP status. 401 is
// about the credentials; 403 is taken as "not allowed on this item" and is
// Permanent unless an adapter knows its API means the caller (Blueworks).
func KindOfStatus(status int) Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return Throttled
	case status == http.StatusUnauthorized:
		return Auth
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status >= 500:
		return Retryable
	case status >= 400:
		return Permanent
	}
	return Retryable
}

// StatusError classifies a failed response: kind from the status (see
// KindOfStatus), msg from the server's body as the adapter parsed it, and
// Retry-After read from the headers. A 503 with Retry-After is Throttled.
func StatusError(op string, resp *http.Response, msg string) *Error {
	e := &Error{Kind: KindOfStatus(resp.StatusCode), Op: op, Status: resp.StatusCode, Msg: msg}
	if e.Msg == "" {
		e.Msg = http.StatusText(resp.StatusCode)
	}
	if ra, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = ra
		if resp.StatusCode == http.StatusServiceUnavailable {
			e.Kind = Throttled
		}
	}
	return e
}

// MaxRetryAfter bounds what RetryAfter returns, so that no header
// overflows a time.Duration; the daemon caps it further by retry.max_pause.
const MaxRetryAfter = 100 * 365 * 24 * time.Hour

// RetryAfter parses a Retry-After header: seconds, or an HTTP date. The
// result is between 0 and MaxRetryAfter whatever the header says.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || s > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now) // Sub saturates instead of overflowing
		return min(max(d, 0), MaxRetryAfter), true
	}
	return 0, false
}

// Classify tells how err must be handled and, for Throttled and some
// Retryable errors, how long the server asked to wait. Errors that are not
// *Error are classified by what they are: context cancellation, local file
// errors (permanent: the file is unreadable), network errors (retryable).
// Anything unknown is retryable, so that no file is lost to a surprise.
func Classify(err error) (Kind, time.Duration) {
	if err == nil {
		return Retryable, 0
	}
	var te *Error
	if errors.As(err, &te) {
		return te.Kind, te.RetryAfter
	}
	if errors.Is(err, context.Canceled) {
		return Canceled, 0
	}
	var pe *os.PathError
	if errors.As(err, &pe) && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EISDIR)) {
		return Permanent, 0
	}
	return Retryable, 0
}

// maxWords bounds a server's words in a message, in bytes.
const maxWords = 300

// Shorten makes text from a server fit a one-line message: every
// registered credential replaced (see package redact; before the cut, so
// that no part of one survives it), markup dropped from an HTML page,
// white space collapsed, and at most maxWords bytes of valid UTF-8.
func Shorten(s string) string {
	s = strings.Join(strings.Fields(stripTags(redact.String(s))), " ")
	if len(s) > maxWords {
		cut := maxWords
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// stripTags drops the markup of an HTML page, keeping the text between
// tags; other text is returned as it is.
func stripTags(s string) string {
	if !strings.HasPrefix(strings.TrimSpace(s), "<") {
		return s
	}
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
			b.WriteByte(' ')
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
