package sensenet

import (
	"net/http/httptest"
	"testing"

	"github.com/dropsync/dropsync/targets/targettest"
)

// A small file's upload is held in memory and goes to the server with its
// request's headers in one write (targets.Inline); a larger one streams.
func TestSmallUploadGoesWithItsHeaders(t *testing.T) {
	fake := NewFake()
	srv := httptest.NewServer(fake)
	defer fake.Close()
	defer srv.Close()
	env := targettest.Build(t, "type: sensenet\nurl: "+srv.URL+"\nauth: {type: bearer, token: "+DemoToken+"}\nread_version: false\nchunk_threshold: 1MiB\n",
		"destination: {path: "+DocumentsPath+"}")
	env.CheckInline(t, env.Target.(*Target).client.HTTP)
}
