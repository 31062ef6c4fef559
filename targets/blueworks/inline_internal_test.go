package blueworks

import (
	"testing"
)

// A small file's upload is held in memory and goes to the server with its
// request's headers in one write (targets.Inline); a larger one streams.
func TestSmallUploadGoesWithItsHeaders(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	e.CheckInline(t, e.Target.(*Target).client.HTTP)
}
