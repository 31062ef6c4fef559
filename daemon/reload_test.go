package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// clientLog records what each client of the test-client target did: every
// build of a target is a new client, named by its URL.
type clientLog struct {
	mu        sync.Mutex
	delivered map[string]string // rel → URL of the client that delivered it
	puts      map[string]int    // rel → Put calls
	closed    map[string]bool   // URL → Close called
	closedBy  map[string][]string
	block     map[string]chan struct{} // rel → Put waits for it half-way
	started   map[string]chan struct{} // rel → closed when its Put has begun
}

var clients = &clientLog{}

func (l *clientLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.delivered, l.puts, l.closed = map[string]string{}, map[string]int{}, map[string]bool{}
	l.closedBy, l.block, l.started = map[string][]string{}, map[string]chan struct{}{}, map[string]chan struct{}{}
}

// hold makes the upload of rel stop half-way until the returned func runs;
// started is closed once the upload has begun.
func (l *clientLog) hold(rel string) (started <-chan struct{}, release func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, s := make(chan struct{}), make(chan struct{})
	l.block[rel], l.started[rel] = b, s
	return s, func() { close(b) }
}

func (l *clientLog) who(rel string) (url string, puts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delivered[rel], l.puts[rel]
}

func (l *clientLog) isClosed(url string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed[url]
}

// deliveredBeforeClose reports the files a client had delivered when it
// was closed.
func (l *clientLog) deliveredBeforeClose(url string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closedBy[url]
}

type clientTarget struct{ url string }

func init() {
	clients.reset()
	targets.Register("test-client", func(b *targets.Base) (targets.Target, error) { return &clientTarget{url: b.Config.URL}, nil })
}

func (c *clientTarget) Watch(w *config.Watch) (any, error) { return nil, w.Destination.Decode() }

func (c *clientTarget) Prepare(_ context.Context, f *targets.File) (*targets.Plan, error) {
	return &targets.Plan{Name: f.Name()}, nil
}

func (c *clientTarget) Put(ctx context.Context, f *targets.File, _ *targets.Plan, body *targets.Body) (targets.Remote, error) {
	clients.mu.Lock()
	clients.puts[f.Rel]++
	block, started := clients.block[f.Rel], clients.started[f.Rel]
	delete(clients.started, f.Rel)
	clients.mu.Unlock()
	h := sha256.New()
	if block != nil {
		if _, err := io.CopyN(h, body, body.Len()/2); err != nil {
			return targets.Remote{}, err
		}
		if started != nil {
			close(started)
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
	clients.mu.Lock()
	defer clients.mu.Unlock()
	clients.delivered[f.Rel] = c.url
	return targets.Remote{ID: f.Rel, Name: f.Name(), Version: "1"}, nil
}

func (c *clientTarget) Close() error {
	clients.mu.Lock()
	defer clients.mu.Unlock()
	clients.closed[c.url] = true
	for rel, url := range clients.delivered {
		if url == c.url {
			clients.closedBy[c.url] = append(clients.closedBy[c.url], rel)
		}
	}
	return nil
}

// reloadConfig is a whole configuration: target t at url, one watch per
// folder.
func reloadConfig(url string, folders ...string) string {
	var b strings.Builder
	b.WriteString("state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\n")
	b.WriteString("targets:\n  t:\n    type: test-client\n    url: " + url + "\nwatches:\n")
	for _, f := range folders {
		b.WriteString("  - path: " + f + "\n    target: t\n    settle: 100ms\n")
	}
	return b.String()
}

func deliveredFrom(t *testing.T, h *daemontest.Harness, watch, rel string) *queue.FileState {
	t.Helper()
	var st *queue.FileState
	daemontest.Eventually(t, "delivery of "+rel+" from "+watch, func() bool {
		s, err := h.Queue().FileState(context.Background(), watch, rel)
		if err != nil {
			t.Fatal(err)
		}
		st = s
		return s != nil
	})
	return st
}

func writeIn(t *testing.T, dir, rel, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, rel), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A reload that adds a watch starts it, with its start-up scan: a file
// already in the new folder and one dropped later both arrive.
func TestReloadAddsWatch(t *testing.T) {
	clients.reset()
	second := t.TempDir()
	h := daemontest.StartYAML(t, reloadConfig("http://one", "{{inbox}}"))
	writeIn(t, second, "before.txt", "there before the reload")
	if err := h.Reload(t, reloadConfig("http://one", "{{inbox}}", second)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	deliveredFrom(t, h, second, "before.txt")
	writeIn(t, second, "after.txt", "dropped after the reload")
	deliveredFrom(t, h, second, "after.txt")
	h.WriteFile(t, "first.txt", []byte("the first watch still works"))
	deliveredFrom(t, h, h.Inbox, "first.txt")
}

// A reload that removes a watch lets its upload in flight finish on the
// old client, then stops watching the folder.
func TestReloadRemovesWatchAfterItsUploadInFlight(t *testing.T) {
	clients.reset()
	second := t.TempDir()
	h := daemontest.StartYAML(t, reloadConfig("http://one", "{{inbox}}", second))
	started, release := clients.hold("inflight.bin")
	data := strings.Repeat("x", 1<<20)
	writeIn(t, second, "inflight.bin", data)
	<-started
	if err := h.Reload(t, reloadConfig("http://one", "{{inbox}}")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	release()
	st := deliveredFrom(t, h, second, "inflight.bin")
	if sum := sha256.Sum256([]byte(data)); st.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("delivered sha %s, want the file's", st.SHA256)
	}
	if _, puts := clients.who("inflight.bin"); puts != 1 {
		t.Fatalf("the upload in flight was sent %d times, want once (not cut by the reload)", puts)
	}
	// The removed folder is no longer watched: a file there is not queued,
	// while one in the kept watch, dropped at the same time, arrives.
	writeIn(t, second, "later.txt", "not watched any more")
	h.WriteFile(t, "kept.txt", []byte("still watched"))
	deliveredFrom(t, h, h.Inbox, "kept.txt")
	h.WaitIdle(t)
	for _, s := range []string{queue.Pending, queue.Leased, queue.Done, queue.Failed} {
		js, err := h.Queue().Jobs(context.Background(), s, "later.txt", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(js) > 0 {
			t.Fatalf("a file in the removed watch was queued (%s)", s)
		}
	}
}

// A changed target gets a new client for new jobs; the upload in flight
// finishes on the old client, which is closed only after it.
func TestReloadChangedTargetNewClientForNewJobs(t *testing.T) {
	clients.reset()
	h := daemontest.StartYAML(t, reloadConfig("http://one", "{{inbox}}"))
	started, release := clients.hold("old.bin")
	h.WriteRandom(t, "old.bin", 1<<20)
	<-started
	if err := h.Reload(t, reloadConfig("http://two", "{{inbox}}")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if clients.isClosed("http://one") {
		t.Fatal("the old client was closed while its upload was in flight")
	}
	h.WriteFile(t, "new.txt", []byte("after the reload"))
	deliveredFrom(t, h, h.Inbox, "new.txt")
	if url, _ := clients.who("new.txt"); url != "http://two" {
		t.Fatalf("new.txt went through client %q, want the new one (http://two)", url)
	}
	release()
	deliveredFrom(t, h, h.Inbox, "old.bin")
	if url, puts := clients.who("old.bin"); url != "http://one" || puts != 1 {
		t.Fatalf("old.bin: client %q, %d puts; want the old client (http://one), once", url, puts)
	}
	daemontest.Eventually(t, "the old client to close", func() bool { return clients.isClosed("http://one") })
	if got := clients.deliveredBeforeClose("http://one"); len(got) != 1 || got[0] != "old.bin" {
		t.Fatalf("the old client was closed having delivered %v, want [old.bin]", got)
	}
}

// An invalid new configuration is refused with its reason, and the old one
// keeps running.
func TestReloadRefusesBrokenConfig(t *testing.T) {
	clients.reset()
	h := daemontest.StartYAML(t, reloadConfig("http://one", "{{inbox}}"))
	broken := strings.Replace(reloadConfig("http://two", "{{inbox}}"), "settle: 100ms", "settle: 100ms\n    destination: {bogus: 1}", 1)
	err := h.Reload(t, broken)
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("reload of a config with an unknown destination key: %v, want it refused naming the key", err)
	}
	moved := strings.Replace(reloadConfig("http://two", "{{inbox}}"), "{{state}}", t.TempDir(), 1)
	if err := h.Reload(t, moved); err == nil || !strings.Contains(err.Error(), "state_dir") {
		t.Fatalf("reload with another state_dir: %v, want it refused", err)
	}
	h.WriteFile(t, "a.txt", []byte("still running"))
	deliveredFrom(t, h, h.Inbox, "a.txt")
	if url, _ := clients.who("a.txt"); url != "http://one" {
		t.Fatalf("a.txt went through %q, want the old configuration's client", url)
	}
	if clients.isClosed("http://one") {
		t.Fatal("a refused reload closed the running client")
	}
}

// The folder check (sandbox.Checker under systemd) refuses a start and a
// reload whose folders lack the access the daemon needs.
func TestFolderCheckRefusesStartAndReload(t *testing.T) {
	clients.reset()
	h := daemontest.StartYAML(t, reloadConfig("http://one", "{{inbox}}"))
	c, err := config.Parse(strings.NewReader(strings.NewReplacer("{{inbox}}", h.Inbox, "{{state}}", t.TempDir()).Replace(reloadConfig("http://one", "{{inbox}}"))))
	if err != nil {
		t.Fatal(err)
	}
	refuse := func(_ context.Context, _ *config.Config) error {
		return errors.New("watches[0].path: injected: read-only file system")
	}
	if _, err := daemon.New(context.Background(), c, daemon.Options{CheckFolders: refuse}); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("start with a failing folder check: %v", err)
	}
	h.Stop()
	d, err := daemon.New(context.Background(), h.Config, daemon.Options{Log: slog.New(slog.DiscardHandler), CheckFolders: func(ctx context.Context, c *config.Config) error {
		if len(c.Watches) > 1 {
			return refuse(ctx, c)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	two, err := config.Parse(strings.NewReader(strings.NewReplacer("{{inbox}}", h.Inbox, "{{state}}", h.StateDir).Replace(reloadConfig("http://one", "{{inbox}}", t.TempDir()))))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(ctx, two); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("reload with a failing folder check: %v", err)
	}
}
