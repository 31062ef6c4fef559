//go:build !windows

package main

import (
	"os"

	"github.com/kardianos/service"
)

// isPrivileged reports whether the process runs as root, which systemd,
// launchd and SysV need to install and control system services.
func isPrivileged() bool { return os.Geteuid() == 0 }

// prepareServiceHost has nothing to do on Unix: systemd and SysV collect
// stderr (journald, the init script's log), launchd writes it to
// /var/log/com.dropsync.dropsync.err.log, and program.waitForStop ends
// Service.Run when the daemon fails, so the process exits non-zero and the
// service manager restarts it.
func prepareServiceHost(service.Service, *program) {}
