package blueworks

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/targets"
)

// book is a targets.NameBook in memory: key → owner path.
type book map[string]string

func (b book) Owner(_ context.Context, key string) (string, string, bool, error) {
	rel, ok := b[key]
	return "/w", rel, ok, nil
}

// TestRenamePicksTheFirstUnrecordedNumber: the plan's name under rename,
// from what the name book holds for the location.
func TestRenamePicksTheFirstUnrecordedNumber(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	f, _ := e.File(t, "sub/f03.bin", 10)
	f.Watch = "/w"
	key := func(name string) string {
		k, err := e.Target.(targets.NameKeyer).NameKey(f, name)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	prev := &targets.Remote{ID: "1", Name: "f03.bin"}
	cases := []struct {
		what     string
		recorded book
		previous *targets.Remote
		want     string
	}{
		{"new, name free", book{}, nil, "f03.bin"},
		{"new, recorded for this path", book{key("f03.bin"): "sub/f03.bin"}, nil, "f03.bin"},
		{"new, another path has it", book{key("f03.bin"): "f03.bin"}, nil, "f03(1).bin"},
		{"changed", book{key("f03.bin"): "sub/f03.bin"}, prev, "f03(1).bin"},
		{"changed, a gap", book{key("f03.bin"): "sub/f03.bin", key("f03(1).bin"): "sub/f03.bin", key("f03(3).bin"): "x"}, prev, "f03(2).bin"},
	}
	for _, c := range cases {
		f.Names, f.Previous = c.recorded, c.previous
		p, err := e.Target.Prepare(context.Background(), f)
		if err != nil || p.Name != c.want {
			t.Errorf("%s: plan %+v, %v; want %s", c.what, p, err, c.want)
		}
	}
	other := *f
	other.Dest = &Destination{Location: "instance", AncestorID: "W-2", ParentID: "W-2"}
	if k, _ := e.Target.(targets.NameKeyer).NameKey(&other, "f03.bin"); k == key("f03.bin") {
		t.Errorf("two locations share the key %q", k)
	}
}
