package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// memTarget is a minimal in-memory target for tests of the daemon's own
// logic (coalescing, re-stat, after_upload, failed_to); the adapters are
// tested over HTTP against their fakes.
type memTarget struct {
	mu    sync.Mutex
	files map[string]string // rel → sha256
	puts  map[string]int
	vers  map[string][]string // rel → sha256 of every version stored, in order
	fail  func(rel string) error
	block chan struct{} // if set, Put waits for it after reading half the body
	// active is how many Puts run now; peak the most that ran at once.
	active, peak int
}

var mem = &memTarget{files: map[string]string{}, puts: map[string]int{}, vers: map[string][]string{}}

func init() {
	targets.Register("test-memory", func(*targets.Base) (targets.Target, error) { return mem, nil })
}

func (m *memTarget) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files, m.puts, m.vers, m.fail, m.block = map[string]string{}, map[string]int{}, map[string][]string{}, nil, nil
	m.active, m.peak = 0, 0
}

// running returns how many Puts run now and the most that ran at once.
func (m *memTarget) running() (active, peak int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.active, m.peak
}

func (m *memTarget) Watch(w *config.Watch) (any, error) { return nil, w.Destination.Decode() }

func (m *memTarget) Prepare(_ context.Context, f *targets.File) (*targets.Plan, error) {
	return &targets.Plan{Name: f.Name()}, nil
}

func (m *memTarget) Put(ctx context.Context, f *targets.File, _ *targets.Plan, body *targets.Body) (targets.Remote, error) {
	m.mu.Lock()
	fail, block := m.fail, m.block
	m.puts[f.Rel]++
	m.active++
	m.peak = max(m.peak, m.active)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.active--
		m.mu.Unlock()
	}()
	if fail != nil {
		if err := fail(f.Rel); err != nil {
			return targets.Remote{}, err
		}
	}
	h := sha256.New()
	if block != nil {
		if _, err := io.CopyN(h, body, body.Len()/2); err != nil {
			return targets.Remote{}, err
		}
		select {
		case <-block:
		case <-ctx.Done():
			return targets.Remote{}, ctx.Err()
		}
	}
	if _, err := io.Copy(h, body); err != nil {
		return targets.Remote{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[f.Rel] = sum
	m.vers[f.Rel] = append(m.vers[f.Rel], sum)
	return targets.Remote{ID: f.Rel, Version: fmt.Sprint(m.puts[f.Rel]), Name: f.Name()}, nil
}

func (m *memTarget) get(rel string) (string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.files[rel], m.puts[rel]
}

// versions returns the SHA-256 of every version stored for rel.
func (m *memTarget) versions(rel string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.vers[rel]...)
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
