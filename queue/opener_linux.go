package queue

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// openers lists the other processes that have the database (or its -wal or
// -shm file) open, from /proc/*/fd.
func openers(path string) []opener {
	want := map[string]bool{path: true, path + "-wal": true, path + "-shm": true}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []opener
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		fdDir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && want[link] {
				name, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				out = append(out, opener{pid: pid, name: strings.TrimSpace(string(name))})
				break
			}
		}
	}
	return out
}
