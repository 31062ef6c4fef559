//go:build !windows

package daemon

import "syscall"

// passingErrors are the errors of opening a local file that may pass by
// themselves (see passing).
var passingErrors = []error{syscall.EIO, syscall.ESTALE, syscall.ETIMEDOUT, syscall.EMFILE, syscall.ENFILE,
	syscall.ENOMEM, syscall.EAGAIN, syscall.EINTR, syscall.EHOSTDOWN, syscall.ENOTCONN, syscall.ENOLCK}
