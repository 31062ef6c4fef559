package sensenet_test

import (
	"fmt"
	"testing"

	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

// TestNewSmallFileIsOneRequest: a new small file into a known folder costs
// one request, the upload; the version is not read back unless
// read_version asks for it.
func TestNewSmallFileIsOneRequest(t *testing.T) {
	b := serve(t)
	b.env = targettest.Build(t, b.target("read_version: false\n"), "destination: {path: "+docs+"}")
	for i := range 5 {
		f, _ := b.env.File(t, fmt.Sprintf("n%d.txt", i), 4<<10)
		res := b.deliver(t, f, &targettest.MemSessions{})
		if res.Remote.ID == "" || res.Remote.Version != "" {
			t.Fatalf("remote %+v, want the id and no version", res.Remote)
		}
	}
	if n := b.fake.Requests(sensenet.OpAny); n != 5 {
		t.Fatalf("%d requests for 5 new files, want 5", n)
	}

	b = serve(t)
	b.env = targettest.Build(t, b.target("read_version: true\n"), "destination: {path: "+docs+"}")
	f, _ := b.env.File(t, "v.txt", 4<<10)
	if res := b.deliver(t, f, nil); res.Remote.Version != "V1.0.A" {
		t.Fatalf("remote %+v, want version V1.0.A read back", res.Remote)
	}
	if n := b.fake.Requests(sensenet.OpAny); n != 2 {
		t.Fatalf("%d requests with read_version, want 2 (upload and read-back)", n)
	}
}

// TestNewFolderIsCheckedOnceAndCreatedOnce: the first file into a new
// one-level sub-folder costs one lookup and one creation besides its
// upload, even when several workers start on the folder at once.
func TestNewFolderIsCheckedOnceAndCreatedOnce(t *testing.T) {
	b := serve(t)
	b.env = targettest.Build(t, b.target("read_version: false\n"), "destination: {path: "+docs+"}")
	f, _ := b.env.File(t, "new/a.txt", 10)
	b.deliver(t, f, nil)
	if g, p, w := b.fake.Requests(sensenet.OpGet), b.fake.Requests(sensenet.OpPost), b.fake.Requests(sensenet.OpWhole); g != 1 || p != 1 || w != 1 {
		t.Fatalf("%d GETs, %d creations, %d uploads; want 1 each", g, p, w)
	}
}
