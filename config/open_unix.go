//go:build unix

package config

import "syscall"

// nonBlock opens a file without waiting for a writer: a named pipe
// configured as a secret file is refused at once instead of blocking the
// load (and with it validate, status and a reload) until something writes.
const nonBlock = syscall.O_NONBLOCK
