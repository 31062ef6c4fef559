package targets_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/targettest"
)

// chunkTarget is an in-memory Chunker that records every chunk it gets.
type chunkTarget struct {
	mu       sync.Mutex
	data     []byte
	offsets  []int64 // offsets of chunk requests received, in order
	sessions int
	failAt   int64 // fail the chunk at this offset once (-1: never)
	lostAt   int64 // read the chunk at this offset whole, then lose its answer once (-1: never)
	invalid  bool  // reject the next chunk's token as invalid
	limit    int64
	puts     int
}

func (c *chunkTarget) Watch(w *config.Watch) (any, error) { return nil, nil }
func (c *chunkTarget) Prepare(_ context.Context, f *targets.File) (*targets.Plan, error) {
	return &targets.Plan{Name: f.Name()}, nil
}
func (c *chunkTarget) Put(_ context.Context, _ *targets.File, _ *targets.Plan, b *targets.Body) (targets.Remote, error) {
	c.mu.Lock()
	c.puts++
	c.mu.Unlock()
	data, err := io.ReadAll(b)
	c.mu.Lock()
	c.data = data
	c.mu.Unlock()
	return targets.Remote{ID: "whole"}, err
}
func (c *chunkTarget) StartSession(context.Context, *targets.File, *targets.Plan) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions++
	return fmt.Sprintf("token-%d", c.sessions), nil
}
func (c *chunkTarget) PutChunk(_ context.Context, _ *targets.File, _ *targets.Plan, token string, ch targets.Chunk) (*targets.Remote, error) {
	c.mu.Lock()
	c.offsets = append(c.offsets, ch.Offset)
	fail := c.failAt == ch.Offset
	if fail {
		c.failAt = -1
	}
	lost := c.lostAt == ch.Offset
	if lost {
		c.lostAt = -1
	}
	invalid := c.invalid
	c.invalid = false
	c.mu.Unlock()
	if invalid {
		return nil, fmt.Errorf("test: chunk: %w", targets.ErrSessionInvalid)
	}
	if fail {
		io.CopyN(io.Discard, ch.Body, ch.Len/2) // the connection drops half-way
		return nil, &targets.Error{Kind: targets.Retryable, Op: "test: chunk", Msg: "connection reset"}
	}
	b, err := io.ReadAll(ch.Body)
	if err != nil {
		return nil, err
	}
	if lost {
		return nil, &targets.Error{Kind: targets.Retryable, Op: "test: chunk", Msg: "timeout awaiting the answer", Ambiguous: true}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(len(c.data)) < ch.Offset {
		return nil, fmt.Errorf("gap before offset %d", ch.Offset)
	}
	c.data = append(c.data[:ch.Offset], b...)
	if ch.Last() {
		return &targets.Remote{ID: token}, nil
	}
	return nil, nil
}
func (c *chunkTarget) MaxFileSize() (int64, string) { return c.limit, "the test API's limit" }

var chunky = &chunkTarget{failAt: -1, lostAt: -1}

func init() {
	targets.Register("test-chunks", func(*targets.Base) (targets.Target, error) { return chunky, nil })
}

func reset() *chunkTarget {
	chunky.mu.Lock()
	defer chunky.mu.Unlock()
	chunky.data, chunky.offsets, chunky.sessions, chunky.failAt, chunky.lostAt, chunky.invalid, chunky.limit, chunky.puts = nil, nil, 0, -1, -1, false, 0, 0
	return chunky
}

const chunkYAML = "type: test-chunks\nurl: http://127.0.0.1:1\nchunk_threshold: 1KiB\nchunk_size: 1000\n"

func TestChunkedUploadResumesAfterFailureResendingOneChunk(t *testing.T) {
	ct := reset()
	env := targettest.Build(t, chunkYAML, "")
	f, sha := env.File(t, "big.bin", 10_500)
	ct.failAt = 4000
	sess := &targettest.MemSessions{}
	if _, err := env.Deliver(context.Background(), f, sess); err == nil {
		t.Fatal("first delivery should fail at chunk 4")
	}
	s, _ := sess.Load(context.Background())
	if s == nil || s.Offset != 4000 {
		t.Fatalf("recorded session %+v, want offset 4000", s)
	}
	res, err := env.Deliver(context.Background(), f, sess) // as after a restart
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || !res.Chunked || res.SHA256 != sha || res.Remote.ID != "token-1" {
		t.Fatalf("result %+v, want resumed chunked upload with sha %s on the first session", res, sha)
	}
	want := "[0 1000 2000 3000 4000 4000 5000 6000 7000 8000 9000 10000]"
	if got := fmt.Sprint(ct.offsets); got != want {
		t.Fatalf("chunk offsets %s, want %s (only the failed chunk sent twice)", got, want)
	}
	if sum := sha256hex(ct.data); sum != sha {
		t.Fatal("server content differs from the file")
	}
}

func TestInvalidSessionStartsOver(t *testing.T) {
	ct := reset()
	env := targettest.Build(t, chunkYAML, "")
	f, sha := env.File(t, "big.bin", 2500)
	ct.invalid = true
	res, err := env.Deliver(context.Background(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ct.sessions != 2 || res.SHA256 != sha || res.Remote.ID != "token-2" {
		t.Fatalf("sessions %d, result %+v", ct.sessions, res)
	}
}

func TestStaleSessionOfChangedFileIsDropped(t *testing.T) {
	ct := reset()
	env := targettest.Build(t, chunkYAML, "")
	f, _ := env.File(t, "big.bin", 3000)
	ct.failAt = 1000
	sess := &targettest.MemSessions{}
	env.Deliver(context.Background(), f, sess)
	f, sha := env.File(t, "big.bin", 3500) // rewritten meanwhile
	res, err := env.Deliver(context.Background(), f, sess)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || res.SHA256 != sha || ct.sessions != 2 {
		t.Fatalf("result %+v after %d sessions: want a fresh session", res, ct.sessions)
	}
}

func TestSmallFileGoesWhole(t *testing.T) {
	ct := reset()
	env := targettest.Build(t, chunkYAML, "")
	f, sha := env.File(t, "small.bin", 1000)
	res, err := env.Deliver(context.Background(), f, nil)
	if err != nil || res.Chunked || res.SHA256 != sha || ct.puts != 1 {
		t.Fatalf("res %+v err %v puts %d", res, err, ct.puts)
	}
}

func TestOverLimitFailsBeforeSending(t *testing.T) {
	ct := reset()
	ct.limit = 2000
	env := targettest.Build(t, chunkYAML, "")
	f, _ := env.File(t, "huge.bin", 2001)
	_, err := env.Deliver(context.Background(), f, nil)
	if k, _ := targets.Classify(err); k != targets.Permanent {
		t.Fatalf("kind %v (%v), want permanent", k, err)
	}
	if !strings.Contains(err.Error(), "over the test API's limit; nothing was sent (targets.t.max_file_size sets the limit)") {
		t.Fatalf("message: %v", err)
	}
	if ct.puts != 0 || ct.sessions != 0 {
		t.Fatal("bytes were sent")
	}
	// max_file_size overrides the API's limit.
	env = targettest.Build(t, chunkYAML+"max_file_size: 100\n", "")
	f, _ = env.File(t, "mid.bin", 101)
	if _, err := env.Deliver(context.Background(), f, nil); err == nil || !strings.Contains(err.Error(), "max_file_size of 100 B") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnknownAdapterKeysAreRejected(t *testing.T) {
	_, err := targettest.TryBuild(t, chunkYAML+"chunk_treshold: 5MiB\n", "")
	if err == nil || !strings.Contains(err.Error(), `unknown key "chunk_treshold" in targets.t (accepted: allow_insecure_http, auth, chunk_size, chunk_threshold,`) {
		t.Fatalf("err = %v", err)
	}
	_, err = targettest.TryBuild(t, chunkYAML, "destination: {folder: x}")
	if err == nil || !strings.Contains(err.Error(), `unknown key "folder" in watches[0].destination`) {
		t.Fatalf("err = %v", err)
	}
	_, err = targettest.TryBuild(t, "type: nosuch\nurl: http://x\n", "")
	if err == nil || !strings.Contains(err.Error(), `targets.t.type: unknown type "nosuch" (known:`) {
		t.Fatalf("err = %v", err)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want targets.Kind
	}{
		{&targets.Error{Kind: targets.Auth}, targets.Auth},
		{fmt.Errorf("wrapped: %w", &targets.Error{Kind: targets.Throttled}), targets.Throttled},
		{context.Canceled, targets.Canceled},
		{errors.New("surprise"), targets.Retryable},
		{io.ErrUnexpectedEOF, targets.Retryable},
	}
	for _, c := range cases {
		if got, _ := targets.Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	for status, want := range map[int]targets.Kind{429: targets.Throttled, 401: targets.Auth, 403: targets.Permanent, 404: targets.Permanent, 413: targets.Permanent, 408: targets.Retryable, 500: targets.Retryable, 503: targets.Retryable} {
		if got := targets.KindOfStatus(status); got != want {
			t.Errorf("KindOfStatus(%d) = %v, want %v", status, got, want)
		}
	}
}

// The answer to a chunk that does not commit was lost after its whole
// body went out: that chunk is sent again when the session resumes, and
// nothing was stored as a file, so the attempt is not ambiguous (it was
// counted as one: the next attempt asked the server whether the whole
// file "landed", and a server showing a same-name same-size file took it
// for delivered). The committing chunk's lost answer stays ambiguous.
func TestLostAnswerToAMiddleChunkIsNotAmbiguous(t *testing.T) {
	for _, tc := range []struct {
		at   int64
		want bool
	}{{4000, false}, {10000, true}} {
		ct := reset()
		env := targettest.Build(t, chunkYAML, "")
		f, _ := env.File(t, "big.bin", 10_500)
		ct.lostAt = tc.at
		_, err := env.Deliver(context.Background(), f, &targettest.MemSessions{})
		var te *targets.Error
		if !errors.As(err, &te) || te.Ambiguous != tc.want {
			t.Errorf("answer lost at chunk %d: %v (ambiguous %v), want ambiguous %v", tc.at, err, te != nil && te.Ambiguous, tc.want)
		}
	}
}
