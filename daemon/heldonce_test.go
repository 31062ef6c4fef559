package daemon_test

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// countHandler counts log records by level and message.
type countHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (c *countHandler) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.n[r.Level.String()+" "+r.Message]++
	c.mu.Unlock()
	return nil
}
func (c *countHandler) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countHandler) WithGroup(string) slog.Handler      { return c }
func (c *countHandler) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// Another program holds the database's write lock for a few seconds while
// a job is due: the problem is said once, and its end once, not once per
// claim attempt (an ERROR line every ~2 s for as long as the lock lasted).
func TestHeldDatabaseIsReportedOnce(t *testing.T) {
	mem.reset()
	mem.mu.Lock()
	mem.fail = func(rel string) error {
		return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 500, Msg: "busy"}
	}
	mem.mu.Unlock()
	h := daemontest.Start(t, memTargetYAML, "")
	cfg := h.Config
	h.WriteRandom(t, "a.txt", 10)
	daemontest.Eventually(t, "a first attempt", func() bool { _, p := mem.get("a.txt"); return p >= 1 })
	h.Stop()
	counts := &countHandler{n: map[string]int{}}
	d, err := daemon.New(context.Background(), cfg, daemon.Options{Log: slog.New(counts)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(cfg.StateDir, queue.FileName)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	const failing = "ERROR cannot claim work from the database; trying again every second"
	daemontest.Eventually(t, "the held database reported", func() bool { return counts.count(failing) >= 1 })
	time.Sleep(5 * time.Second) // the fault: the lock lasts 5 s more
	c.ExecContext(context.Background(), "ROLLBACK")
	daemontest.Eventually(t, "claims working again reported", func() bool { return counts.count("INFO claims work again") == 1 })
	if n := counts.count(failing); n != 1 {
		t.Fatalf("a database held for about 6 s was reported %d times", n)
	}
}
