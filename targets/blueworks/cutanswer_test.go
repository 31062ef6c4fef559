package blueworks

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/fakehttp"
	"github.com/dropsync/dropsync/targets/targettest"
)

// FileUpload stores the attachment and its 200 answer is cut off half way
// (the connection drops). That outcome is as ambiguous as an answer that
// never came; it was read as "the answer is not FileUpload's JSON", a plain
// Retryable failure with MaxAttempts 3, not Ambiguous, so the daemon's
// ambiguous_resends bound (default 1) did not apply and the file was
// attached up to three times. The loop below follows daemon.handleErr
// (Ambiguous → ambiguous(); MaxAttempts → CountAttempt).
func TestCutSuccessAnswerIsNotResentBlindly(t *testing.T) {
	fake := NewFake()
	faults := fakehttp.Wrap(fake)
	faults.Set(func(r *http.Request) fakehttp.Action { return fakehttp.Action{CutAnswer: r.URL.Path == UploadPath} })
	srv := httptest.NewServer(faults)
	t.Cleanup(srv.Close)
	env := targettest.Build(t, fake.Setup(srv.URL).Target, "destination: "+instanceDest+"\non_conflict: rename")
	tgt := env.Target.(*Target)
	resends, _ := tgt.AmbiguousResends()

	f, _ := env.File(t, "scan.pdf", 10_000)
	ambiguous := 0
	for attempt := 1; ; attempt++ {
		_, err := env.Deliver(t.Context(), f, nil)
		if err == nil {
			break
		}
		var te *targets.Error
		if !errors.As(err, &te) || te.Kind != targets.Retryable {
			t.Logf("attempt %d: final: %v", attempt, err)
			break
		}
		t.Logf("attempt %d: %v (ambiguous %v, max attempts %d)", attempt, err, te.Ambiguous, te.MaxAttempts)
		if te.Ambiguous {
			if ambiguous++; ambiguous > resends {
				break
			}
		}
		if te.MaxAttempts > 0 && attempt >= te.MaxAttempts {
			break
		}
	}
	if n := len(fake.Attachments()); n > 1+resends {
		t.Fatalf("one file, %d attachments on the server (ambiguous_resends is %d)", n, resends)
	}
}
