package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/sandbox"
)

// A folder whose probe does not answer within Wait (a hung mount) is
// named in a warning and is no error; the other folders are still checked
// and their failures still refuse; an ended context ends the check.
func TestCheckGivesUpOnAFolderThatDoesNotAnswer(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	probe := func(d string, write bool) error {
		switch d {
		case "/mnt/nfs/inbox":
			<-hang
		case "/srv/done":
			return syscall.EROFS
		}
		return nil
	}
	var warned []string
	k := sandbox.Checker{Probe: probe, Wait: 50 * time.Millisecond, Warn: func(m string) { warned = append(warned, m) }}
	err := k.Check(context.Background(), cfg("/mnt/nfs/inbox", "/srv/done"))
	if err == nil || !strings.Contains(err.Error(), "watches[0].move_to /srv/done") {
		t.Fatalf("the move_to folder that fails is not refused: %v", err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "watches[0].path /mnt/nfs/inbox") || !strings.Contains(warned[0], "did not answer within 50ms") {
		t.Fatalf("warnings: %q", warned)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k.Wait = time.Hour
	if err := k.Check(ctx, cfg("/mnt/nfs/inbox", "/srv/ok")); !errors.Is(err, context.Canceled) {
		t.Fatalf("check with an ended context: %v", err)
	}
}
