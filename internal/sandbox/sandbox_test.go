package sandbox_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/sandbox"
)

// cfg is a configuration with one watch on watch that moves delivered
// files to moveTo; paths need not exist (the probe is injected).
func cfg(watch, moveTo string) *config.Config {
	return &config.Config{Watches: []*config.Watch{{Path: watch, Target: "t", AfterUpload: "move", MoveTo: moveTo}}}
}

// failing returns a probe that fails with err for dir and passes the rest.
func failing(dir string, err error) func(string, bool) error {
	return func(d string, write bool) error {
		if d == dir {
			return &fs.PathError{Op: "open", Path: d, Err: err}
		}
		return nil
	}
}

func TestHintsNameTheUnitSettingUnderSystemd(t *testing.T) {
	for _, tc := range []struct {
		name, watch, moveTo, failDir string
		err                          error
		want                         []string
	}{
		{"watch under /home", "/home/scan/inbox", "/srv/done", "/home/scan/inbox", syscall.EACCES,
			[]string{"watches[0].path /home/scan/inbox", "ProtectHome=yes", "ProtectHome=no", "ReadWritePaths=/home/scan/inbox", "systemctl edit dropsync"}},
		{"watch under /tmp", "/tmp/inbox", "/srv/done", "/tmp/inbox", syscall.ENOENT,
			[]string{"watches[0].path /tmp/inbox", "PrivateTmp=yes", "ReadWritePaths cannot reach", "PrivateTmp=no"}},
		{"move_to not in ReadWritePaths", "/srv/inbox", "/srv/done", "/srv/done", syscall.EROFS,
			[]string{"watches[0].move_to /srv/done", "list, read, write and rename", "ProtectSystem=strict", "ReadWritePaths=/srv/done", "systemctl edit dropsync"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warned []string
			err := sandbox.Checker{Probe: failing(tc.failDir, tc.err), Systemd: true, Warn: func(m string) { warned = append(warned, m) }}.Check(context.Background(), cfg(tc.watch, tc.moveTo))
			var msg string
			switch {
			case tc.err == syscall.ENOENT && tc.failDir == tc.watch:
				// A missing watch folder waits (an unmounted share): a
				// warning with the hint, not a refusal.
				if err != nil || len(warned) != 1 {
					t.Fatalf("missing watch: err %v, warnings %q", err, warned)
				}
				msg = warned[0]
			case err == nil:
				t.Fatal("the failing probe passed")
			default:
				msg = err.Error()
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("one failing folder gave several lines: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

// Outside systemd a failure says what is missing without blaming a unit.
func TestNoUnitHintOutsideSystemd(t *testing.T) {
	err := sandbox.Checker{Probe: failing("/srv/done", syscall.EROFS)}.Check(context.Background(), cfg("/srv/inbox", "/srv/done"))
	if err == nil || strings.Contains(err.Error(), "ProtectSystem") || !strings.Contains(err.Error(), "read-only file system") {
		t.Fatalf("got %v", err)
	}
}

// A watch that keeps its files needs only read and list: a read-only
// watch folder passes.
func TestKeepWatchNeedsNoWrite(t *testing.T) {
	c := &config.Config{Watches: []*config.Watch{{Path: "/srv/ro", Target: "t", AfterUpload: "keep"}}}
	err := sandbox.Checker{Probe: func(dir string, write bool) error {
		if write {
			return &fs.PathError{Op: "open", Path: dir, Err: syscall.EROFS}
		}
		return nil
	}}.Check(context.Background(), c)
	if err != nil {
		t.Fatalf("a read-only watch with after_upload: keep was refused: %v", err)
	}
}

// validate predicts what the installed unit's sandbox will refuse.
func TestPredictFromUnit(t *testing.T) {
	u := sandbox.ParseShow("Id=dropsync.service\nLoadState=loaded\nProtectHome=yes\nPrivateTmp=yes\nProtectSystem=strict\nReadWritePaths=-/var/spool/dropsync /srv/inbox\n")
	if u == nil {
		t.Fatal("ParseShow: nil for a loaded unit")
	}
	ok := func(string, bool) error { return nil }
	err := sandbox.Checker{Probe: ok, Unit: u}.Check(context.Background(), cfg("/srv/inbox", "/srv/done"))
	if err == nil || !strings.Contains(err.Error(), "move_to /srv/done") || !strings.Contains(err.Error(), "ReadWritePaths=/srv/done") {
		t.Fatalf("move_to outside ReadWritePaths: %v", err)
	}
	if err := (sandbox.Checker{Probe: ok, Unit: u}).Check(context.Background(), cfg("/home/a/in", "/var/spool/dropsync/done")); err == nil || !strings.Contains(err.Error(), "ProtectHome") {
		t.Fatalf("watch under /home: %v", err)
	}
	if err := (sandbox.Checker{Probe: ok, Unit: u}).Check(context.Background(), cfg("/srv/inbox/x", "/var/spool/dropsync/done")); err != nil {
		t.Fatalf("folders inside ReadWritePaths: %v", err)
	}
	if sandbox.ParseShow("Id=dropsync.service\nLoadState=not-found\n") != nil {
		t.Fatal("ParseShow: a unit that is not loaded")
	}
}

// The real probe lists, writes, renames and removes its own file only.
func TestProbeLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Probe(dir, true); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "keep.txt" {
		t.Fatalf("after the probe the folder holds %v", ents)
	}
	if err := sandbox.Probe(filepath.Join(dir, "missing"), false); err == nil {
		t.Fatal("a missing folder passed")
	}
}

// move_to and failed_to are created when first used: a missing one is
// checked by its nearest existing parent.
func TestProbeMissingWriteFolderChecksParent(t *testing.T) {
	dir := t.TempDir()
	if err := sandbox.Probe(filepath.Join(dir, "done", "2026"), true); err != nil {
		t.Fatalf("a creatable move_to: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "done")); !os.IsNotExist(err) {
		t.Fatal("the probe created the folder")
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if err := sandbox.Probe(filepath.Join(file, "done"), true); err == nil {
		t.Fatal("a move_to below a file passed")
	}
}
