package watcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/bmatcuk/doublestar/v4"
)

// maxWatchesFile is Linux's per-user inotify watch limit.
var maxWatchesFile = "/proc/sys/fs/inotify/max_user_watches"

// limitHint explains an inotify limit error with the sysctl to raise.
func limitHint(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: the inotify watch limit is reached; raise it with 'sysctl -w fs.inotify.max_user_watches=524288' and persist it in /etc/sysctl.d/90-dropsync.conf", err)
	case errors.Is(err, syscall.EMFILE):
		return fmt.Errorf("%w: too many inotify instances or open files; raise 'sysctl -w fs.inotify.max_user_instances=1024' or LimitNOFILE", err)
	}
	return err
}

// CountDirs counts the folders a recursive watch of root needs (root
// included), skipping folders the exclude globs remove.
func CountDirs(root string, recursive bool, exclude []string) (int, error) {
	if !recursive {
		return 1, nil
	}
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && p != root {
				return fs.SkipDir
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			for _, pat := range exclude {
				if ok, _ := doublestar.Match(pat, filepath.ToSlash(rel)); ok {
					return fs.SkipDir
				}
			}
		}
		n++
		return nil
	})
	return n, err
}

// Preflight compares the folders to watch with the kernel's inotify watch
// limit and returns an error naming the sysctl to raise when they do not
// fit. On systems without the limit file it returns nil.
func Preflight(dirs int) error {
	b, err := os.ReadFile(maxWatchesFile)
	if err != nil {
		return nil
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || dirs <= limit {
		return nil
	}
	want := 524288
	for want < dirs*2 {
		want *= 2
	}
	return fmt.Errorf("watching %d folders needs %d inotify watches, but fs.inotify.max_user_watches is %d (shared by every program of this user): raise it with 'sysctl -w fs.inotify.max_user_watches=%d' and persist it in /etc/sysctl.d/90-dropsync.conf", dirs, dirs, limit, want)
}
