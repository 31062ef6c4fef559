// Package targets holds what the five upload adapters share: the Target
// interface and its optional capabilities, the registry, one HTTP client
// setup, one error classification, and the driver that streams a file to a
// target in one request or in recorded, resumable chunks.
//
// An adapter lives in its own sub-package, registers itself from init, and
// implements:
//
//   - Target: Watch (decode and check a watch's destination), Prepare (find
//     or create the remote place, apply on_conflict) and Put (one streamed
//     request);
//   - optionally Chunker, for protocols whose upload spans several requests
//     tied by a server token (sensenet chunks, Connections two-phase);
//   - optionally Deleter, for deletes: propagate;
//   - optionally Limiter, for an API's documented size limit;
//   - optionally Verifier, to tell whether an upload whose answer was lost
//     landed, or ResendLimiter, to bound re-sending it where the API
//     cannot tell.
//
// Every request has bounded waits (Client, deadlineTransport), and Classify
// sorts every failure into the file's (Retryable, Permanent) or the
// target's (Auth, Unreachable, Throttled).
//
// Unknown outcomes. A request that changes something and whose whole body
// was sent has an unknown outcome unless a whole answer came: no answer
// (timeout, dropped connection), a stop of the caller while waiting
// (Canceled), or a success answer cut off before its end (ReadAnswer). Each
// of these is an Error with Ambiguous set, made in Client and ReadAnswer,
// so that no adapter re-sends such a file as a plain retry: the daemon asks
// a Verifier, or counts the re-send against a ResendLimiter's bound, first.
//
// The driver (Deliver) owns reading the file: it hashes while sending,
// counts progress, checks limits before any byte goes out, and records every
// confirmed chunk so a restart resumes instead of starting over.
package targets

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/fsid"
)

// Remote identifies the remote object a file was delivered to. It is what
// the state table records, so the next change becomes a new version of the
// same object.
type Remote struct {
	ID      string            `json:"id,omitempty"`
	Version string            `json:"version,omitempty"`
	Name    string            `json:"name,omitempty"`
	Extra   map[string]string `json:"extra,omitempty"` // adapter-specific identity, e.g. an SBM uuid
}

// File describes one local file to deliver.
type File struct {
	Watch      string    // the watch's root folder
	Rel        string    // path below the root, slash-separated
	Path       string    // absolute local path
	Size       int64     // size at the start of the job
	ModTime    time.Time // modification time at the start of the job
	OnConflict string    // config.OnConflict*
	Dest       any       // the watch's destination as returned by Target.Watch
	Previous   *Remote   // what this path was last delivered as; nil if never
	Names      NameBook  // the remote names recorded for the target; nil if the target is no NameKeyer

	// Source, if set, is the open file to send: the driver reads it
	// instead of opening Path, so the file that was checked is the file
	// that is sent. Ident is its fingerprint (from fstat) at the start of
	// the job; a recorded upload session of another fingerprint is
	// dropped, never resumed.
	Source *os.File
	Ident  fsid.Fingerprint
	// Unchanged, if set, is called before the request that commits a
	// version yields its last byte (the whole-file body, the last chunk);
	// an error, which should wrap ErrChanged, fails that read, so the
	// request is aborted and the server never commits the version.
	Unchanged func() error
}

// Name is the file's base name.
func (f *File) Name() string { return base(f.Rel) }

// Dir is the slash-separated folder below the watch root ("" at the root).
func (f *File) Dir() string { return dir(f.Rel) }

// Plan is what Prepare decided: where the file goes and what it replaces.
// It must survive a restart in the upload-session table, so it holds only
// plain data.
type Plan struct {
	Name      string  `json:"name"`                 // remote file name
	Parent    string  `json:"parent,omitempty"`     // adapter's parent: folder path, folder id, activity id…
	Existing  *Remote `json:"existing,omitempty"`   // remote object that receives the new content, if any
	Skip      bool    `json:"skip,omitempty"`       // leave the remote alone: the job is done
	ChunkSize int64   `json:"chunk_size,omitempty"` // chunked uploads: bytes per request; 0: the target's chunk_size
	Remote    *Remote `json:"remote,omitempty"`     // with Skip: the remote object found, to record
}

// Target is one configured remote system.
type Target interface {
	// Watch decodes and checks a watch's destination block and its
	// on_conflict and deletes settings, returning the parsed destination
	// that File.Dest will carry. An error names the field and says what to
	// use instead.
	Watch(w *config.Watch) (any, error)

	// Prepare runs before any byte of the file is read. It resolves the
	// remote parent (creating folders as needed) and applies on_conflict,
	// using f.Previous and, where the API allows, a lookup by name.
	Prepare(ctx context.Context, f *File) (*Plan, error)

	// Put sends the whole file in one request. body yields exactly f.Size
	// bytes; to send again (after a token refresh) call body.Rewind first.
	Put(ctx context.Context, f *File, p *Plan, body *Body) (Remote, error)
}

// Chunker is implemented by targets whose large uploads span several
// requests tied together by a server token.
type Chunker interface {
	// StartSession opens an upload session and returns its token. The
	// driver records the token before sending the first chunk.
	StartSession(ctx context.Context, f *File, p *Plan) (token string, err error)

	// PutChunk sends bytes [c.Offset, c.Offset+c.Len) of the file. It
	// returns a non-nil Remote when the upload is complete (the last chunk
	// commits). An error wrapping ErrSessionInvalid makes the driver drop
	// the session and start a new one.
	PutChunk(ctx context.Context, f *File, p *Plan, token string, c Chunk) (*Remote, error)
}

// Chunk is one piece of a chunked upload.
type Chunk struct {
	Offset int64
	Len    int64
	Total  int64
	Body   *Body
	// Fixed, when not nil, is kept by the driver for the chunks of one
	// session that one Deliver sends: an adapter may store there what it
	// builds alike for every chunk (a form, a URL, headers) and find it
	// at the next chunk instead of building it again, so that a large
	// upload's chunks make little garbage. It points to nil at the first
	// chunk of each Deliver.
	Fixed *any
}

// Last reports whether this chunk completes the file.
func (c Chunk) Last() bool { return c.Offset+c.Len == c.Total }

// Deleter is implemented by targets that can delete remote objects.
type Deleter interface {
	// Delete removes the remote object r that file f was delivered as. A
	// remote that is already gone is not an error.
	Delete(ctx context.Context, f *File, r Remote) error
}

// Limiter is implemented by targets with a documented maximum file size.
type Limiter interface {
	// MaxFileSize returns the API's limit in bytes and the words that
	// describe it, e.g. "the Blueworks limit of 50 MB".
	MaxFileSize() (int64, string)
}

// Closer is implemented by targets holding resources.
type Closer interface{ Close() error }

// SessionStore records one file's upload session; the queue implements it
// per job.
type SessionStore interface {
	// Load returns the recorded session, or nil.
	Load(ctx context.Context) (*Session, error)
	// Save records s, replacing any earlier one. It must not keep s or
	// s.HashState past the call: the driver reuses both for the next
	// chunk.
	Save(ctx context.Context, s *Session) error
	// Delete forgets the session.
	Delete(ctx context.Context) error
}

// Session is a chunked upload in progress.
type Session struct {
	Token     string // the server's session token
	Plan      Plan   // the plan the session was started with
	Offset    int64  // bytes the server has confirmed
	ChunkSize int64
	HashState []byte // SHA-256 state after Offset bytes
	Size      int64  // fingerprint of the file when the session began
	ModTime   int64
	Inode     uint64
	Dev       uint64
	CTime     int64
}

// Progress is told how many bytes of the file have been sent so far.
type Progress func(sent int64)

func base(rel string) string {
	for i := len(rel) - 1; i >= 0; i-- {
		if rel[i] == '/' {
			return rel[i+1:]
		}
	}
	return rel
}

func dir(rel string) string {
	for i := len(rel) - 1; i >= 0; i-- {
		if rel[i] == '/' {
			return rel[:i]
		}
	}
	return ""
}

var _ io.Reader = (*Body)(nil)

// Checker is implemented by targets that can verify their credentials and
// reachability without uploading, for `dropsync validate --online`.
type Checker interface {
	// Check returns nil when the server answers and accepts the credentials.
	Check(ctx context.Context) error
}

// ChunkDefaulter is implemented by targets whose protocol has its own
// customary threshold for chunked or two-phase uploads; it applies when
// chunk_threshold is not configured (else DefaultChunkThreshold).
type ChunkDefaulter interface {
	DefaultChunkThreshold() int64
}

// DefaultChunkThreshold applies when neither the configuration nor the
// target says otherwise.
const DefaultChunkThreshold = 10 << 20

// ChunkThreshold is the size at or above which t gets a chunked upload.
func ChunkThreshold(t Target, cfg *config.Target) int64 {
	if cfg.ChunkThreshold > 0 {
		return int64(cfg.ChunkThreshold)
	}
	if d, ok := t.(ChunkDefaulter); ok {
		return d.DefaultChunkThreshold()
	}
	return DefaultChunkThreshold
}

// DestinationChecker is implemented by targets that can check, without
// uploading, that a watch's destination exists and that the credentials
// reach it, for `dropsync validate --online`.
type DestinationChecker interface {
	// CheckDestination checks dest, as returned by Watch.
	CheckDestination(ctx context.Context, dest any) error
}

// Flattener is implemented by targets without folders: a file is known
// remotely by its base name alone, so files with equal names in different
// sub-folders meet at one remote name. The daemon never uploads two of
// them at once.
type Flattener interface {
	FlatNames() bool
}
