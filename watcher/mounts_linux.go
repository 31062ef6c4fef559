package watcher

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Mount table changes: the kernel marks /proc/self/mountinfo with
// POLLPRI|POLLERR whenever a file system is mounted or unmounted in this
// process's mount namespace. One goroutine per process waits for that in
// epoll_wait without a timeout and tells every running watcher, which
// then checks its root: an idle watch needs no timer to notice a remount.

var mounts mountNotifier

type mountNotifier struct {
	mu      sync.Mutex
	subs    map[chan struct{}]bool
	started bool
	err     error // the notifier could not start: watchers probe by timer
}

// subscribeMounts returns a channel that receives after mount table
// changes, and its cancel function; ok is false when changes cannot be
// watched here.
func subscribeMounts() (ch <-chan struct{}, cancel func(), ok bool) {
	m := &mounts
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started {
		m.started = true
		m.err = m.start()
	}
	if m.err != nil {
		return nil, func() {}, false
	}
	c := make(chan struct{}, 1)
	m.subs[c] = true
	return c, func() {
		m.mu.Lock()
		delete(m.subs, c)
		m.mu.Unlock()
	}, true
}

func (m *mountNotifier) start() error {
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLPRI | unix.EPOLLERR, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		unix.Close(ep)
		return err
	}
	m.subs = map[chan struct{}]bool{}
	go m.loop(ep)
	return nil
}

// loop runs for the life of the process, blocked in epoll_wait.
func (m *mountNotifier) loop(ep int) {
	events := make([]unix.EpollEvent, 1)
	for {
		n, err := unix.EpollWait(ep, events, -1)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			m.mu.Lock()
			m.err = err
			for c := range m.subs {
				close(c) // a closed channel: the watcher falls back to its timer
			}
			m.subs = nil
			m.mu.Unlock()
			return
		}
		m.mu.Lock()
		for c := range m.subs {
			select {
			case c <- struct{}{}:
			default:
			}
		}
		m.mu.Unlock()
	}
}

// mountPoints returns the mount points in this process's mount namespace
// (/proc/self/mountinfo, field 5, unescaped).
func mountPoints() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var mps []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) > 4 {
			mps = append(mps, unescapeMount(f[4]))
		}
	}
	return mps, nil
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space, \011,
// \012, \134) in a mountinfo path.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountTable tells whether the mount table changed since it was taken:
// the kernel marks an open /proc/self/mountinfo POLLPRI once the table
// changes after the open (or the last poll). It costs an open, a
// non-blocking poll and a close per walk; nothing waits on it.
type mountTable struct{ fd int }

// takeMountTable starts watching the mount table; close it after use.
func takeMountTable() mountTable {
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return mountTable{fd: -1} // cannot tell: the device rule alone decides
	}
	return mountTable{fd: fd}
}

// changed reports whether a file system was mounted or unmounted (in
// this mount namespace) since takeMountTable.
func (m mountTable) changed() bool {
	if m.fd < 0 {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(m.fd), Events: unix.POLLPRI}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0 && fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0
	}
}

func (m mountTable) close() {
	if m.fd >= 0 {
		unix.Close(m.fd)
	}
}
