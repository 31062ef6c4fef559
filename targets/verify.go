package targets

import (
	"context"
	"path"
	"strconv"
	"strings"
)

// Verifier is implemented by targets whose API can tell whether an upload
// landed. After an attempt whose answer was lost once the whole file had
// been sent (Error.Ambiguous), the daemon asks before sending again, so a
// server that stored the file and answered too late gets no duplicate.
type Verifier interface {
	// Landed looks for f on the server where the lost attempt stored it
	// (by name in its folder or field, or by its recorded id) and returns
	// the remote object when it holds f's content: the same size and,
	// where the API tells, a version newer than f.Previous or the same
	// checksum (sha256 is f's hex SHA-256). It returns nil when the upload
	// did not land.
	Landed(ctx context.Context, f *File, sha256 string) (*Remote, error)
}

// ResendLimiter is implemented by targets that cannot be asked whether an
// upload landed and whose every upload adds a new object (Blueworks): it
// bounds how often an ambiguous attempt is sent again.
type ResendLimiter interface {
	// AmbiguousResends returns how often a file whose answer was lost is
	// sent again, and the words that tell the operator what may have
	// happened, e.g. "the file may already be attached".
	AmbiguousResends() (int, string)
}

// RenameOf reports whether candidate is name or one of the names rename
// gives it, stem(N).ext, compared without regard to case.
func RenameOf(name, candidate string) bool {
	name, candidate = strings.ToLower(name), strings.ToLower(candidate)
	if candidate == name {
		return true
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if stem == "" {
		stem, ext = name, ""
	}
	rest, ok := strings.CutPrefix(candidate, stem+"(")
	if !ok {
		return false
	}
	n, ok := strings.CutSuffix(rest, ")"+ext)
	if !ok || n == "" {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 32)
	return err == nil
}
