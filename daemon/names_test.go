package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/blueworks"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// waitSize waits until rel is recorded with a fingerprint of size bytes
// (a delivery or, with skip, a skip of that content).
func waitSize(t *testing.T, h *daemontest.Harness, rel string, size int64) *queue.FileState {
	t.Helper()
	var st *queue.FileState
	daemontest.Eventually(t, fmt.Sprintf("%s recorded at %d bytes", rel, size), func() bool {
		s, err := h.Queue().FileState(context.Background(), h.WatchPath(), rel)
		if err != nil {
			t.Fatal(err)
		}
		st = s
		return s != nil && s.FP.Size == size
	})
	return st
}

// TestSensenetServerNamesUnderEveryPolicy (acceptance): a+b#c.txt and a
// sub-folder x&y/ against the fake, whose names are the server's
// (a-b-c.txt, x-y): one content per file under the server's name,
// versioned as on_conflict says, and nothing uploaded twice.
func TestSensenetServerNamesUnderEveryPolicy(t *testing.T) {
	cases := []struct {
		policy string
		// server's names (below the library) → sizes of the versions
		want map[string][]int64
	}{
		{"version", map[string][]int64{"a-b-c.txt": {100, 200}, "x-y/in.txt": {300, 400}}},
		{"skip", map[string][]int64{"a-b-c.txt": {100}, "x-y/in.txt": {300}}},
		{"rename", map[string][]int64{"a-b-c.txt": {100}, "a-b-c(1).txt": {200}, "x-y/in.txt": {300}, "x-y/in(1).txt": {400}}},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			h, fake := startSensenet(t, "", "on_conflict: "+tc.policy)
			h.WriteRandom(t, "a+b#c.txt", 100)
			h.WriteRandom(t, "x&y/in.txt", 300)
			waitSize(t, h, "a+b#c.txt", 100)
			waitSize(t, h, "x&y/in.txt", 300)
			h.WriteRandom(t, "a+b#c.txt", 200)
			h.WriteRandom(t, "x&y/in.txt", 400)
			waitSize(t, h, "a+b#c.txt", 200)
			waitSize(t, h, "x&y/in.txt", 400)
			h.WaitIdle(t)
			files := fake.Files(sensenet.DocumentsPath)
			uploads := 0
			for name, sizes := range tc.want {
				c, ok := fake.Content(sensenet.DocumentsPath + "/" + name)
				if !ok || len(c.Versions) != len(sizes) {
					t.Errorf("%s: %+v, want %d version(s)", name, c, len(sizes))
					continue
				}
				for i, s := range sizes {
					if c.Versions[i].Size != s {
						t.Errorf("%s version %d holds %d bytes, want %d", name, i+1, c.Versions[i].Size, s)
					}
				}
				uploads += len(sizes)
			}
			if len(files) != len(tc.want) {
				t.Errorf("the server holds %d files, want %d: %+v", len(files), len(tc.want), files)
			}
			if n := fake.Requests(sensenet.OpWhole); n != uploads {
				t.Errorf("%d uploads, want %d", n, uploads)
			}
			if n := fake.Requests(sensenet.OpPost); n != 1 {
				t.Errorf("%d folder creations, want 1 (x-y)", n)
			}
		})
	}
}

// TestNameClashFailsNamingBothPaths: Report.txt and report.txt (sensenet
// names are case-insensitive), and a#b.txt and a?b.txt (both a-b.txt on
// the server), would become versions of one content. The second path
// fails with a message naming both paths and the remote name; the first
// stays as delivered.
func TestNameClashFailsNamingBothPaths(t *testing.T) {
	h, fake := startSensenet(t, "", "")
	for _, pair := range [][3]string{{"Report.txt", "report.txt", "report.txt"}, {"a#b.txt", "a?b.txt", "a-b.txt"}} {
		first, second, remote := pair[0], pair[1], pair[2]
		sha := h.WriteRandom(t, first, 100)
		h.WaitDelivered(t, first, sha)
		h.WriteRandom(t, second, 200)
		job := h.WaitFailed(t, second)
		for _, want := range []string{first, second, remote} {
			if !strings.Contains(strings.ToLower(job.LastError), strings.ToLower(want)) {
				t.Errorf("%s: error %q does not name %q", second, job.LastError, want)
			}
		}
		if job.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1 (permanent)", second, job.Attempts)
		}
		c, _ := fake.Content(sensenet.DocumentsPath + "/" + remote)
		if len(c.Versions) != 1 || c.Current().SHA256 != sha {
			t.Errorf("%s on the server: %+v, want only %s's bytes", remote, c.Versions, first)
		}
	}
}

// TestNameClashOfFilesClaimedTogether: Report.txt and report.txt arrive
// in one folder, settle together and are claimed in one transaction, which
// reads both names' owner (none yet) for the workers. The one that takes
// the name's lock second must not trust that reading: the other recorded
// the name meanwhile (queue.ClaimedOwner). Exactly one is delivered, the
// other fails naming both, and the server holds one version.
func TestNameClashOfFilesClaimedTogether(t *testing.T) {
	for round := range 5 {
		h, fake := startSensenet(t, "", "")
		sub := fmt.Sprintf("in%d", round)
		dropClash(t, h, sub)
		delivered, failed := clashSettled(t, h, sub)
		h.WaitIdle(t)
		c, _ := fake.Content(sensenet.DocumentsPath + "/" + sub + "/report.txt")
		if len(delivered) != 1 || len(failed) != 1 || len(c.Versions) != 1 {
			t.Fatalf("round %d: delivered %v, failed %v, %d versions on the server: want one of each and one version", round, delivered, failed, len(c.Versions))
		}
		h.Stop()
	}
}

// dropClash renames a new folder sub holding Report.txt and report.txt
// (one remote name on sensenet) into h's watch, so that both settle and
// are claimed together.
func dropClash(t *testing.T, h *daemontest.Harness, sub string) {
	t.Helper()
	stage := t.TempDir()
	if err := os.MkdirAll(filepath.Join(stage, sub), 0o700); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"Report.txt", "report.txt"} {
		if err := os.WriteFile(filepath.Join(stage, sub, name), bytes.Repeat([]byte{byte('a' + i)}, 100+i), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(filepath.Join(stage, sub), filepath.Join(h.WatchPath(), sub)); err != nil {
		t.Fatal(err)
	}
}

// clashSettled waits until both files dropClash dropped into sub are
// delivered or failed, and returns the paths of each; a failure must name
// both paths.
func clashSettled(t *testing.T, h *daemontest.Harness, sub string) (delivered, failed []string) {
	t.Helper()
	daemontest.Eventually(t, "both files delivered or failed", func() bool {
		delivered, failed = nil, nil
		for _, name := range []string{"Report.txt", "report.txt"} {
			rel := sub + "/" + name
			st, err := h.Queue().FileState(context.Background(), h.WatchPath(), rel)
			if err != nil {
				t.Fatal(err)
			}
			js, err := h.Queue().Jobs(context.Background(), queue.Failed, rel, 1)
			if err != nil {
				t.Fatal(err)
			}
			if st != nil {
				delivered = append(delivered, rel)
			}
			if len(js) == 1 {
				if !strings.Contains(js[0].LastError, "Report.txt") || !strings.Contains(js[0].LastError, "report.txt") {
					t.Fatalf("%s failed with %q, which does not name both paths", rel, js[0].LastError)
				}
				failed = append(failed, rel)
			}
		}
		return len(delivered)+len(failed) >= 2
	})
	return delivered, failed
}

// TestNameClashRenameTakesTheNextFreeName: with on_conflict rename the
// second local path goes to the next free name(N).ext instead.
func TestNameClashRenameTakesTheNextFreeName(t *testing.T) {
	h, fake := startSensenet(t, "", "on_conflict: rename")
	sha1 := h.WriteRandom(t, "Report.txt", 100)
	h.WaitDelivered(t, "Report.txt", sha1)
	sha2 := h.WriteRandom(t, "report.txt", 200)
	st := h.WaitDelivered(t, "report.txt", sha2)
	if st.Remote.Name != "report(1).txt" || remoteSHA(fake, "Report.txt") != sha1 || remoteSHA(fake, "report(1).txt") != sha2 {
		t.Fatalf("recorded %+v; server %+v", st.Remote, fake.Files(sensenet.DocumentsPath))
	}
}

// TestNameClashEndsWhenTheOwnerIsGone: a remote name belongs to a local
// path only while that path exists: after Report.txt is removed (or moved
// away after its upload), report.txt is the next version of the content.
func TestNameClashEndsWhenTheOwnerIsGone(t *testing.T) {
	h, fake := startSensenet(t, "", "")
	sha1 := h.WriteRandom(t, "Report.txt", 100)
	st1 := h.WaitDelivered(t, "Report.txt", sha1)
	h.Remove(t, "Report.txt")
	sha2 := h.WriteRandom(t, "report.txt", 200)
	st2 := h.WaitDelivered(t, "report.txt", sha2)
	c, _ := fake.Content(sensenet.DocumentsPath + "/Report.txt")
	if st2.Remote.ID != st1.Remote.ID || len(c.Versions) != 2 {
		t.Fatalf("recorded %+v then %+v; server versions %+v", st1.Remote, st2.Remote, c.Versions)
	}
}

// TestBlueworksRenameNumbersFromTheStateTable: Blueworks cannot list
// attachments, so a changed file under rename takes name(N).ext with N the
// first number the state table has not recorded for the location:
// f03.bin, then f03(1).bin, then f03(2).bin. Another path with the same
// base name (no folders in Blueworks) takes the next one.
func TestBlueworksRenameNumbersFromTheStateTable(t *testing.T) {
	fake := blueworks.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	h := daemontest.Start(t, fake.Setup(srv.URL).Target, "destination: {location: instance, ancestor_id: W-1, parent_id: W-1}\non_conflict: rename")
	var names []string
	for _, size := range []int64{100, 200, 300} {
		sha := h.WriteRandom(t, "f03.bin", size)
		names = append(names, h.WaitDelivered(t, "f03.bin", sha).Remote.Name)
	}
	sha := h.WriteRandom(t, "sub/f03.bin", 400)
	names = append(names, h.WaitDelivered(t, "sub/f03.bin", sha).Remote.Name)
	if got, want := strings.Join(names, " "), "f03.bin f03(1).bin f03(2).bin f03(3).bin"; got != want {
		t.Fatalf("recorded names %q, want %q", got, want)
	}
	var attached []string
	for _, a := range fake.Attachments() {
		attached = append(attached, a.Name)
	}
	if got, want := strings.Join(attached, " "), "f03.bin f03(1).bin f03(2).bin f03(3).bin"; got != want {
		t.Fatalf("attachments %q, want %q", got, want)
	}
}
