package safefs

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Lease takes a write lease on f (fcntl F_SETLEASE), which the kernel
// grants only while no other open file description of the file exists:
// it fails with ErrBusy while another process (a writer, a reader) holds
// the file open. While the lease is held, another open of the file (also
// by this process) waits, or fails with EWOULDBLOCK when non-blocking,
// and Broken reports it. Where leases are not available (the daemon
// neither owns the file nor has CAP_LEASE, or the file system refuses
// them) the check is skipped: the Held does nothing and err is nil.
// Release before closing f.
func Lease(f *os.File) (*Held, error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return &Held{}, nil
	}
	var lerr error
	if err := conn.Control(func(fd uintptr) { _, lerr = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_WRLCK) }); err != nil {
		return &Held{}, nil
	}
	switch {
	case lerr == nil:
		return &Held{conn: conn}, nil
	case errors.Is(lerr, unix.EAGAIN), errors.Is(lerr, unix.EBUSY):
		return nil, ErrBusy
	default:
		return &Held{}, nil
	}
}

// Held is a lease taken by Lease.
type Held struct {
	conn syscall.RawConn // nil: no lease could be taken here
}

// Broken reports whether another open of the file is waiting for the
// lease to end (F_GETLEASE no longer says F_WRLCK).
func (h *Held) Broken() bool {
	if h.conn == nil {
		return false
	}
	typ := unix.F_WRLCK
	h.conn.Control(func(fd uintptr) { typ, _ = unix.FcntlInt(fd, unix.F_GETLEASE, 0) })
	return typ != unix.F_WRLCK
}

// Release ends the lease; a waiting open proceeds. It is idempotent.
func (h *Held) Release() {
	if h.conn != nil {
		h.conn.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK) })
		h.conn = nil
	}
}
