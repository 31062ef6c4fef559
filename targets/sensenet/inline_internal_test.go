package sensenet

import (
	"context"
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
	rec := targettest.RecordBodies(env.Target.(*Target).client.HTTP)
	for _, c := range []struct {
		size     int64
		inMemory bool
	}{{4 << 10, true}, {512 << 10, false}} {
		f, sum := env.File(t, "f.bin", c.size)
		res, err := env.Deliver(context.Background(), f, nil)
		if err != nil || res.SHA256 != sum {
			t.Fatalf("%d bytes: %+v, %v", c.size, res, err)
		}
		sent := rec.Sent()
		if len(sent) != 1 || sent[0].InMemory != c.inMemory || sent[0].Length <= c.size {
			t.Fatalf("%d bytes: requests with a body %+v, want one upload, in memory: %v", c.size, sent, c.inMemory)
		}
	}
}
