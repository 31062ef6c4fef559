//go:build !windows

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dropsync/dropsync/queue"
)

// A user who may only read the database (here: nobody, with the files
// made readable to it) can run status and queue list while no daemon has
// the database open.
func TestStatusForAUserWhoMayOnlyRead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a command as another user")
	}
	dir, err := os.MkdirTemp("", "dropsync-ro-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is closed to other users", p)
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	os.Mkdir(filepath.Join(dir, "in"), 0o755)
	cfg := writeConfig(t, dir, sensenetConfig(dir, "http://127.0.0.1:1", "tok", ""))
	q, err := queue.Open(context.Background(), filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	q.Enqueue(context.Background(), []queue.Item{{Watch: filepath.Join(dir, "in"), Rel: "a.txt", Target: "docs"}})
	q.Close()
	bin := filepath.Join(dir, "dropsync")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o755)
	for p, mode := range map[string]os.FileMode{dir: 0o755, filepath.Join(dir, "state"): 0o755, filepath.Join(dir, "state", queue.FileName): 0o644, cfg: 0o644} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"status"}, {"queue", "list"}} {
		var out, errb strings.Builder
		cmd := exec.Command(bin, append(args, "-c", cfg)...)
		cmd.Env = append(os.Environ(), "DROPSYNC_RUN_MAIN=1")
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "1 pending") && !strings.Contains(out.String(), "a.txt") {
			t.Errorf("%v as nobody: %v\n%s%s", args, err, out.String(), errb.String())
		}
	}
}
