package daemon_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// queue.recoverLeases counts every job a killed daemon left leased
// as an ambiguous attempt ("started_at > 0" holds for every lease: qLease
// sets it at the claim), also one of which not a byte was sent (killed
// right after the claim, while hashing, while waiting for a folder). The
// next attempt then asks sensenet whether "the upload" landed, and
// sensenet's Landed takes any content of the same name and size for it
// (documented as acceptable only after a whole body was sent). A file the
// server already holds under that name with the same size (another host's
// upload, a colleague's copy) is recorded as delivered with the local
// file's SHA-256 and never sent: the new content is lost.
func TestLeaseWithNothingSentIsNotTakenForALandedUpload(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { srv.Close(); fake.Close() })
	setup := fake.Setup(srv.URL)

	// The server holds a.bin (1000 bytes) that this daemon never delivered.
	other := daemontest.Start(t, setup.Target, "destination: "+setup.Destination)
	old := other.WriteRandom(t, "a.bin", 1000)
	other.WaitDelivered(t, "a.bin", old)
	other.Stop()

	h := daemontest.Start(t, setup.Target, "destination: "+setup.Destination)
	h.Stop()
	// A new a.bin of the same size is dropped; the daemon claims its job
	// and is killed before it sends anything (kill -9 right after the
	// claim): the database holds the job leased.
	sha := h.WriteRandom(t, "a.bin", 1000)
	_, fi, err := fsid.Stat(filepath.Join(h.Inbox, "a.bin"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q, err := queue.Open(ctx, h.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, []queue.Item{{Watch: h.WatchPath(), Rel: "a.bin", Target: "t", FP: fsid.Of(fi), Order: "oldest"}}); err != nil {
		t.Fatal(err)
	}
	if j, err := q.Claim(ctx); err != nil || j == nil {
		t.Fatalf("claim: %v %v", j, err)
	}
	q.Close()

	h.Restart(t)
	h.WaitDelivered(t, "a.bin", sha)
	if got := remoteSHA(fake, "a.bin"); got != sha {
		t.Fatalf("a.bin is recorded as delivered (sha %s) but the server holds the other content (sha %s, old %s): the file was never sent", sha[:8], got[:8], old[:8])
	}
}
