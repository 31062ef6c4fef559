package safefs

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Lease takes a write lease on f (fcntl F_SETLEASE), which the kernel
// grants only while no other open file description of the file exists:
// it fails with ErrBusy while another process (a writer, a reader) holds
// the file open. Where leases are not available (the daemon neither owns
// the file nor has CAP_LEASE, or the file system refuses them) the check
// is skipped: release is a no-op and err is nil. Call release before
// closing f.
func Lease(f *os.File) (release func(), err error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return func() {}, nil
	}
	var lerr error
	if err := conn.Control(func(fd uintptr) { _, lerr = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_WRLCK) }); err != nil {
		return func() {}, nil
	}
	switch {
	case lerr == nil:
		return func() { conn.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK) }) }, nil
	case errors.Is(lerr, unix.EAGAIN), errors.Is(lerr, unix.EBUSY):
		return nil, ErrBusy
	default:
		return func() {}, nil
	}
}
