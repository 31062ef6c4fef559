package lookup_test

import (
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/lookup"
)

// A call still running is shared while younger than the base, doubled per
// call of its key still running; an older one gives way to a fresh call;
// a call that returned is not shared at all.
func TestCallsAreSharedWhileYoungAndForgottenOnceDone(t *testing.T) {
	var cs lookup.Calls
	cs.Max = time.Hour
	hang := make(chan struct{})
	f := func() (any, error) { <-hang; return nil, nil }
	base := 50 * time.Millisecond
	a := cs.Start("k", base, f)
	if b := cs.Start("k", base, f); b != a {
		t.Fatal("a young call running was not shared")
	}
	deadline := time.Now().Add(5 * time.Second)
	for cs.Start("k", base, f) == a { // polling with a deadline: a ages past base
		if time.Now().After(deadline) {
			t.Fatal("a call older than its base was shared for 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b := cs.Start("k", base, f)
	if b == a {
		t.Fatal("the fresh call was not the newest")
	}
	close(hang)
	<-a.Done()
	<-b.Done()
	if c := cs.Start("k", base, func() (any, error) { return "again", nil }); c == a || c == b {
		t.Fatal("a call that returned was shared")
	} else if <-c.Done(); c.Value != "again" {
		t.Fatalf("value %v", c.Value)
	}
}
