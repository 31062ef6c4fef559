package queue_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// A session saved again after each confirmed chunk keeps its token, plan
// and fingerprint and moves its offset and hash state; once its row has
// gone (the job completed), the next save writes it in full again.
func TestSessionSavedPerChunk(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	s := q.Sessions("/w", "big", "t")
	sess := &targets.Session{Token: "1*2|3|4|5*True*True", Plan: targets.Plan{Name: "big", Parent: "/Root/x"}, ChunkSize: 1 << 20,
		HashState: []byte{0}, Size: 10 << 20, ModTime: 99, Inode: 7, Dev: 8, CTime: 9}
	if err := s.Save(ctx, sess); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 3; i++ {
		sess.Offset, sess.HashState = i<<20, []byte{byte(i)}
		if err := s.Save(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	check := func(store targets.SessionStore, offset int64) {
		t.Helper()
		got, err := store.Load(ctx)
		if err != nil || got == nil {
			t.Fatalf("load: %+v, %v", got, err)
		}
		if got.Token != sess.Token || got.Plan.Parent != "/Root/x" || got.ChunkSize != 1<<20 || got.Size != 10<<20 || got.ModTime != 99 ||
			got.Inode != 7 || got.Dev != 8 || got.CTime != 9 || got.Offset != offset || len(got.HashState) != 1 || got.HashState[0] != byte(offset>>20) {
			t.Fatalf("loaded %+v, want offset %d of %+v", got, offset, sess)
		}
	}
	check(q.Sessions("/w", "big", "t"), 3<<20)

	q.Enqueue(ctx, []queue.Item{item("big", 1)})
	j := claim(t, q)
	q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{SHA256: "s"}})
	sess.Offset, sess.HashState = 4<<20, []byte{4}
	if err := s.Save(ctx, sess); err != nil {
		t.Fatal(err)
	}
	check(q.Sessions("/w", "big", "t"), 4<<20)

	// A resumed session (loaded, not written by this store) moves on too.
	r := q.Sessions("/w", "big", "t")
	loaded, err := r.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loaded.Offset, loaded.HashState = 5<<20, []byte{5}
	if err := r.Save(ctx, loaded); err != nil {
		t.Fatal(err)
	}
	check(s, 5<<20)

	// After Delete, a new session is written whole.
	if err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	sess.Offset, sess.HashState = 6<<20, []byte{6}
	if err := s.Save(ctx, sess); err != nil {
		t.Fatal(err)
	}
	check(r, 6<<20)
}
