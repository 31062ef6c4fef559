package daemon_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// flatRace is a target without folders (objects named by base name, as
// sbm with on_conflict: version) whose upload of B/x.pdf and deletion of
// x.pdf are made to overlap: the Put waits until the Delete has started,
// the Delete removes the object once the Put has returned. Both waits are
// bounded so that a daemon that serialises them does not hang the test.
type flatRace struct {
	mu         sync.Mutex
	objs       map[string]bool
	delEntered chan struct{}
	putDone    chan struct{}
	armed      bool
}

var frace = &flatRace{objs: map[string]bool{}}

func init() {
	targets.Register("test-flatrace", func(*targets.Base) (targets.Target, error) { return frace, nil })
}

func (m *flatRace) FlatNames() bool                    { return true }
func (m *flatRace) Watch(w *config.Watch) (any, error) { return nil, w.Destination.Decode() }
func (m *flatRace) Prepare(_ context.Context, f *targets.File) (*targets.Plan, error) {
	return &targets.Plan{Name: f.Name()}, nil
}
func (m *flatRace) Put(ctx context.Context, f *targets.File, _ *targets.Plan, body *targets.Body) (targets.Remote, error) {
	m.mu.Lock()
	gate := m.armed && f.Rel == "B/x.pdf"
	m.mu.Unlock()
	if gate {
		defer close(m.putDone)
		select {
		case <-m.delEntered:
		case <-time.After(3 * time.Second): // bound only: a daemon that serialises them never deletes here
		}
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return targets.Remote{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[f.Name()] = true
	return targets.Remote{ID: f.Name(), Name: f.Name()}, nil
}
func (m *flatRace) Delete(_ context.Context, _ *targets.File, r targets.Remote) error {
	m.mu.Lock()
	armed := m.armed
	m.mu.Unlock()
	if armed {
		close(m.delEntered)
		select {
		case <-m.putDone:
		case <-time.After(3 * time.Second):
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, r.ID)
	return nil
}

// A folder renamed inside the watch (A → B) on a target without
// folders, with deletes: propagate. gone() checks RemoteShared and then
// deletes without the per-name lock the upload of B/x.pdf holds: when the
// two run at once, A/x.pdf's deletion removes the object B/x.pdf has just
// been uploaded to (a new version of it), and B/x.pdf is recorded as
// delivered while the server holds nothing; it is never sent again.
// (TestFolderRenameOnAFlatTargetKeepsTheObject passes only because its
// target fails the first delete, which puts it after the upload.)
func TestFolderRenameOnAFlatTargetDeleteWaitsForTheUpload(t *testing.T) {
	frace.mu.Lock()
	frace.objs, frace.armed = map[string]bool{}, false
	frace.delEntered, frace.putDone = make(chan struct{}), make(chan struct{})
	frace.mu.Unlock()
	h := daemontest.Start(t, "type: test-flatrace\nurl: http://127.0.0.1:1\n", "deletes: propagate")
	h.WaitDelivered(t, "A/x.pdf", h.WriteRandom(t, "A/x.pdf", 10))
	h.WaitIdle(t)
	frace.mu.Lock()
	frace.armed = true
	frace.mu.Unlock()
	if err := os.Rename(filepath.Join(h.Inbox, "A"), filepath.Join(h.Inbox, "B")); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, "B/x.pdf", "")
	h.WaitForgotten(t, "A/x.pdf")
	h.WaitIdle(t)
	frace.mu.Lock()
	ok := frace.objs["x.pdf"]
	frace.mu.Unlock()
	if !ok {
		t.Fatal("B/x.pdf is recorded as delivered, but its object x.pdf was deleted on the server for A/x.pdf")
	}
}
