package sensenet_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

// TestReplacingAContentOfAnotherTypeTakesOneRequest: with Overwrite the
// server reuses the content of the name whatever its type, and its Upload
// answer carries that content's Type. A folder often holds files people
// put there through sensenet's own UI, typed by extension (Image for a
// .jpg), while dropsync sends ContentType File. checkUploaded looks every
// answer whose Type is neither the destination's content_type nor a known
// folder type up again: one GET more per small file replaced (and per
// chunk answer of a large one), for a File subtype that is no folder at
// all. The Upload answer alone said it: its Type is not a container type.
func TestReplacingAContentOfAnotherTypeTakesOneRequest(t *testing.T) {
	b := serve(t)
	// The existing content, of type Image (as the web UI stores a .jpg).
	b.env = targettest.Build(t, b.target("read_version: false\n"), "destination: {path: "+docs+", content_type: Image}\n")
	f, _ := b.env.File(t, "photo.jpg", 100)
	b.deliver(t, f, nil)
	if c, ok := b.fake.Content(docs + "/photo.jpg"); !ok || c.Type != "Image" {
		t.Fatalf("set-up: %+v, want an Image", c)
	}

	b.env = targettest.Build(t, b.target("read_version: false\n"), "destination: {path: "+docs+"}\non_conflict: version\n")
	f, _ = b.env.File(t, "photo.jpg", 200)
	gets, uploads := b.fake.Requests(sensenet.OpGet), b.fake.Requests(sensenet.OpWhole)
	if _, err := b.env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
	if g, u := b.fake.Requests(sensenet.OpGet)-gets, b.fake.Requests(sensenet.OpWhole)-uploads; g != 0 || u != 1 {
		t.Errorf("replacing a small Image took %d upload(s) and %d GET(s), want the one upload", u, g)
	}
}
