//go:build windows

package daemon

import (
	"fmt"
	"testing"

	"golang.org/x/sys/windows"
)

// passing() lists POSIX errnos (syscall.EIO, ESTALE, …). On
// Windows those are numbers the syscall package invents; CreateFile never
// returns them, and syscall.Errno.Is maps none of them to a Windows code.
// A file on an SMB share whose server restarts (ERROR_NETNAME_DELETED,
// ERROR_UNEXP_NET_ERR, ERROR_SEM_TIMEOUT, ERROR_BAD_NETPATH), the process
// out of handles, or a file a writer holds without sharing
// (ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION) still fails for good at
// once (finishFail … Permanent) and is parked in failed_to.
func TestPassingKnowsWindowsErrors(t *testing.T) {
	for _, e := range []windows.Errno{windows.ERROR_NETNAME_DELETED, windows.ERROR_UNEXP_NET_ERR, windows.ERROR_SEM_TIMEOUT,
		windows.ERROR_BAD_NETPATH, windows.ERROR_TOO_MANY_OPEN_FILES, windows.ERROR_NOT_ENOUGH_MEMORY,
		windows.ERROR_SHARING_VIOLATION, windows.ERROR_LOCK_VIOLATION} {
		if err := fmt.Errorf("open x: %w", e); !passing(err) {
			t.Errorf("%v (%d) opening a file is a permanent failure", e, uintptr(e))
		}
	}
}
