//go:build unix

package targets_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
)

// A credential file rotated in place to a token of the same length, its
// modification time then set back (cp -p of a new token over the old
// one, a restore from a backup), is read again: the change time and the
// inode tell it from the file read at start, where size and mtime alone
// could not.
func TestSecretFileRotatedKeepingSizeAndMtimeIsReadAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("token-aaaa\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	val, _, err := config.ReadSecretFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := targets.NewSecret(val, path)
	if got := s.Reveal(); got != "token-aaaa" {
		t.Fatalf("first read: %q", got)
	}
	// The change time is coarse (a clock tick): wait, polling, until a
	// write would get a change time of its own.
	ctime := func(fi os.FileInfo) syscall.Timespec { return fi.Sys().(*syscall.Stat_t).Ctim }
	probe := filepath.Join(t.TempDir(), "probe")
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := os.WriteFile(probe, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(probe)
		if err != nil {
			t.Fatal(err)
		}
		if ctime(fi) != ctime(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the change time did not move")
		}
	}
	if err := os.WriteFile(path, []byte("token-bbbb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got := s.Reveal(); got != "token-bbbb" {
		t.Errorf("after rotating to a token of the same length and mtime: %q, want the new token", got)
	}
}
