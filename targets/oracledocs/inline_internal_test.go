package oracledocs

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
	defer srv.Close()
	s := fake.Setup(srv.URL)
	env := targettest.Build(t, s.Target, "destination: "+s.Destination)
	env.CheckInline(t, env.Target.(*Target).client.HTTP)
}
