// Package targettest helps adapter tests: it builds a target from a YAML
// snippet, keeps upload sessions in memory, and writes test files.
package targettest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// Env is one target with one watch, built from configuration text.
type Env struct {
	Config *config.Config
	Target targets.Target
	Dest   any    // the watch's parsed destination
	Dir    string // the watched folder
}

// Build parses a configuration with one target named "t" (targetYAML, the
// block under it, indented by two spaces or not at all) and one watch on a
// fresh folder with the given extra keys (watchYAML, e.g.
// "destination: {path: /Root/x}\non_conflict: rename"). Errors fail t.
func Build(t testing.TB, targetYAML, watchYAML string) *Env {
	t.Helper()
	env, err := TryBuild(t, targetYAML, watchYAML)
	if err != nil {
		t.Fatalf("build target: %v", err)
	}
	return env
}

// TryBuild is Build returning the configuration or target error, for tests
// of validation messages.
func TryBuild(t testing.TB, targetYAML, watchYAML string) (*Env, error) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("state_dir: " + filepath.Join(dir, "state") + "\ntargets:\n  t:\n")
	b.WriteString(indent(targetYAML, "    "))
	b.WriteString("watches:\n  - path: " + filepath.Join(dir, "in") + "\n    target: t\n")
	b.WriteString(indent(watchYAML, "    "))
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(strings.NewReader(b.String()))
	if err != nil {
		return nil, err
	}
	set, err := targets.Build(c, nil)
	if err != nil {
		return nil, err
	}
	t.Cleanup(set.Close)
	return &Env{Config: c, Target: set.Targets["t"], Dest: set.Dests[0], Dir: filepath.Join(dir, "in")}, nil
}

func indent(s, pre string) string {
	s = strings.Trim(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	min := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if min < 0 || n < min {
			min = n
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if len(l) >= min {
			l = l[min:]
		}
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}

// File writes rel under the watched folder with size random bytes and
// returns the targets.File for it and the content's hex SHA-256.
func (e *Env) File(t testing.TB, rel string, size int64) (*targets.File, string) {
	t.Helper()
	p := filepath.Join(e.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return e.Stat(t, rel), hex.EncodeToString(h.Sum(nil))
}

// Stat returns the targets.File for an existing file under the watch.
func (e *Env) Stat(t testing.TB, rel string) *targets.File {
	t.Helper()
	p := filepath.Join(e.Dir, filepath.FromSlash(rel))
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	w := e.Config.Watches[0]
	return &targets.File{Watch: w.Path, Rel: rel, Path: p, Size: fi.Size(), ModTime: fi.ModTime(), OnConflict: w.OnConflict, Dest: e.Dest}
}

// Deliver runs the shared driver for f with in-memory sessions.
func (e *Env) Deliver(ctx context.Context, f *targets.File, s *MemSessions) (*targets.Result, error) {
	if s == nil {
		s = &MemSessions{}
	}
	return targets.Deliver(ctx, e.Target, e.Config.Targets["t"], f, s, nil)
}

// MemSessions is a SessionStore in memory.
type MemSessions struct {
	mu    sync.Mutex
	s     *targets.Session
	Saves int // how many times Save was called
}

// Load implements targets.SessionStore.
func (m *MemSessions) Load(context.Context) (*targets.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.s == nil {
		return nil, nil
	}
	c := *m.s
	return &c, nil
}

// Save implements targets.SessionStore.
func (m *MemSessions) Save(_ context.Context, s *targets.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *s
	c.HashState = append([]byte(nil), s.HashState...)
	m.s = &c
	m.Saves++
	return nil
}

// Delete implements targets.SessionStore.
func (m *MemSessions) Delete(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s = nil
	return nil
}
