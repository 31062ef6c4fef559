package sensenet_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/fakehttp"
	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

// sensenet with on_conflict rename (Overwrite=false): an Upload answer cut
// half way after the server stored the content was a plain Retryable
// (parseResult, MaxAttempts 3), never Ambiguous, so the daemon re-sent it
// blindly and every re-send left another name(N) copy. It is Ambiguous
// now: the daemon asks or bounds the re-sends, as for a lost answer.
func TestCutUploadAnswerIsAmbiguous(t *testing.T) {
	fake := sensenet.NewFake()
	faults := fakehttp.Wrap(fake)
	faults.Set(func(r *http.Request) fakehttp.Action {
		return fakehttp.Action{CutAnswer: strings.HasSuffix(r.URL.Path, "/Upload")}
	})
	srv := httptest.NewServer(faults)
	t.Cleanup(func() { srv.Close(); fake.Close() })
	b := &bundle{fake: fake, srv: srv}
	b.env = targettest.Build(t, b.target(""), "destination: {path: "+docs+"}\non_conflict: rename\n")
	f, _ := b.env.File(t, "a.txt", 100)
	for attempt := 1; ; attempt++ {
		_, err := b.env.Deliver(context.Background(), f, nil)
		var te *targets.Error
		if err == nil || !errors.As(err, &te) || te.Kind != targets.Retryable || te.Ambiguous ||
			(te.MaxAttempts > 0 && attempt >= te.MaxAttempts) {
			t.Logf("attempt %d: stop: %v", attempt, err)
			if te == nil || !te.Ambiguous {
				t.Errorf("a cut answer to a stored upload: %v, want a retryable error marked ambiguous", err)
			}
			break
		}
		t.Logf("attempt %d: %v (ambiguous %v, max attempts %d)", attempt, err, te.Ambiguous, te.MaxAttempts)
	}
	for _, n := range []string{"a(1).txt", "a(2).txt"} {
		if _, ok := fake.Content(docs + "/" + n); ok {
			t.Errorf("%s exists: the file was stored more than once", n)
		}
	}
}
