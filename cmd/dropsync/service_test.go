package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kardianos/service"
)

// fakeSystem is a service.System that never touches the machine.
type fakeSystem struct {
	name        string
	interactive bool
	svc         *fakeService
}

func (f *fakeSystem) String() string    { return f.name }
func (f *fakeSystem) Detect() bool      { return true }
func (f *fakeSystem) Interactive() bool { return f.interactive }
func (f *fakeSystem) New(i service.Interface, c *service.Config) (service.Service, error) {
	f.svc.mu.Lock()
	defer f.svc.mu.Unlock()
	f.svc.i, f.svc.cfg = i, c
	return f.svc, nil
}

// fakeService records what the command asked of the service manager and
// answers like kardianos' systemd backend.
type fakeService struct {
	mu            sync.Mutex
	i             service.Interface
	cfg           *service.Config
	installed     bool
	running       bool
	calls         []string
	installedWith *service.Config  // the config Install was called with
	fail          map[string]error // action → error to return
	run           func(s *fakeService) error
}

func (f *fakeService) record(action string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, action)
	return f.fail[action]
}

func (f *fakeService) Run() error { return f.run(f) }
func (f *fakeService) Start() error {
	if err := f.record("start"); err != nil {
		return err
	}
	f.running = true
	return nil
}
func (f *fakeService) Stop() error {
	if err := f.record("stop"); err != nil {
		return err
	}
	f.running = false
	return nil
}
func (f *fakeService) Restart() error {
	if err := f.record("restart"); err != nil {
		return err
	}
	f.running = true
	return nil
}
func (f *fakeService) Install() error {
	if err := f.record("install"); err != nil {
		return err
	}
	if f.installed {
		return errors.New("Init already exists: /etc/systemd/system/dropsync.service")
	}
	f.installed, f.installedWith = true, f.cfg
	return nil
}
func (f *fakeService) Uninstall() error {
	if err := f.record("uninstall"); err != nil {
		return err
	}
	f.installed, f.running = false, false
	return nil
}
func (f *fakeService) Logger(chan<- error) (service.Logger, error) { return service.ConsoleLogger, nil }
func (f *fakeService) SystemLogger(chan<- error) (service.Logger, error) {
	return service.ConsoleLogger, nil
}
func (f *fakeService) String() string   { return f.cfg.DisplayName }
func (f *fakeService) Platform() string { return "fake" }
func (f *fakeService) Status() (service.Status, error) {
	if err := f.record("status"); err != nil {
		return service.StatusUnknown, err
	}
	switch {
	case !f.installed:
		return service.StatusUnknown, service.ErrNotInstalled
	case f.running:
		return service.StatusRunning, nil
	}
	return service.StatusStopped, nil
}

// useFakeSystem plugs a fake service manager in for the test and replaces
// the machine-dependent hooks.
func useFakeSystem(t *testing.T, name string) *fakeService {
	t.Helper()
	svc := &fakeService{fail: map[string]error{}}
	prev := service.AvailableSystems()
	service.ChooseSystem(&fakeSystem{name: name, svc: svc})
	prevExe, prevLookup, prevPriv, prevRun := executablePath, lookupUser, privileged, runDaemonFunc
	prevLocal, prevPackaged, prevScripts, prevRC := localUnitPath, packagedUnitPaths, initScripts, sysvRCGlob
	executablePath = func() (string, error) { return "/usr/local/bin/dropsync", nil }
	lookupUser = func(string) bool { return false }
	privileged = func() bool { return true }
	dir := t.TempDir()
	localUnitPath = filepath.Join(dir, "etc", "dropsync.service")
	packagedUnitPaths = []string{filepath.Join(dir, "lib", "dropsync.service")}
	initScripts = map[string]string{"unix-systemv": filepath.Join(dir, "init.d", "dropsync")}
	sysvRCGlob = filepath.Join(dir, "rc[0-6].d", "[SK][0-9][0-9]dropsync")
	t.Cleanup(func() {
		service.ChooseSystem(prev...)
		executablePath, lookupUser, privileged, runDaemonFunc = prevExe, prevLookup, prevPriv, prevRun
		localUnitPath, packagedUnitPaths, initScripts, sysvRCGlob = prevLocal, prevPackaged, prevScripts, prevRC
	})
	return svc
}

func runService(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runMain(context.Background(), append([]string{"service"}, args...), &out)
	return out.String(), err
}

func writeServiceConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("shutdown_timeout: 7s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServiceInstallRunsRunWithAbsoluteConfig(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	cfg := writeServiceConfig(t)
	t.Chdir(filepath.Dir(cfg))

	out, err := runService(t, "install", "-c", "config.yaml")
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	if svc.installedWith == nil {
		t.Fatalf("Install was not called; calls %v", svc.calls)
	}
	c := svc.installedWith
	if want := []string{"run", "-c", cfg}; !reflect.DeepEqual(c.Arguments, want) {
		t.Errorf("arguments = %q, want %q", c.Arguments, want)
	}
	if c.Name != serviceName() || c.DisplayName == "" || c.Description == "" {
		t.Errorf("name %q display %q description %q", c.Name, c.DisplayName, c.Description)
	}
	if c.Executable != "/usr/local/bin/dropsync" {
		t.Errorf("executable = %q", c.Executable)
	}
	if c.UserName != "" {
		t.Errorf("user = %q, want the default account when %q does not exist", c.UserName, serviceUser)
	}
	if c.Option["Restart"] != "on-failure" || c.Option["LimitNOFILE"] != 65536 {
		t.Errorf("systemd options: Restart=%v LimitNOFILE=%v", c.Option["Restart"], c.Option["LimitNOFILE"])
	}
	// shutdown_timeout 7s + 10s margin + 5s for systemd.
	if unit, _ := c.Option["SystemdScript"].(string); !strings.Contains(unit, "TimeoutStopSec=22\n") || !strings.Contains(unit, "RestartSec=5\n") {
		t.Errorf("systemd unit template:\n%s", unit)
	}
	if !strings.Contains(out, "installed service") || !strings.Contains(out, "run -c "+cfg) {
		t.Errorf("output %q does not say what was installed", out)
	}
	if svc.running {
		t.Error("install started the service")
	}
}

func TestServiceInstallRunsAsDropsyncUserWhenItExists(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	lookupUser = func(name string) bool { return name == serviceUser }
	if _, err := runService(t, "install", "-c", writeServiceConfig(t)); err != nil {
		t.Fatal(err)
	}
	if svc.installedWith.UserName != serviceUser {
		t.Errorf("user = %q, want %q", svc.installedWith.UserName, serviceUser)
	}

	svc2 := useFakeSystem(t, "linux-systemd")
	lookupUser = func(name string) bool { return name == serviceUser }
	if _, err := runService(t, "install", "-c", writeServiceConfig(t), "-user", ""); err != nil {
		t.Fatal(err)
	}
	if svc2.installedWith.UserName != "" {
		t.Errorf("-user \"\": user = %q, want the default account", svc2.installedWith.UserName)
	}
}

func TestServiceInstallTwiceSaysUninstallFirst(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	cfg := writeServiceConfig(t)
	if _, err := runService(t, "install", "-c", cfg); err != nil {
		t.Fatal(err)
	}
	_, err := runService(t, "install", "-c", cfg)
	if err == nil || err.Error() != "already installed: use `dropsync service uninstall` first" {
		t.Fatalf("second install: %v", err)
	}
	if n := strings.Count(strings.Join(svc.calls, " "), "install"); n != 1 {
		t.Errorf("Install called %d times, want 1 (calls %v)", n, svc.calls)
	}

	// The manager's own "already exists" (a race with another installer)
	// gets the same advice.
	svc.installed = false
	svc.fail["install"] = errors.New("service dropsync already exists")
	if _, err := runService(t, "install", "-c", cfg); err == nil || !strings.HasPrefix(err.Error(), "already installed: use `dropsync service uninstall` first") {
		t.Fatalf("install over an existing service: %v", err)
	}
}

func TestServiceInstallPackagedUnit(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	if err := os.MkdirAll(filepath.Dir(packagedUnitPaths[0]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(packagedUnitPaths[0], []byte("[Unit]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	svc.installed = true // systemd lists the packaged unit
	_, err := runService(t, "install", "-c", writeServiceConfig(t))
	if err == nil || !strings.Contains(err.Error(), "already installed by the dropsync package") {
		t.Fatalf("install over the packaged unit: %v", err)
	}
	_, err = runService(t, "uninstall")
	if err == nil || !strings.Contains(err.Error(), "remove the package") {
		t.Fatalf("uninstall of the packaged unit: %v", err)
	}
	for _, c := range svc.calls {
		if c == "install" || c == "uninstall" {
			t.Errorf("called %s on the packaged unit", c)
		}
	}
}

func TestServiceInstallRejectsGoRunBinary(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	executablePath = func() (string, error) {
		return filepath.Join(os.TempDir(), "go-build123", "b001", "exe", "dropsync"), nil
	}
	_, err := runService(t, "install", "-c", writeServiceConfig(t))
	if err == nil || !strings.Contains(err.Error(), "go run") {
		t.Fatalf("install from a go run binary: %v", err)
	}
	if svc.installedWith != nil {
		t.Error("Install was called")
	}
}

func TestServiceInstallWarnsAboutMissingConfig(t *testing.T) {
	useFakeSystem(t, "linux-systemd")
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	out, err := runService(t, "install", "-c", missing)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "warning: "+missing+" does not exist") {
		t.Errorf("output %q does not warn about the missing config", out)
	}
}

func TestServiceNotInstalled(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	_, err := runService(t, "uninstall")
	if err == nil || !strings.HasPrefix(err.Error(), "not installed: ") {
		t.Fatalf("uninstall: %v", err)
	}
	for _, action := range []string{"start", "stop", "restart"} {
		_, err := runService(t, action)
		if err == nil || err.Error() != "not installed: use `dropsync service install -c FILE`" {
			t.Errorf("%s: %v", action, err)
		}
	}
	for _, c := range svc.calls {
		if c != "status" {
			t.Errorf("called %s on a service that is not installed", c)
		}
	}
}

func TestServiceLifecycleAndStatus(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	status := func() string {
		t.Helper()
		out, err := runService(t, "status")
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		return out
	}
	if got := status(); got != "not installed (linux-systemd)\n" {
		t.Errorf("status before install = %q", got)
	}
	if _, err := runService(t, "install", "-c", writeServiceConfig(t)); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != "stopped (linux-systemd)\n" {
		t.Errorf("status after install = %q", got)
	}
	if out, err := runService(t, "start"); err != nil || !strings.Contains(out, "started") {
		t.Fatalf("start: %q %v", out, err)
	}
	if got := status(); got != "running (linux-systemd)\n" {
		t.Errorf("status after start = %q", got)
	}
	if _, err := runService(t, "restart"); err != nil {
		t.Fatal(err)
	}
	// Uninstall stops a running service first.
	svc.calls = nil
	if out, err := runService(t, "uninstall"); err != nil || !strings.Contains(out, "uninstalled") {
		t.Fatalf("uninstall: %q %v", out, err)
	}
	if got := strings.Join(svc.calls, " "); !strings.Contains(got, "stop uninstall") {
		t.Errorf("calls %q: want stop before uninstall", got)
	}
	if got := status(); got != "not installed (linux-systemd)\n" {
		t.Errorf("status after uninstall = %q", got)
	}

	svc.installed = true
	svc.fail["status"] = errors.New("service in failed state")
	if got := status(); !strings.HasPrefix(got, "stopped (failed") {
		t.Errorf("status of a failed unit = %q", got)
	}
}

func TestServicePermissionDenied(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	want := "permission denied: run as root (sudo dropsync service install)"
	if runtime.GOOS == "windows" {
		want = "permission denied: run from an elevated prompt (Run as administrator: dropsync service install)"
	}

	// Not root: refused before the service manager is asked.
	privileged = func() bool { return false }
	if _, err := runService(t, "install", "-c", writeServiceConfig(t)); err == nil || err.Error() != want {
		t.Errorf("install as non-root: %v", err)
	}
	if len(svc.calls) != 0 {
		t.Errorf("calls as non-root: %v", svc.calls)
	}
	// status needs no privileges.
	if _, err := runService(t, "status"); err != nil {
		t.Errorf("status as non-root: %v", err)
	}

	// Privileged, but the manager still refuses (SELinux, read-only /etc…).
	privileged = func() bool { return true }
	svc.fail["install"] = &fs.PathError{Op: "open", Path: "/etc/systemd/system/dropsync.service", Err: syscall.EACCES}
	if _, err := runService(t, "install", "-c", writeServiceConfig(t)); err == nil || err.Error() != want {
		t.Errorf("install refused with EACCES: %v", err)
	}
	svc.installed = true
	svc.fail["start"] = errors.New("Failed to start dropsync.service: Access denied")
	if _, err := runService(t, "start"); err == nil || !strings.HasPrefix(err.Error(), "permission denied: ") || !strings.Contains(err.Error(), "dropsync service start") {
		t.Errorf("start refused: %v", err)
	}
}

func TestServiceNamesTheInitSystem(t *testing.T) {
	svc := useFakeSystem(t, "unix-systemv")
	out, err := runService(t, "install", "-c", writeServiceConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && !strings.Contains(out, "systemd is not running here; using the unix-systemv init system") {
		t.Errorf("install output %q does not say which init system was chosen", out)
	}
	if !strings.Contains(out, "installed service dropsync (unix-systemv)") {
		t.Errorf("install output %q", out)
	}
	svc.fail["start"] = errors.New("exit status 1")
	_, err = runService(t, "start")
	if err == nil || err.Error() != "service start (unix-systemv): exit status 1" {
		t.Errorf("start failure: %v", err)
	}
}

func TestServiceUsage(t *testing.T) {
	useFakeSystem(t, "linux-systemd")
	if _, err := runService(t); !errors.Is(err, errUsage) {
		t.Errorf("no action: %v", err)
	}
	if _, err := runService(t, "explode"); err == nil || !strings.Contains(err.Error(), "unknown service action") {
		t.Errorf("unknown action: %v", err)
	}
}

// blockingDaemon is a runDaemon that runs until its context is cancelled and
// then drains until release is closed.
type blockingDaemon struct {
	started   chan string   // receives the config path
	cancelled chan struct{} // closed when ctx is done
	release   chan struct{} // close to let the drain finish
	finished  chan struct{} // closed just before returning
}

func newBlockingDaemon() *blockingDaemon {
	return &blockingDaemon{started: make(chan string, 1), cancelled: make(chan struct{}), release: make(chan struct{}), finished: make(chan struct{})}
}

func (d *blockingDaemon) run(ctx context.Context, configPath string) error {
	d.started <- configPath
	<-ctx.Done()
	close(d.cancelled)
	<-d.release
	close(d.finished)
	return nil
}

func TestProgramStartReturnsAndStopDrains(t *testing.T) {
	d := newBlockingDaemon()
	p := newProgram("/etc/dropsync/config.yaml", time.Hour)
	p.run = d.run
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if got := <-d.started; got != "/etc/dropsync/config.yaml" {
		t.Errorf("daemon got config %q", got)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(nil) }()
	<-d.cancelled
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while the daemon was still draining", err)
	default:
	}
	close(d.release)
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
	select {
	case <-d.finished:
	default:
		t.Error("Stop returned before the daemon did")
	}
}

func TestProgramStopDeadline(t *testing.T) {
	d := newBlockingDaemon()
	defer close(d.release)
	p := newProgram("c.yaml", 20*time.Millisecond)
	p.run = d.run
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	<-d.started
	err := p.Stop(nil)
	if err == nil || !strings.Contains(err.Error(), "did not finish within 20ms") {
		t.Fatalf("Stop of a daemon that never drains: %v", err)
	}
}

func TestProgramStopReturnsDaemonError(t *testing.T) {
	p := newProgram("c.yaml", time.Hour)
	p.run = func(ctx context.Context, _ string) error {
		<-ctx.Done()
		return fmt.Errorf("close queue: disk full")
	}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(nil); err == nil || err.Error() != "close queue: disk full" {
		t.Errorf("Stop: %v", err)
	}
	// A daemon that returns ctx.Err() after a requested stop is a clean stop.
	p = newProgram("c.yaml", time.Hour)
	p.run = func(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }
	_ = p.Start(nil)
	if err := p.Stop(nil); err != nil {
		t.Errorf("Stop of a daemon returning context.Canceled: %v", err)
	}
}

func TestRunUnderServiceManagerInteractive(t *testing.T) {
	useFakeSystem(t, "linux-systemd")
	service.ChosenSystem().(*fakeSystem).interactive = true
	runDaemonFunc = func(context.Context, string) error {
		t.Error("daemon started from an interactive run")
		return nil
	}
	handled, err := runUnderServiceManager("config.yaml")
	if handled || err != nil {
		t.Errorf("interactive: handled=%v err=%v, want false, nil", handled, err)
	}
}

func TestRunUnderServiceManagerRunsAndStops(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	d := newBlockingDaemon()
	close(d.release)
	runDaemonFunc = d.run
	// The manager starts the program and, once the daemon is up, stops it.
	svc.run = func(f *fakeService) error {
		if err := f.i.Start(f); err != nil {
			return err
		}
		<-d.started
		return f.i.Stop(f)
	}
	cfg := writeServiceConfig(t)
	handled, err := runUnderServiceManager(cfg)
	if !handled || err != nil {
		t.Fatalf("handled=%v err=%v, want true, nil", handled, err)
	}
	select {
	case <-d.finished:
	default:
		t.Error("runUnderServiceManager returned before the daemon finished")
	}
	if want := []string{"run", "-c", cfg}; !reflect.DeepEqual(svc.cfg.Arguments, want) {
		t.Errorf("service config arguments %q, want %q", svc.cfg.Arguments, want)
	}
}

func TestRunUnderServiceManagerReportsDaemonFailure(t *testing.T) {
	svc := useFakeSystem(t, "linux-systemd")
	runDaemonFunc = func(context.Context, string) error { return errors.New("state_dir: permission denied") }
	// Like kardianos on systemd: Start, wait with RunWait, Stop.
	svc.run = func(f *fakeService) error {
		if err := f.i.Start(f); err != nil {
			return err
		}
		wait, ok := f.cfg.Option["RunWait"].(func())
		if !ok {
			return errors.New("no RunWait option")
		}
		wait() // must return because the daemon ended
		return f.i.Stop(f)
	}
	handled, err := runUnderServiceManager(writeServiceConfig(t))
	if !handled || err == nil || err.Error() != "state_dir: permission denied" {
		t.Fatalf("handled=%v err=%v, want true and the daemon's error", handled, err)
	}
}

func TestServiceStatusSysV(t *testing.T) {
	svc := useFakeSystem(t, "unix-systemv")
	// kardianos' SysV backend: `service dropsync status` exits 1 both when
	// the script is missing and when it answers "Stopped".
	svc.fail["status"] = errors.New("exit status 1")
	out, err := runService(t, "status")
	if err != nil || !strings.HasSuffix(out, "not installed (unix-systemv)\n") {
		t.Errorf("no init script: %q %v", out, err)
	}
	if _, err := runService(t, "start"); err == nil || !strings.HasPrefix(err.Error(), "not installed: ") {
		t.Errorf("start without an init script: %v", err)
	}
	script := initScripts["unix-systemv"]
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = runService(t, "status")
	if err != nil || !strings.HasSuffix(out, "stopped (unix-systemv)\n") {
		t.Errorf("init script present: %q %v", out, err)
	}

	// Uninstall also removes the runlevel links kardianos leaves behind,
	// and only those.
	dir := filepath.Dir(filepath.Dir(script))
	ours := []string{filepath.Join(dir, "rc2.d", "S50dropsync"), filepath.Join(dir, "rc0.d", "K02dropsync")}
	other := filepath.Join(dir, "rc3.d", "S50dropsync")
	for _, l := range append(ours, other) {
		if err := os.MkdirAll(filepath.Dir(l), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range ours {
		if err := os.Symlink(script, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/init.d/somethingelse", other); err != nil {
		t.Fatal(err)
	}
	svc.installed = true
	svc.fail = map[string]error{}
	if _, err := runService(t, "uninstall"); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	for _, l := range ours {
		if _, err := os.Lstat(l); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there (%v)", l, err)
		}
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("a link to another script was removed: %v", err)
	}
}

func TestServiceInstallUserOnlyWhereHonoured(t *testing.T) {
	// kardianos' SysV script ignores the account: auto falls back to root,
	// and an explicit -user is refused rather than silently ignored.
	svc := useFakeSystem(t, "unix-systemv")
	lookupUser = func(string) bool { return true }
	if _, err := runService(t, "install", "-c", writeServiceConfig(t)); err != nil {
		t.Fatal(err)
	}
	if svc.installedWith.UserName != "" {
		t.Errorf("SysV auto user = %q, want root", svc.installedWith.UserName)
	}
	svc.installed = false
	_, err := runService(t, "install", "-c", writeServiceConfig(t), "-user", "svc")
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("SysV -user svc: %v", err)
	}

	svc = useFakeSystem(t, "linux-systemd")
	_, err = runService(t, "install", "-c", writeServiceConfig(t), "-user", "nobody-here")
	if err == nil || !strings.Contains(err.Error(), `user "nobody-here" does not exist`) {
		t.Errorf("systemd -user of a missing account: %v", err)
	}
	if svc.installedWith != nil {
		t.Error("Install was called for a missing account")
	}
}

// The unit `dropsync service install` writes reloads with SIGHUP, as the
// packaged one does: `systemctl reload dropsync` failed for it.
func TestServiceInstallUnitReloads(t *testing.T) {
	c := serviceConfig("/etc/dropsync/config.yaml", 40*time.Second)
	unit, _ := c.Option["SystemdScript"].(string)
	if !strings.Contains(unit, "ExecReload=/bin/kill -HUP $MAINPID\n") {
		t.Errorf("the unit has no ExecReload:\n%s", unit)
	}
}
