package sensenet

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/dropsync/dropsync/targets"
)

// escape percent-encodes everything but the RFC 3986 unreserved characters,
// so that a name survives as one path segment, as one OData string literal
// and as a url-decoded Content-Disposition file name ("+" stays "+").
func escape(s string) string {
	return string(appendEscape(make([]byte, 0, len(s)), s))
}

// appendEscape appends escape(s) to b.
func appendEscape(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return b
}

// appendLiteral appends name as an OData string literal inside a URL:
// quotes doubled, then percent-encoded, between the literal's own quotes.
func appendLiteral(b []byte, name string) []byte {
	b = append(b, "('"...)
	for {
		i := strings.IndexByte(name, '\'')
		if i < 0 {
			break
		}
		b = appendEscape(b, name[:i])
		b = append(b, "%27%27"...) // '' escaped
		name = name[i+1:]
	}
	b = appendEscape(b, name)
	return append(b, "')"...)
}

// collectionPath is the OData path of a content path, addressing its
// children: /Root/Content/Documents → /OData.svc/Root/Content/Documents.
func collectionPath(p string) string {
	var buf [256]byte
	return string(appendCollectionPath(buf[:0], p))
}

// appendCollectionPath appends collectionPath(p) to b.
func appendCollectionPath(b []byte, p string) []byte {
	b = append(b, "/OData.svc"...)
	rest := strings.TrimPrefix(p, "/")
	for {
		seg, after, more := strings.Cut(rest, "/")
		b = append(b, '/')
		b = appendEscape(b, seg)
		if !more {
			return b
		}
		rest = after
	}
}

// entityPath is the OData path of one content, given its parent path and
// name: (/Root/Content, Documents) → /OData.svc/Root/Content('Documents'),
// and ("", Root) → /OData.svc/('Root').
func entityPath(parent, name string) string {
	var buf [256]byte
	return string(appendEntityPath(buf[:0], parent, name))
}

// appendEntityPath appends entityPath(parent, name) to b.
func appendEntityPath(b []byte, parent, name string) []byte {
	if parent == "" {
		b = append(b, "/OData.svc/"...)
	} else {
		b = appendCollectionPath(b, parent)
	}
	return appendLiteral(b, name)
}

// entityOf is the OData path of the content at path p.
func entityOf(p string) string {
	var buf [256]byte
	return string(appendEntityOf(buf[:0], p))
}

// appendEntityOf appends entityOf(p) to b.
func appendEntityOf(b []byte, p string) []byte {
	i := strings.LastIndexByte(p, '/')
	return appendEntityPath(b, p[:i], p[i+1:])
}

// odataError is sensenet's error body.
type odataError struct {
	Error *struct {
		Code          string          `json:"code"`
		ExceptionType string          `json:"exceptiontype"`
		Message       json.RawMessage `json:"message"` // {"lang","value"}, or a plain string
	} `json:"error"`
}

// serverMessage extracts the server's words from an error body: the OData
// error's message and code, or the first line of a short text body. It
// returns "" when the body says nothing useful (empty, HTML).
func serverMessage(body []byte) (msg, code string) {
	var oe odataError
	if json.Unmarshal(body, &oe) == nil && oe.Error != nil {
		var m struct {
			Value string `json:"value"`
		}
		var s string
		switch {
		case json.Unmarshal(oe.Error.Message, &m) == nil && m.Value != "":
			msg = m.Value
		case json.Unmarshal(oe.Error.Message, &s) == nil:
			msg = s
		}
		msg = strings.TrimSpace(msg)
		code = oe.Error.Code
		switch {
		case msg == "":
			msg = code
		case code != "" && code != "NotSpecified":
			msg += " [" + code + "]"
		}
		return msg, code
	}
	text := strings.TrimSpace(string(body))
	if text == "" || text[0] == '<' || !utf8.ValidString(text) {
		return "", ""
	}
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		text = strings.TrimSpace(text[:i])
	}
	return targets.Shorten(text), ""
}

// statusError turns a failed response into a classified *targets.Error
// with the server's message. notFound, if set, is the message for a 404
// without a body (the Upload action's answer to a missing parent).
func statusError(op string, resp *http.Response, notFound string) *targets.Error {
	e, _ := statusErrorCode(op, resp, notFound)
	return e
}

// statusErrorCode is statusError that also returns the OData error code.
func statusErrorCode(op string, resp *http.Response, notFound string) (*targets.Error, string) {
	msg, code := serverMessage(targets.ReadBody(resp))
	if msg == "" && resp.StatusCode == http.StatusNotFound && notFound != "" {
		msg = notFound
	}
	e := targets.StatusError(op, resp, msg)
	switch {
	case code == "ContentAlreadyExists":
		// 403 by sensenet's mapping, but a name clash, not a credential
		// problem: retrying will not help and the credentials are fine.
		e.Kind = targets.Permanent
	case resp.StatusCode == http.StatusInternalServerError && invalidToken(msg):
		e.Err = targets.ErrSessionInvalid
	}
	return e, code
}

// invalidToken reports whether a 500 message from the Upload action says
// the chunk token is no longer valid ("Version id and chunk token
// mismatch", "invalid chunk token"): the session must start over.
func invalidToken(msg string) bool {
	m := strings.ToLower(msg)
	if !strings.Contains(m, "token") {
		return false
	}
	for _, w := range []string{"invalid", "mismatch", "unknown", "expired"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// entity is the part of an OData entity dropsync reads.
type entity struct {
	ID       json.Number `json:"Id"`
	Name     string      `json:"Name"`
	Version  string      `json:"Version"`
	Path     string      `json:"Path"`
	Type     string      `json:"Type"`
	IsFolder bool        `json:"IsFolder"`
	Size     json.Number `json:"Size"` // of a file's binary; read by lookupFile only
}

// lookup reads the content name under parent. found is false when the
// server answers 404.
func (t *Target) lookup(ctx context.Context, op, parent, name string) (e entity, found bool, err error) {
	return t.lookupFields(ctx, op, parent, name, "Id,Name,Version,Path,Type,IsFolder")
}

// lookupFile is lookup for a content known to be a file, with its Size.
func (t *Target) lookupFile(ctx context.Context, op, parent, name string) (e entity, found bool, err error) {
	return t.lookupFields(ctx, op, parent, name, "Id,Name,Version,Path,Size")
}

func (t *Target) lookupFields(ctx context.Context, op, parent, name, fields string) (e entity, found bool, err error) {
	u := t.base + entityPath(parent, name) + "?metadata=no&$select=" + fields
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err == nil {
			req.Header.Set("Accept", "application/json")
		}
		return req, err
	})
	if err != nil {
		return entity{}, false, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		targets.DrainClose(resp)
		return entity{}, false, nil
	case resp.StatusCode != http.StatusOK:
		return entity{}, false, statusError(op, resp, "")
	}
	var body struct {
		D *entity `json:"d"`
	}
	raw := targets.ReadBody(resp)
	if !isJSON(resp.Header, raw) {
		return entity{}, false, targets.NotTheAPI(op, resp.StatusCode, raw, "sensenet's JSON")
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.D == nil || body.D.ID == "" {
		return entity{}, false, targets.Errorf(targets.Retryable, op, "unexpected answer: %q", targets.Shorten(string(raw)))
	}
	return *body.D, true, nil
}

// isJSON reports whether a 2xx answer can be sensenet's JSON: not empty,
// and not a web page or other text (targets.NotJSON). sensenet writes some
// results raw without a Content-Type, so the body decides beyond a page's
// type; an answer that is not JSON goes to targets.NotTheAPI.
func isJSON(h http.Header, raw []byte) bool {
	return len(bytes.TrimSpace(raw)) > 0 && !targets.NotJSON(h, raw)
}
