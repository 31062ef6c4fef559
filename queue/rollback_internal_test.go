package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A transaction that SQLite ended itself (a COMMIT that failed on a full
// disk rolls back on its own) fails with its own error only: the ROLLBACK
// that follows finds no transaction, and its error was joined on a second
// line ("cannot rollback - no transaction is active … bad connection"),
// which reached the health text and the log.
func TestTransactionSQLiteEndedFailsInOneLine(t *testing.T) {
	ctx := context.Background()
	q, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	full := errors.New("queue: commit: database or disk is full")
	err = q.hotTx(ctx, func(c *conn) error {
		if _, err := c.exec(`COMMIT`); err != nil { // what a failed COMMIT leaves: no transaction
			return err
		}
		return full
	})
	if !errors.Is(err, full) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "rollback") {
		t.Fatalf("got %q, want only %q", err, full)
	}
	if err := q.Ping(ctx); err != nil {
		t.Fatalf("the queue works no more: %v", err)
	}
}
