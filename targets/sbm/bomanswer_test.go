package sbm_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sbm"
	"github.com/dropsync/dropsync/targets/targettest"
)

// TestStoredWithJSONAnswerThatDoesNotParseIsNotUnreachable: the server
// stores the file and answers UpdateFileField with its JSON result, but
// the body does not decode with encoding/json (here: a UTF-8 byte-order
// mark before it, as IIS-hosted or Windows-written answers carry; any
// malformed JSON does the same). targets.NotJSON says it is JSON (it skips
// the mark), yet sbm's reply() sends every json.Unmarshal error to
// NotTheAPI: Unreachable, "nothing reached the API". The target goes down,
// the probe (GetFileField, whose answer is the same) decides, and every
// round stores the file again: with on_conflict rename a new name(N)
// object per round, never recorded. Oracle and Blueworks ask NotJSON
// first and cap a malformed JSON answer at a few attempts.
func TestStoredWithJSONAnswerThatDoesNotParseIsNotUnreachable(t *testing.T) {
	fake := sbm.NewFake()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "UpdateFileField") {
			fake.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(append([]byte("\uFEFF"), rec.Body.Bytes()...))
	}))
	t.Cleanup(srv.Close)
	s := fake.Setup(srv.URL)
	env := targettest.Build(t, s.Target, "destination: "+s.Destination+"\non_conflict: rename\n")
	b := &bundle{fake: fake, srv: srv, env: env}

	f, _ := env.File(t, "report.pdf", 10_000)
	_, err := env.Deliver(context.Background(), f, nil)
	if n := len(b.files()); n != 1 {
		t.Fatalf("the server holds %d objects after one upload, want 1", n)
	}
	if targets.NotJSON(http.Header{"Content-Type": {"application/json"}}, append([]byte("\uFEFF"), `{"result":{"type":"OK"}}`...)) {
		t.Fatal("targets.NotJSON takes BOM-prefixed JSON for a page: the premise of this test is wrong")
	}
	if kind, _ := targets.Classify(err); err != nil && kind == targets.Unreachable {
		// A probe round later the same file goes again.
		_, _ = env.Deliver(context.Background(), f, nil)
		t.Errorf("the server stored the file and answered with JSON, but the upload is %v (%v): the target goes down and the file is sent again; after a second round the field holds %d objects for one file",
			kind, err, len(b.files()))
	}
}
