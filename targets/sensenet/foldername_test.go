package sensenet_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/targettest"
)

// A file whose name the server resolves to a folder (sensenet compares
// names without case: file Sub, folder sub) fails permanently with a
// message naming the file and the folder, whatever the policy reuses the
// name with: the whole upload and the chunked upload's start (Overwrite,
// answered 500 by the server, which cannot store a binary in a folder) and
// skip's look-up. Nothing is written onto the folder, and rename (a new
// content beside it) still delivers.
func TestFileNamedLikeAFolderFailsPermanently(t *testing.T) {
	for _, tc := range []struct {
		policy string
		size   int64
	}{{"version", 100}, {"overwrite", 100}, {"version", 2 << 20}, {"skip", 100}, {"rename", 100}} {
		t.Run(tc.policy, func(t *testing.T) {
			b := serve(t)
			b.env = targettest.Build(t, b.target(""), "destination: {path: "+docs+"}\non_conflict: "+tc.policy+"\n")
			if _, err := b.fake.AddFolder(docs + "/sub"); err != nil {
				t.Fatal(err)
			}
			f, _ := b.env.File(t, "Sub", tc.size)
			res, err := b.env.Deliver(context.Background(), f, &targettest.MemSessions{})
			if tc.policy == "rename" {
				if err != nil {
					t.Fatalf("rename: %v, want a new content beside the folder", err)
				}
				if c, ok := b.fake.Content(res.Remote.Extra["path"]); !ok || c.Type == "Folder" {
					t.Fatalf("rename: delivered as %+v (%+v)", res.Remote, c)
				}
				return
			}
			var te *targets.Error
			if !errors.As(err, &te) || te.Kind != targets.Permanent {
				t.Fatalf("deliver: %+v, %v; want a permanent failure", res, err)
			}
			if msg := err.Error(); !strings.Contains(msg, docs+"/sub") || !strings.Contains(msg, "Folder") || !strings.HasPrefix(msg, "sensenet: ") {
				t.Errorf("deliver: %q, want the operation, the folder's path and its type", msg)
			}
			if c, _ := b.fake.Content(docs + "/sub"); len(c.Versions) != 0 || c.Locked {
				t.Errorf("the folder has %d binary version(s) written onto it, checked out: %v", len(c.Versions), c.Locked)
			}
		})
	}
}

// An Upload answer whose Type is a folder's is never recorded as the file,
// even from a server that answers it with success.
func TestUploadAnswerNamingAFolderIsPermanent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"Url":"/Root/Content/Documents/sub","Thumbnail_url":"/Root/Content/Documents/sub","Name":"sub","Length":100,"Type":"Folder","Id":1003}`)
	}))
	t.Cleanup(srv.Close)
	b := &bundle{srv: srv}
	b.env = targettest.Build(t, b.target("read_version: false\n"), "destination: {path: "+docs+"}\non_conflict: version\n")
	f, _ := b.env.File(t, "Sub", 100)
	res, err := b.env.Deliver(context.Background(), f, nil)
	var te *targets.Error
	if !errors.As(err, &te) || te.Kind != targets.Permanent || !strings.Contains(err.Error(), docs+"/sub") {
		t.Fatalf("deliver: %+v, %v; want a permanent failure naming the folder", res, err)
	}
}
