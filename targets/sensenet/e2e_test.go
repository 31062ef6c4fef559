package sensenet_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// e2e serves a fresh fake and runs the real daemon against it (4 workers,
// shutdown deadline 100ms, versions read back) with targetExtra added to
// the target and watchExtra to the watch.
func e2e(t *testing.T, targetExtra, watchExtra string) (*daemontest.Harness, *sensenet.Fake) {
	t.Helper()
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(func() {
		srv.Close()
		fake.Close()
	})
	y := "state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 100ms\nretry: {initial: 20ms, max: 200ms}\n" +
		"targets:\n  t:\n    type: sensenet\n    url: " + srv.URL + "\n    auth: {type: bearer, token: " + sensenet.DemoToken + "}\n    read_version: true\n" +
		indentLines(targetExtra, "    ") +
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n    destination: {path: " + docs + "}\n" +
		indentLines(watchExtra, "    ")
	return daemontest.StartYAML(t, y), fake
}

func indentLines(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			b.WriteString(pre + l + "\n")
		}
	}
	return b.String()
}

// TestE2EChunkedUploadInterruptedResumes stops the daemon while a 20 MiB
// file is halfway up in 1 MiB chunks, starts it again on the same state,
// and checks that the upload completes in the same session, sending at
// most one chunk twice.
func TestE2EChunkedUploadInterruptedResumes(t *testing.T) {
	h, fake := e2e(t, "chunk_threshold: 4MiB\nchunk_size: 1MiB", "")
	reached, release := make(chan struct{}), make(chan struct{})
	var hold, free sync.Once
	unblock := func() { free.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the server closes, even when the test fails
	fake.SetChunkHook(func(ev sensenet.ChunkEvent) {
		if ev.Offset == 7<<20 {
			hold.Do(func() {
				close(reached)
				<-release // hold the eighth chunk until the daemon is down
			})
		}
	})
	sha := h.WriteRandom(t, "video/big.mp4", 20<<20)
	select {
	case <-reached:
	case <-time.After(daemontest.Timeout):
		t.Fatalf("the chunk at 7 MiB did not arrive within %s", daemontest.Timeout)
	}
	h.Stop() // the drain deadline interrupts the upload in flight
	unblock()
	if c, ok := fake.Content(docs + "/video/big.mp4"); !ok || !c.Locked || len(c.Versions) != 0 {
		t.Fatalf("after the interruption the server holds %+v, want an unfinished upload", c)
	}
	h.Restart(t)
	st := h.WaitDelivered(t, "video/big.mp4", sha)
	c, _ := fake.Content(docs + "/video/big.mp4")
	if len(c.Versions) != 1 || c.Current().SHA256 != sha || c.Locked || st.Remote.ID != fmt.Sprint(c.ID) || st.Remote.Version != "V1.0.A" {
		t.Fatalf("server %+v, recorded %+v", c, st.Remote)
	}
	if n := fake.Requests(sensenet.OpCreate); n != 1 {
		t.Fatalf("%d upload sessions, want 1 (resumed, not restarted)", n)
	}
	chunks := fake.ChunkRequests(docs + "/video/big.mp4")
	twice := 0
	for off, n := range chunks {
		if n > 2 {
			t.Fatalf("chunk at %d stored %d times", off, n)
		}
		if n == 2 {
			twice++
		}
	}
	if len(chunks) != 20 || twice > 1 {
		t.Fatalf("chunks %v: want all 20 offsets, at most one sent twice", chunks)
	}
}

// TestE2EManyFilesIntoNewFolders drops files into nested folders that do
// not exist remotely; four workers create them concurrently.
func TestE2EManyFilesIntoNewFolders(t *testing.T) {
	h, fake := e2e(t, "", "")
	folders := []string{"2026/01 Jan", "2026/02 Feb/ünï", "2026/03 Mär/it's", "x/y/z", "a b/c d/e f"}
	want := map[string]string{}
	for i := range 60 {
		rel := fmt.Sprintf("%s/file %02d (%d).txt", folders[i%len(folders)], i, i%3)
		want[rel] = h.WriteRandom(t, rel, int64(100+i*31))
	}
	// sensenet stores it's as it-s (FACTS.md §5.6).
	server := strings.NewReplacer("it's", "it-s")
	for rel, sha := range want {
		st := h.WaitDelivered(t, rel, sha)
		c, ok := fake.Content(docs + "/" + server.Replace(rel))
		if !ok || c.Current().SHA256 != sha || st.Remote.Extra["path"] != docs+"/"+server.Replace(rel) {
			t.Errorf("%s: server %+v, recorded %+v", rel, c, st.Remote)
		}
	}
	for _, f := range folders {
		if c, ok := fake.Content(docs + "/" + server.Replace(f)); !ok || c.Type != "Folder" {
			t.Errorf("folder %s: %+v", f, c)
		}
	}
	if n := len(fake.Files(docs)); n != len(want) {
		t.Errorf("%d files on the server, want %d", n, len(want))
	}
}

// TestE2EVersionsAndDeletes records the server's version of each
// delivery and moves a delivered file in a sub-folder to the trash when it
// is deleted locally.
func TestE2EVersionsAndDeletes(t *testing.T) {
	h, fake := e2e(t, "", "deletes: propagate")
	var versions []string
	var id string
	for i := range 3 {
		sha := h.WriteRandom(t, "sub/doc.txt", int64(1000+i))
		st := h.WaitDelivered(t, "sub/doc.txt", sha)
		if id == "" {
			id = st.Remote.ID
		}
		if st.Remote.ID != id {
			t.Fatalf("delivery %d went to content %s, want %s", i, st.Remote.ID, id)
		}
		versions = append(versions, st.Remote.Version)
	}
	if got := strings.Join(versions, " "); got != "V1.0.A V2.0.A V3.0.A" {
		t.Fatalf("recorded versions %q", got)
	}
	h.Remove(t, "sub/doc.txt")
	h.WaitForgotten(t, "sub/doc.txt")
	if _, ok := fake.Content(docs + "/sub/doc.txt"); ok {
		t.Fatal("still on the server")
	}
	if tr := fake.Trashed(); len(tr) != 1 || tr[0] != docs+"/sub/doc.txt" {
		t.Fatalf("trash %q", tr)
	}
}
