package targets

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"os"

	"github.com/dropsync/dropsync/config"
)

// Result is what a delivery achieved.
type Result struct {
	Remote  Remote
	SHA256  string // hex SHA-256 of the bytes sent; empty when skipped
	Skipped bool   // on_conflict skip left the remote alone
	Chunked bool
	Resumed bool // a recorded session was continued
}

// Deliver sends file f to target t: in one streamed request, or, when t is
// a Chunker and the file is at or above chunk_threshold, in chunks of
// chunk_size, recording the session and every confirmed chunk in sessions so
// that a restart resumes at the next chunk. A file over max_file_size (or
// the API's documented limit) fails before any byte is sent. The file is
// read once, while it is sent, and hashed on the way: from f.Source when
// set, and then a session is resumed only onto the very file (inode,
// device and change time too) it began with. f.Unchanged is asked before
// the last byte of the committing request; if it refuses, Deliver returns
// its error and the server has committed nothing.
func Deliver(ctx context.Context, t Target, cfg *config.Target, f *File, sessions SessionStore, progress Progress) (*Result, error) {
	if err := checkLimit(t, cfg, f); err != nil {
		return nil, err
	}
	fh := f.Source
	if fh == nil {
		var err error
		if fh, err = os.Open(f.Path); err != nil {
			return nil, fmt.Errorf("open %s: %w", f.Rel, err)
		}
		defer fh.Close()
	}
	var err error

	ch, canChunk := t.(Chunker)
	var sess *Session
	if canChunk && sessions != nil && f.Size > 0 && f.Size >= ChunkThreshold(t, cfg) {
		// Only a chunked upload can resume; a smaller file's stale session
		// goes with the job's outcome.
		if sess, err = sessions.Load(ctx); err != nil {
			return nil, fmt.Errorf("load upload session: %w", err)
		}
		if sess != nil && (sess.Size != f.Size || sess.ModTime != f.ModTime.UnixNano() ||
			f.Source != nil && (sess.Inode != f.Ident.Inode || sess.Dev != f.Ident.Dev || sess.CTime != f.Ident.CTime)) {
			// The file changed since the session began (or another file of
			// the same size and mtime replaced it): its chunks are stale.
			if err := sessions.Delete(ctx); err != nil {
				return nil, fmt.Errorf("drop stale upload session: %w", err)
			}
			sess = nil
		}
	}
	for try := 0; ; try++ {
		resumed := sess != nil
		if sess == nil {
			plan, err := t.Prepare(ctx, f)
			if err != nil {
				return nil, err
			}
			if plan.Skip {
				res := &Result{Skipped: true}
				switch {
				case plan.Remote != nil:
					res.Remote = *plan.Remote
				case plan.Existing != nil:
					res.Remote = *plan.Existing
				}
				return res, nil
			}
			if !canChunk || sessions == nil || f.Size == 0 || f.Size < ChunkThreshold(t, cfg) {
				return putWhole(ctx, t, f, plan, fh, progress)
			}
			if sess, err = startSession(ctx, ch, cfg, f, plan, sessions); err != nil {
				return nil, err
			}
		}
		res := &Result{Chunked: true, Resumed: resumed}
		err := sendChunks(ctx, ch, f, sess, fh, sessions, progress, res)
		if errors.Is(err, ErrSessionInvalid) && try == 0 {
			if derr := sessions.Delete(ctx); derr != nil {
				return nil, fmt.Errorf("drop invalid upload session: %w", derr)
			}
			sess = nil
			continue
		}
		if err != nil {
			return nil, err
		}
		return res, nil
	}
}

// checkLimit fails a file over the configured max_file_size, or else
// over the API's own limit (Limiter). The message is formatted only then:
// this runs for every delivery.
func checkLimit(t Target, cfg *config.Target, f *File) error {
	limit, what := int64(cfg.MaxFileSize), ""
	l, ok := t.(Limiter)
	ok = ok && limit == 0
	if ok {
		limit, what = l.MaxFileSize()
	}
	if limit > 0 && f.Size > limit {
		if !ok {
			what = fmt.Sprintf("max_file_size of %s", cfg.MaxFileSize)
		}
		return &Error{Kind: Permanent, Op: cfg.Type + ": check size",
			Msg: fmt.Sprintf("%s is %s (%d bytes), over %s; nothing was sent (targets.%s.max_file_size sets the limit)", f.Rel, config.FormatBytes(f.Size), f.Size, what, cfg.Name)}
	}
	return nil
}

func putWhole(ctx context.Context, t Target, f *File, plan *Plan, fh *os.File, progress Progress) (*Result, error) {
	h := sha256.New()
	body, err := newBody(fh, 0, f.Size, h, progress)
	if err != nil {
		return nil, err
	}
	body.verify = f.Unchanged
	r, err := t.Put(ctx, f, plan, body)
	if body.changed != nil {
		return nil, body.changed
	}
	if err != nil {
		return nil, err
	}
	if !body.complete() {
		return nil, fmt.Errorf("%s: the adapter did not send the whole file (%d of %d bytes)", f.Rel, body.read, body.n)
	}
	return &Result{Remote: r, SHA256: body.sumHex()}, nil
}

func startSession(ctx context.Context, ch Chunker, cfg *config.Target, f *File, plan *Plan, sessions SessionStore) (*Session, error) {
	token, err := ch.StartSession(ctx, f, plan)
	if err != nil {
		return nil, err
	}
	size := plan.ChunkSize
	if size <= 0 {
		size = int64(cfg.ChunkSize)
	}
	st, err := marshalHash(sha256.New())
	if err != nil {
		return nil, err
	}
	s := &Session{Token: token, Plan: *plan, ChunkSize: size, HashState: st, Size: f.Size, ModTime: f.ModTime.UnixNano(),
		Inode: f.Ident.Inode, Dev: f.Ident.Dev, CTime: f.Ident.CTime}
	if err := sessions.Save(ctx, s); err != nil {
		return nil, fmt.Errorf("record upload session: %w", err)
	}
	return s, nil
}

// sendChunks sends the chunks from s.Offset on, recording each confirmed
// one, and fills res with the final remote and hash.
func sendChunks(ctx context.Context, ch Chunker, f *File, s *Session, fh *os.File, sessions SessionStore, progress Progress, res *Result) error {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.HashState); err != nil {
		return fmt.Errorf("restore hash state: %w", err)
	}
	if progress != nil {
		progress(s.Offset)
	}
	// One Body, one buffer of hash state and the adapter's fixed parts
	// serve every chunk: a chunk's garbage is only its request's.
	body := &Body{f: fh, h: h, progress: progress}
	var state []byte
	var fixed any
	for off := s.Offset; off < f.Size; {
		n := min(s.ChunkSize, f.Size-off)
		if err := body.reset(off, n); err != nil {
			return err
		}
		if off+n == f.Size {
			body.verify = f.Unchanged // the last chunk commits
		}
		r, err := ch.PutChunk(ctx, f, &s.Plan, s.Token, Chunk{Offset: off, Len: n, Total: f.Size, Body: body, Fixed: &fixed})
		if body.changed != nil {
			return body.changed
		}
		var te *Error
		if err != nil && off+n != f.Size && errors.As(err, &te) {
			// Only the committing chunk stores a file: a chunk before it
			// whose answer was lost is sent again when the session
			// resumes, and there is nothing to ask the server about.
			te.Ambiguous = false
		}
		if err != nil {
			return err
		}
		if !body.complete() {
			return fmt.Errorf("%s: the adapter did not send the whole chunk at %d", f.Rel, off)
		}
		off += n
		if r != nil {
			if off != f.Size {
				return fmt.Errorf("%s: the server reported completion at %d of %d bytes", f.Rel, off, f.Size)
			}
			res.Remote, res.SHA256 = *r, body.sumHex()
			return nil
		}
		s.Offset = off
		if state, err = appendHash(state[:0], h); err != nil {
			return err
		}
		s.HashState = state
		if err := sessions.Save(ctx, s); err != nil {
			return fmt.Errorf("record chunk: %w", err)
		}
	}
	return fmt.Errorf("%s: all %d bytes sent but the server never confirmed completion", f.Rel, f.Size)
}

func marshalHash(h hash.Hash) ([]byte, error) {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("save hash state: %w", err)
	}
	return b, nil
}
