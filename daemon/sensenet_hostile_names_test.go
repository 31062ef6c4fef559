package daemon_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// TestSensenetFileNamedLikeAFolderIsNotDeliveredIntoTheFolder: a watch
// holds the folder sub/ (with sub/x.txt) and a file named Sub. sensenet
// compares names without case, so the server's folder "sub" is what an
// Upload with FileName=Sub and Overwrite=true reuses ("an existing content
// with the same name is reused"), and what skip's look-up finds. The
// Upload answer says so ("Type":"Folder"), but the adapter never looks:
// with version the file's bytes are written onto the folder and the file
// is recorded as delivered; with skip it is recorded as already on the
// server. Either way no document Sub exists on the server while the queue
// says done. The opposite order (file first, then the folder) fails with
// "exists on the server as a File, not a folder" (checkFolder); a file
// meeting a folder must fail as clearly, or land as a file.
func TestSensenetFileNamedLikeAFolderIsNotDeliveredIntoTheFolder(t *testing.T) {
	for _, policy := range []string{"version", "skip"} {
		t.Run(policy, func(t *testing.T) {
			h, fake := startSensenet(t, "", "on_conflict: "+policy)
			h.WaitDelivered(t, "sub/x.txt", h.WriteRandom(t, "sub/x.txt", 300))
			h.WriteRandom(t, "Sub", 400)
			var job *queue.Job
			daemontest.Eventually(t, "Sub done or failed", func() bool {
				js, err := h.Queue().Jobs(context.Background(), "", "Sub", 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(js) == 0 || (js[0].State != queue.Done && js[0].State != queue.Failed) {
					return false
				}
				job = js[0]
				return true
			})
			if job.State == queue.Failed {
				return // refused: fine
			}
			for _, c := range fake.Files(sensenet.DocumentsPath) {
				if c.Type != "Folder" && (c.Name == "Sub" || c.Name == "sub") {
					return // landed as a document
				}
			}
			c, _ := fake.Content(sensenet.DocumentsPath + "/sub")
			st, err := h.Queue().FileState(context.Background(), h.WatchPath(), "Sub")
			if err != nil {
				t.Fatal(err)
			}
			t.Errorf("Sub is %s and recorded as %+v, but the server holds no document Sub: the name belongs to the folder %s (type %s, %d binary version(s) written onto it)",
				job.State, st.Remote, c.Path, c.Type, len(c.Versions))
		})
	}
}

// TestSensenetDeletingAFileNamedLikeAFolderKeepsTheFolder: with deletes:
// propagate, a file Sub that was "delivered" onto the server's folder sub
// (see TestSensenetFileNamedLikeAFolderIsNotDeliveredIntoTheFolder) is
// recorded with the folder's id and path. Whoever drops Sub and then
// removes it makes dropsync delete that folder, and with it every file
// another local path delivered below it (sub/x.txt).
func TestSensenetDeletingAFileNamedLikeAFolderKeepsTheFolder(t *testing.T) {
	h, fake := startSensenet(t, "", "on_conflict: version\ndeletes: propagate")
	h.WaitDelivered(t, "sub/x.txt", h.WriteRandom(t, "sub/x.txt", 300))
	h.WriteRandom(t, "Sub", 400)
	daemontest.Eventually(t, "Sub done or failed", func() bool {
		js, err := h.Queue().Jobs(context.Background(), "", "Sub", 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(js) > 0 && (js[0].State == queue.Done || js[0].State == queue.Failed)
	})
	h.Remove(t, "Sub")
	h.WaitForgotten(t, "Sub")
	h.WaitIdle(t)
	if _, ok := fake.Content(sensenet.DocumentsPath + "/sub/x.txt"); !ok {
		t.Errorf("removing the local file Sub deleted the server's folder sub and sub/x.txt, which another local path delivered and still holds")
	}
}
