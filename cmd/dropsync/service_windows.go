//go:build windows

package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows"
)

// isPrivileged reports whether the process holds an elevated token, which
// the service control manager needs to create, delete, start and stop services.
func isPrivileged() bool { return windows.GetCurrentProcessToken().IsElevated() }

// maxServiceLog is the size at which the service log is rotated (once, at
// service start) to dropsync.log.1.
const maxServiceLog = 10 << 20

// serviceLogPath is where the Windows service writes its log: a service has
// no console, so stderr would be lost.
func serviceLogPath() string {
	dir := os.Getenv("ProgramData")
	if dir == "" {
		dir = `C:\ProgramData`
	}
	return filepath.Join(dir, "dropsync", "logs", "dropsync.log")
}

// prepareServiceHost sends stderr (and so the daemon's logs) to
// serviceLogPath, and makes a daemon that ends without being stopped exit
// the process with status 1: the SCM's Execute loop only reacts to control
// requests, so exiting is how the failure reaches the recovery action
// ("restart after 5s") that `service install` configured.
func prepareServiceHost(s service.Service, p *program) {
	elog, _ := s.SystemLogger(nil)
	path := serviceLogPath()
	if err := redirectStderr(path); err != nil && elog != nil {
		_ = elog.Warningf("dropsync: cannot open the log file %s: %v; logs are lost", path, err)
	}
	p.onUnexpectedExit = func(err error) {
		fmt.Fprintf(os.Stderr, "dropsync: %v\n", err)
		if elog != nil {
			_ = elog.Errorf("dropsync stopped: %v (details in %s)", err, path)
		}
		os.Exit(1)
	}
}

func redirectStderr(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxServiceLog {
		_ = os.Rename(path, path+".1")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if err := windows.SetStdHandle(windows.STD_ERROR_HANDLE, windows.Handle(f.Fd())); err != nil {
		f.Close()
		return err
	}
	os.Stderr = f
	log.SetOutput(f)
	return nil
}
