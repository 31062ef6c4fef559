package targets

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
)

// Body streams a section of a file into a request. It hashes the bytes as
// they are read and reports progress, so a file is read from disk once, while
// it is sent, and memory does not grow with its size.
type Body struct {
	f          *os.File
	start, n   int64
	sec        io.SectionReader
	h          hash.Hash
	startState []byte
	read       int64
	progress   Progress
	verify     func() error // before the last byte; see File.Unchanged
	changed    error        // what verify said, once it refused

	// Room for the hash's state (SHA-256's takes 108 bytes) and its sum,
	// so that neither needs an allocation of its own.
	stateBuf [128]byte
	sumBuf   [64]byte
}

// newBody returns a Body over bytes [start, start+n) of f that feeds h,
// whose state must correspond to bytes [0, start).
func newBody(f *os.File, start, n int64, h hash.Hash, progress Progress) (*Body, error) {
	b := &Body{f: f, h: h, progress: progress}
	if err := b.reset(start, n); err != nil {
		return nil, err
	}
	return b, nil
}

// reset makes b yield bytes [start, start+n) of its file, feeding its hash,
// whose state must now correspond to bytes [0, start), and verifying
// nothing. It reuses b's memory: the chunks of an upload share one Body.
func (b *Body) reset(start, n int64) error {
	if b.startState == nil {
		b.startState = b.stateBuf[:0]
	}
	st, err := appendHash(b.startState[:0], b.h)
	if err != nil {
		return err
	}
	b.start, b.n, b.startState, b.read, b.verify, b.changed = start, n, st, 0, nil, nil
	b.sec = *io.NewSectionReader(b.f, start, n)
	return nil
}

// appendHash appends h's state to buf.
func appendHash(buf []byte, h hash.Hash) ([]byte, error) {
	a, ok := h.(encoding.BinaryAppender)
	if !ok {
		return nil, fmt.Errorf("save hash state: %T cannot save its state", h)
	}
	b, err := a.AppendBinary(buf)
	if err != nil {
		return nil, fmt.Errorf("save hash state: %w", err)
	}
	return b, nil
}

// NewBodyForTest returns a Body over the whole of f, for adapter tests that
// call Put directly.
func NewBodyForTest(f *os.File, size int64) *Body {
	b, _ := newBody(f, 0, size, sha256.New(), nil)
	return b
}

// Read implements io.Reader. On the read that would yield the last byte
// of a committing body it first asks whether the file is still the one
// being sent, and fails instead of completing the body if not.
func (b *Body) Read(p []byte) (int, error) {
	n, err := b.sec.Read(p)
	if n > 0 && b.verify != nil && b.read+int64(n) == b.n {
		if verr := b.verify(); verr != nil {
			b.changed = verr
			return 0, verr
		}
	}
	if n > 0 {
		b.h.Write(p[:n])
		b.read += int64(n)
		if b.progress != nil {
			b.progress(b.start + b.read)
		}
	}
	if err == io.EOF && b.read < b.n {
		return n, fmt.Errorf("file shrank while being sent: read %d of %d bytes: %w", b.read, b.n, io.ErrUnexpectedEOF)
	}
	return n, err
}

// Len is the number of bytes the body yields.
func (b *Body) Len() int64 { return b.n }

// Rewind makes the body yield its bytes again from the start, undoing what
// was hashed. Call it before re-sending the same body.
func (b *Body) Rewind() error {
	if b.read == 0 {
		return nil
	}
	if err := b.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(b.startState); err != nil {
		return fmt.Errorf("restore hash state: %w", err)
	}
	b.sec = *io.NewSectionReader(b.f, b.start, b.n)
	b.read = 0
	return nil
}

// sumHex is the hex form of the hash's sum: one allocation, the string.
func (b *Body) sumHex() string {
	sum := b.h.Sum(b.sumBuf[:0])
	var out [2 * len(b.sumBuf)]byte
	if 2*len(sum) > len(out) {
		return hex.EncodeToString(sum)
	}
	return string(out[:hex.Encode(out[:], sum)])
}

// complete reports whether every byte was read.
func (b *Body) complete() bool { return b.read == b.n }
