package oracledocs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/dropsync/dropsync/targets"
)

// num is a JSON value that Oracle documents as a number but sends as a
// string ("size":"13", "errorCode":"-20"). It accepts a string, a number or
// null, and keeps the text.
type num string

// UnmarshalJSON implements json.Unmarshaler.
func (n *num) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*n = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = num(strings.TrimSpace(s))
	default:
		var x json.Number
		if err := json.Unmarshal(b, &x); err != nil {
			return fmt.Errorf("want a number or a string, got %.40s", b)
		}
		*n = num(x.String())
	}
	return nil
}

// Int returns the value as an integer; ok is false when it is empty or not
// a whole number ("3" and "3.0" are 3).
func (n num) Int() (v int64, ok bool) {
	s := string(n)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int64(f)) {
		return int64(f), true
	}
	return 0, false
}

// item is a file or folder as the Documents API describes it, with the
// status fields every reply carries.
type item struct {
	ID       string `json:"id"`
	ParentID string `json:"parentID"`
	Name     string `json:"name"`
	Type     string `json:"type"` // file | folder
	Size     num    `json:"size"`
	Version  num    `json:"version"`
	status
}

// status is the error part of every Documents API reply: errorCode 0 means
// success, negative codes name the failure.
type status struct {
	ErrorCode    num    `json:"errorCode"`
	ErrorKey     string `json:"errorKey"`
	ErrorMessage string `json:"errorMessage"`
	Title        string `json:"title"`
}

// folderItems is the reply of Get Specific Folder Contents.
type folderItems struct {
	Count        num    `json:"count"`
	TotalResults num    `json:"totalResults"`
	HasMore      num    `json:"hasMore"`
	Items        []item `json:"items"`
	status
}

// Oracle error codes (Error Messages page of the REST API for Documents and
// the seed's examples).
const (
	codeNotFound           = -16 // folder or file name or ID not found
	codeExists             = -17 // a folder or file with that name exists
	codeAccessCodeRequired = -18 // protected public link without its access code
	codeNoPrivilege        = -20 // insufficient privileges
	codeLinkInvalid        = -26 // link invalid or expired
)

// APIError is what Oracle said about a failed request. It is the Err of
// the *targets.Error the adapter returns, so callers can match the
// errorCode with errors.As.
type APIError struct {
	Code    int    // errorCode; 0 when the reply had none
	Key     string // errorKey
	Message string // errorMessage, or title
}

func (e *APIError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s (errorCode %d)", e.Message, e.Code)
	}
	return fmt.Sprintf("errorCode %d", e.Code)
}

// apiError reads a failed reply: the status and Oracle's error JSON, into
// a classified error. Oracle's own words become the message; the errorCode
// and status decide the kind:
//
//	-16 or 404 → permanent "folder or file not found"
//	-20 or 403 → permanent "insufficient privileges"
//	-18        → permanent "access code required"
//	-26        → permanent "link invalid or expired" (with an applink,
//	             a hint to rotate access_token_file and retry the files)
//
// Everything else is classified by status (targets.StatusError): 401 is an
// auth failure, 429 and 503 with Retry-After throttle, 5xx is retryable.
// 409 stays permanent here; Put re-checks and retries once before that.
func apiError(op string, resp *http.Response) *targets.Error {
	return classify(op, resp, targets.ReadBody(resp))
}

func classify(op string, resp *http.Response, body []byte) *targets.Error {
	ae := parseStatus(body)
	e := targets.StatusError(op, resp, ae.Message)
	e.Err = ae
	label := ""
	switch {
	case ae.Code == codeNotFound:
		label = "folder or file not found"
	case ae.Code == codeAccessCodeRequired:
		label = "access code required"
	case ae.Code == codeLinkInvalid:
		label = "link invalid or expired"
	case ae.Code == codeNoPrivilege:
		label = "insufficient privileges"
	case resp.StatusCode == http.StatusNotFound:
		label = "folder or file not found"
	case resp.StatusCode == http.StatusForbidden:
		label = "insufficient privileges"
	}
	if label != "" {
		e.Kind = targets.Permanent
		e.RetryAfter = 0
		if ae.Message != "" {
			e.Msg = label + ": " + ae.Message
		} else {
			e.Msg = label
		}
		if ae.Code == codeLinkInvalid && resp.Request != nil && resp.Request.Header["AppLinkID"] != nil {
			// Most often the applink's access token expired. The file
			// fails (no per-watch hold exists to make it wait); say how
			// to bring it back.
			e.Msg += " (if the applink's access token expired: write the new one to access_token_file, then `dropsync queue retry --failed`)"
		}
	}
	if resp.StatusCode < 300 {
		// A 2xx reply whose errorCode says it failed: no status to go by.
		e.Status = 0
		if label == "" {
			e.Kind = targets.Permanent
			e.Msg = ae.Error()
		}
	}
	return e
}

// parseStatus reads Oracle's error JSON. A body that is not JSON (a proxy's
// HTML page) gives its text, trimmed and shortened, as the message.
func parseStatus(body []byte) *APIError {
	var st status
	ae := &APIError{}
	if err := json.Unmarshal(body, &st); err == nil {
		code, _ := st.ErrorCode.Int()
		ae.Code, ae.Key, ae.Message = int(code), st.ErrorKey, st.ErrorMessage
		if ae.Message == "" {
			ae.Message = st.Title
		}
		return ae
	}
	ae.Message = targets.Shorten(string(body))
	return ae
}

// decodeItem reads a successful reply that describes one file or folder.
// A reply that carries a non-zero errorCode is an error. When the body is
// unreadable or names no id, the id is taken from the Location header (the
// resource URI Oracle sends with 201); without either, a reply that is not
// JSON at all (an SSO proxy's login page, a maintenance page) is about the
// target (targets.NotTheAPI), and a JSON reply that is malformed or names
// no id fails the attempt, retryably but at most a few times, since every
// retry of an upload adds a revision on the server. A reply cut off before
// its end is, without a Location, the Ambiguous error of
// targets.ReadAnswer (stored, perhaps).
func decodeItem(op string, resp *http.Response) (item, error) {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return item{}, apiError(op, resp)
	}
	body, cut := targets.ReadAnswer(op, resp)
	var it item
	jerr := json.Unmarshal(body, &it)
	if jerr == nil {
		if code, ok := it.ErrorCode.Int(); ok && code != 0 {
			return item{}, classify(op, resp, body)
		}
	}
	if it.ID == "" {
		if loc := resp.Header.Get("Location"); loc != "" {
			it.ID = path.Base(strings.TrimRight(loc, "/"))
		}
	}
	if it.ID == "" || it.ID == "." || it.ID == "/" {
		if cut != nil {
			return item{}, cut
		}
		if jerr != nil && targets.NotJSON(resp.Header, body) {
			return item{}, targets.NotTheAPI(op, resp.StatusCode, body, "the Documents API's JSON")
		}
		msg := "the reply names no id: " + targets.Shorten(string(body))
		if jerr != nil {
			msg = "unreadable reply: " + jerr.Error()
		}
		return item{}, &targets.Error{Kind: targets.Retryable, Op: op, Status: resp.StatusCode, Msg: msg, Err: jerr, MaxAttempts: 3}
	}
	return it, nil
}

// errorCode returns Oracle's errorCode and the HTTP status of a classified
// error, or zeros.
func errorCode(err error) (code, status int) {
	var te *targets.Error
	if errors.As(err, &te) {
		status = te.Status
	}
	var ae *APIError
	if errors.As(err, &ae) {
		code = ae.Code
	}
	return code, status
}

// isConflict reports a name clash or version mismatch (409 or -17).
func isConflict(err error) bool {
	code, st := errorCode(err)
	return code == codeExists || st == http.StatusConflict
}

// isNotFound reports a missing folder or file (404 or -16).
func isNotFound(err error) bool {
	code, st := errorCode(err)
	return code == codeNotFound || st == http.StatusNotFound
}
