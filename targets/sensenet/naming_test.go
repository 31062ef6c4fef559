package sensenet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

// TestSkipFindsTheServersName: with on_conflict skip the lookup uses the
// name the server stored (a+b#c.txt is a-b-c.txt), so a changed file is
// skipped instead of becoming a-b-c(1).txt.
func TestSkipFindsTheServersName(t *testing.T) {
	b := setup(t, "on_conflict: skip")
	f, sum := b.env.File(t, "a+b#c.txt", 100)
	r1 := b.deliver(t, f, nil)
	if r1.Skipped || r1.Remote.Name != "a-b-c.txt" || r1.Remote.Extra["path"] != docs+"/a-b-c.txt" {
		t.Fatalf("first delivery %+v, want an upload recorded under the server's name", r1)
	}
	f, _ = b.env.File(t, "a+b#c.txt", 200)
	r2 := b.deliver(t, f, nil)
	if !r2.Skipped || r2.Remote.ID != r1.Remote.ID {
		t.Fatalf("second delivery %+v, want skipped", r2)
	}
	files := b.fake.Files(docs)
	if len(files) != 1 || files[0].Name != "a-b-c.txt" || files[0].Current().SHA256 != sum {
		t.Fatalf("server holds %+v, want only a-b-c.txt with the first bytes", files)
	}
}

// TestSubFolderUnderTheServersName: a sub-folder x&y/ is x-y on the
// server; a second file in it, from a target that has not cached the
// folder, finds it instead of creating another one.
func TestSubFolderUnderTheServersName(t *testing.T) {
	b := setup(t, "")
	f, sum := b.env.File(t, "x&y/one.txt", 10)
	res := b.deliver(t, f, nil)
	if c := b.content(t, docs+"/x-y/one.txt"); c.Current().SHA256 != sum || res.Remote.Extra["path"] != docs+"/x-y/one.txt" {
		t.Fatalf("stored %+v, remote %+v", c, res.Remote)
	}
	fresh := targettest.Build(t, b.target(""), "destination: {path: "+docs+"}")
	fresh.Dir = b.env.Dir
	f2, _ := b.env.File(t, "x&y/two.txt", 10)
	f2.Dest = fresh.Dest
	if _, err := fresh.Deliver(context.Background(), f2, nil); err != nil {
		t.Fatal(err)
	}
	if n := b.fake.Requests(sensenet.OpPost); n != 1 {
		t.Fatalf("%d folder creations, want 1", n)
	}
	if c := b.content(t, docs+"/x-y/two.txt"); c.Type != "File" {
		t.Fatalf("second file %+v", c)
	}
}

// TestFileWhereAFolderIsNeeded: x.dat delivered as a file, then replaced
// locally by a folder x.dat/ holding inner.txt. The lookup finds the File
// x.dat; that must fail at once, saying so, not as "parent folder not
// found" three times.
func TestFileWhereAFolderIsNeeded(t *testing.T) {
	b := setup(t, "")
	f, _ := b.env.File(t, "x.dat", 10)
	b.deliver(t, f, nil)
	if err := os.Remove(filepath.Join(b.env.Dir, "x.dat")); err != nil {
		t.Fatal(err)
	}
	f, _ = b.env.File(t, "x.dat/inner.txt", 10)
	_, err := b.env.Deliver(context.Background(), f, nil)
	want := docs + "/x.dat exists on the server as a File, not a folder"
	if kindOf(err) != targets.Permanent || err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want a permanent %q", err, want)
	}
}

// TestVersionGoesToTheRecordedRemote: once a path was delivered, its
// next version goes to the content recorded for it (here a name the
// server chose under rename), not to whatever the local name predicts.
func TestVersionGoesToTheRecordedRemote(t *testing.T) {
	b := setup(t, "on_conflict: rename")
	f, _ := b.env.File(t, "r#1.txt", 10)
	b.deliver(t, f, nil)
	f, _ = b.env.File(t, "r#1.txt", 20)
	r2 := b.deliver(t, f, nil)
	if r2.Remote.Name != "r-1(1).txt" {
		t.Fatalf("renamed upload %+v, want r-1(1).txt", r2.Remote)
	}
	f, sum := b.env.File(t, "r#1.txt", 30)
	f.OnConflict, f.Previous = "version", &r2.Remote
	r3 := b.deliver(t, f, nil)
	c := b.content(t, docs+"/r-1(1).txt")
	if r3.Remote.ID != r2.Remote.ID || len(c.Versions) != 2 || c.Current().SHA256 != sum {
		t.Fatalf("version went to %+v; r-1(1).txt has %+v", r3.Remote, c.Versions)
	}
	if c := b.content(t, docs+"/r-1.txt"); len(c.Versions) != 1 {
		t.Fatalf("r-1.txt got another version: %+v", c.Versions)
	}
}

// TestDeleteBuildsTheServersPath: without a recorded path, a delete
// addresses the content under the server's folder and file names.
func TestDeleteBuildsTheServersPath(t *testing.T) {
	b := setup(t, "deletes: propagate")
	f, _ := b.env.File(t, "q&a/n#1.txt", 10)
	res := b.deliver(t, f, nil)
	r := res.Remote
	r.Extra, r.Name = nil, ""
	if err := b.env.Target.(targets.Deleter).Delete(context.Background(), f, r); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.fake.Content(docs + "/q-a/n-1.txt"); ok {
		t.Fatal("content still there after delete by name")
	}
}

// TestNameKeyFoldsLikeTheServer: the adapter's remote name key makes
// Report.txt and report.txt, and a#b.txt and a?b.txt, one remote name per
// folder (sensenet names are case-insensitive and sanitised).
func TestNameKeyFoldsLikeTheServer(t *testing.T) {
	b := setup(t, "")
	k := b.env.Target.(targets.NameKeyer)
	f, _ := b.env.File(t, "sub&1/Report.txt", 1)
	key := func(name string) string {
		s, err := k.NameKey(f, name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if key("Report.txt") != key("report.txt") || key("a#b.txt") != key("a?b.txt") || key("a.txt") == key("b.txt") {
		t.Fatalf("keys %q %q %q %q", key("Report.txt"), key("report.txt"), key("a#b.txt"), key("a?b.txt"))
	}
	g, _ := b.env.File(t, "sub#1/x.txt", 1)
	if gk, _ := k.NameKey(g, "report.txt"); gk != key("Report.txt") {
		t.Fatalf("sub&1 and sub#1 are one folder on the server: %q vs %q", gk, key("Report.txt"))
	}
}

// TestNamingRulesFromTheConfiguration: an administrator's own
// InvalidNameCharsPattern and ReplacementChar, repeated on the target,
// drive the prediction; bad values fail at start-up.
func TestNamingRulesFromTheConfiguration(t *testing.T) {
	b := serve(t)
	env := targettest.Build(t, b.target("invalid_name_chars: '[\\\\/:*?\"<>|#]'\nname_replacement: _\n"), "destination: {path: "+docs+"}")
	f, _ := env.File(t, "a+b.txt", 1)
	key, err := env.Target.(targets.NameKeyer).NameKey(f, "x#y+z.txt")
	if err != nil || key != strings.ToLower(docs)+"/x_y+z.txt" {
		t.Fatalf("key %q, %v", key, err)
	}
	for extra, want := range map[string]string{
		"invalid_name_chars: '[a-'\n": "invalid_name_chars",
		"name_replacement: '--'\n":    "name_replacement",
	} {
		if _, err := targettest.TryBuild(t, b.target(extra), "destination: {path: "+docs+"}"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one about %s", extra, err, want)
		}
	}
}

// TestServerNamingDiffersFromTheConfiguration: when the server names a
// created folder otherwise than predicted (its rules are not the ones
// configured), the upload fails at once saying what to set, instead of
// missing the folder at every look-up.
func TestServerNamingDiffersFromTheConfiguration(t *testing.T) {
	b := serve(t)
	b.env = targettest.Build(t, b.target("invalid_name_chars: '[#]'\n"), "destination: {path: "+docs+"}")
	f, _ := b.env.File(t, "x&y/in.txt", 10)
	_, err := b.env.Deliver(context.Background(), f, nil)
	if kindOf(err) != targets.Permanent || err == nil || !strings.Contains(err.Error(), `the server named the folder "x-y" where dropsync predicted "x&y"`) {
		t.Fatalf("error %v, want a permanent naming mismatch", err)
	}
}
