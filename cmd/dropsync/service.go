package main

// service.go holds `dropsync service …` (install and control the system
// service through github.com/kardianos/service) and the service-manager
// side of `dropsync run`.
//
// How `run` and the service host fit together: the installed service runs
// `dropsync run -c <absolute config path>`. The run command first calls
// runUnderServiceManager. Started from a terminal, a container or a script
// (service.Interactive() is true) it returns handled=false and run calls
// runDaemon itself, with main's SIGINT/SIGTERM context. Started by a service
// manager it hands control to kardianos' Service.Run, which is what the
// Windows SCM requires (the process must call StartServiceCtrlDispatcher and
// answer stop requests); on systemd and launchd Run waits for SIGTERM. Either
// way the daemon runs in program.Start's goroutine and program.Stop cancels
// it and waits for the drain, bounded by the configured shutdown_timeout plus
// a margin.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kardianos/service"
	"gopkg.in/yaml.v3"

	"github.com/dropsync/dropsync/config"
)

const (
	serviceDisplayName = "dropsync"
	serviceDescription = "Delivers finished files from watched drop folders to content systems."

	// serviceUser is the account the packages create; `service install`
	// runs the service as this user when it exists.
	serviceUser = "dropsync"

	// stopMargin is added to shutdown_timeout: the time Stop waits for
	// runDaemon, and (plus 5s more) systemd's TimeoutStopSec.
	stopMargin = 10 * time.Second
)

// Hooks replaced by tests.
var (
	// runDaemonFunc runs the daemon until ctx is cancelled (run.go).
	runDaemonFunc = runDaemon
	// executablePath is the binary the service will start.
	executablePath = os.Executable
	// lookupUser reports whether an account exists.
	lookupUser = func(name string) bool { _, err := user.Lookup(name); return err == nil }
	// privileged reports whether this process may install and control
	// system services (root; an elevated token on Windows).
	privileged = isPrivileged
	// localUnitPath is where kardianos writes the systemd unit;
	// packagedUnitPaths are where the .deb/.rpm put theirs.
	localUnitPath     = "/etc/systemd/system/dropsync.service"
	packagedUnitPaths = []string{"/lib/systemd/system/dropsync.service", "/usr/lib/systemd/system/dropsync.service"}
	// initScripts are the files kardianos writes for script-based init
	// systems, by platform name (see serviceStatus).
	initScripts = map[string]string{
		"unix-systemv": "/etc/init.d/dropsync",
		"linux-openrc": "/etc/init.d/dropsync",
	}
	// sysvRCGlob matches the runlevel links kardianos' SysV Install makes
	// (and its Uninstall leaves behind).
	sysvRCGlob = "/etc/rc[0-6].d/[SK][0-9][0-9]dropsync"
)

// serviceName is the name the service manager knows: launchd labels are
// reverse-DNS (and match packaging/dropsync.plist), elsewhere "dropsync".
func serviceName() string {
	if runtime.GOOS == "darwin" {
		return "com.dropsync.dropsync"
	}
	return "dropsync"
}

func init() {
	register("service", "install, uninstall, start, stop, restart or show the system service", cmdService)
}

const serviceUsage = "install|uninstall|start|stop|restart|status [-c FILE] [-user NAME]"

func cmdService(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("service", serviceUsage)
	configPath := fs.String("c", defaultConfigPath, "configuration file the installed service runs with")
	userName := fs.String("user", "auto", "install: account the service runs as; \"auto\" = "+serviceUser+" if that account exists, else the service manager's default (root, LocalSystem); \"\" = the default")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	action := pos[0]
	switch action {
	case "install", "uninstall", "start", "stop", "restart", "status":
	default:
		fs.Usage()
		return fmt.Errorf("unknown service action %q: use one of %s", action, "install, uninstall, start, stop, restart, status")
	}

	sys := service.ChosenSystem()
	if sys == nil {
		return fmt.Errorf("no service manager found on this machine (%s/%s): run `dropsync run -c FILE` under your own supervisor", runtime.GOOS, runtime.GOARCH)
	}
	platform := sys.String()
	if action == "install" && runtime.GOOS == "linux" && platform != "linux-systemd" {
		fmt.Fprintf(stdout, "note: systemd is not running here; using the %s init system\n", platform)
	}

	if action != "status" && !privileged() {
		return permissionDenied(action)
	}
	abs, err := filepath.Abs(*configPath)
	if err != nil {
		return fmt.Errorf("config path %s: %w", *configPath, err)
	}
	deadline := stopDeadline(abs)
	svcCfg := serviceConfig(abs, deadline)
	if action == "install" {
		if err := prepareInstall(svcCfg, platform, *userName, stdout); err != nil {
			return err
		}
	}
	// The program only runs under runUnderServiceManager; here kardianos
	// needs one to build the Service.
	s, err := service.New(newProgram(abs, deadline), svcCfg)
	if err != nil {
		return fmt.Errorf("service (%s): %w", platform, err)
	}
	if action == "status" {
		return printServiceStatus(s, platform, stdout)
	}
	installed, err := isInstalled(s, platform)
	if err != nil {
		return mapServiceError(action, platform, err)
	}
	switch action {
	case "install":
		if installed {
			if p := packagedUnit(platform); p != "" {
				return fmt.Errorf("already installed by the dropsync package (%s): edit /etc/dropsync/config.yaml and run `dropsync service start`", p)
			}
			return errors.New("already installed: use `dropsync service uninstall` first")
		}
		if err := s.Install(); err != nil {
			return mapServiceError(action, platform, err)
		}
		as := svcCfg.UserName
		if as == "" {
			as = "the service manager's default account"
		}
		fmt.Fprintf(stdout, "installed service %s (%s): %s %s, as %s\n", serviceName(), platform, svcCfg.Executable, strings.Join(svcCfg.Arguments, " "), as)
		fmt.Fprintf(stdout, "start it with: %s\n", elevated("dropsync service start"))
		return nil
	case "uninstall":
		if !installed {
			return errors.New("not installed: nothing to uninstall (install with `dropsync service install -c FILE`)")
		}
		if p := packagedUnit(platform); p != "" {
			return fmt.Errorf("dropsync.service comes from the dropsync package (%s): remove the package (apt remove dropsync, dnf remove dropsync) or just `dropsync service stop`", p)
		}
		if st, err := serviceStatus(s, platform); err == nil && st == service.StatusRunning {
			if err := s.Stop(); err != nil {
				return mapServiceError("stop", platform, err)
			}
			fmt.Fprintf(stdout, "stopped service %s\n", serviceName())
		}
		if err := s.Uninstall(); err != nil {
			return mapServiceError(action, platform, err)
		}
		if platform == "unix-systemv" {
			removeSysVLinks(initScripts[platform])
		}
		fmt.Fprintf(stdout, "uninstalled service %s (%s)\n", serviceName(), platform)
		return nil
	}

	// start, stop, restart
	if !installed {
		return errors.New("not installed: use `dropsync service install -c FILE`")
	}
	switch action {
	case "start":
		err = s.Start()
	case "stop":
		err = s.Stop()
	case "restart":
		err = s.Restart()
	}
	if err != nil {
		return mapServiceError(action, platform, err)
	}
	past := map[string]string{"start": "started", "stop": "stopped", "restart": "restarted"}[action]
	fmt.Fprintf(stdout, "%s service %s (%s)\n", past, serviceName(), platform)
	return nil
}

// serviceConfig describes the service to kardianos; a platform ignores the
// options it does not know. stopTimeout is how long Stop waits for the
// drain; systemd waits 5s more before it kills the process.
func serviceConfig(configPath string, stopTimeout time.Duration) *service.Config {
	timeoutStop := int((stopTimeout + 5*time.Second) / time.Second)
	return &service.Config{
		Name:        serviceName(),
		DisplayName: serviceDisplayName,
		Description: serviceDescription,
		Arguments:   []string{"run", "-c", configPath},
		Option: service.KeyValue{
			// systemd
			"SystemdScript": strings.ReplaceAll(systemdUnitTemplate, "@TIMEOUT_STOP@", strconv.Itoa(timeoutStop)),
			"Restart":       "on-failure",
			"LimitNOFILE":   65536,
			// launchd: start at boot, restart when it exits.
			"RunAtLoad": true,
			"KeepAlive": true,
			// Windows: automatic start once the network is likely up;
			// the SCM restarts the service 5s after it fails.
			"DelayedAutoStart":       true,
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
			"OnFailureResetPeriod":   3600,
		},
	}
}

// systemdUnitTemplate is the unit `service install` writes on systemd
// (kardianos' template syntax). Unlike packaging/dropsync.service it is not
// sandboxed with ProtectSystem/ProtectHome: it cannot know the watched
// folders, and a sandbox that hides them would fail at the first delivery.
const systemdUnitTemplate = `[Unit]
Description={{Description}}
Documentation=https://github.com/dropsync/dropsync
ConditionFileIsExecutable={{Path | cmdEscape}}
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=300
StartLimitBurst=10

[Service]
Type=simple
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
ExecReload=/bin/kill -HUP $MAINPID
{{if UserName}}User={{UserName}}
StateDirectory=dropsync
StateDirectoryMode=0700
{{end}}{{if LimitNOFILE}}LimitNOFILE={{LimitNOFILE}}
{{end}}{{if Restart}}Restart={{Restart}}
{{end}}RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec=@TIMEOUT_STOP@
NoNewPrivileges=yes
EnvironmentFile=-/etc/default/{{Name}}
EnvironmentFile=-/etc/sysconfig/{{Name}}
{{range EnvVars}}{{.}}
{{end}}
[Install]
WantedBy=multi-user.target
`

// userPlatforms are the kardianos backends that honour Config.UserName;
// the SysV and OpenRC scripts ignore it, Windows needs a password too.
var userPlatforms = map[string]bool{"linux-systemd": true, "linux-upstart": true, "darwin-launchd": true}

// prepareInstall fills in what only install needs: the executable and the
// account, and warns about a missing configuration file.
func prepareInstall(c *service.Config, platform, userName string, stdout io.Writer) error {
	exe, err := executablePath()
	if err != nil {
		return fmt.Errorf("find the dropsync executable: %w", err)
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return fmt.Errorf("%s is a temporary `go run` binary: build dropsync (go build ./cmd/dropsync) and install from the built binary", exe)
	}
	c.Executable = exe

	switch userName {
	case "auto":
		userName = ""
		if userPlatforms[platform] && lookupUser(serviceUser) {
			userName = serviceUser
		}
	case "", "root":
		userName = ""
	default:
		if runtime.GOOS == "windows" {
			return fmt.Errorf("-user is not supported on Windows (a named account needs a password): install, then run sc.exe config %s obj= DOMAIN\\USER password= ...", serviceName())
		}
		if !userPlatforms[platform] {
			return fmt.Errorf("-user is not supported with %s, whose init script runs the service as root: leave -user out", platform)
		}
		if !lookupUser(userName) {
			return fmt.Errorf("user %q does not exist: create it first or leave -user out", userName)
		}
	}
	c.UserName = userName

	cfgPath := c.Arguments[len(c.Arguments)-1]
	if _, err := os.Stat(cfgPath); err != nil {
		fmt.Fprintf(stdout, "warning: %s does not exist yet; the service will not start until it does (check it with `dropsync validate -c %s`)\n", cfgPath, cfgPath)
	}
	if userName != "" {
		fmt.Fprintf(stdout, "note: the service runs as %q: it must be able to read %s, write its state_dir and the watched folders\n", userName, cfgPath)
	}
	return nil
}

// serviceStatus is s.Status with kardianos' script-based backends
// corrected: their status fails outright when there is no init script
// (that is "not installed"), and the SysV one also when the script answers
// "Stopped", which it does with exit status 1.
func serviceStatus(s service.Service, platform string) (service.Status, error) {
	st, err := s.Status()
	if err == nil || errors.Is(err, service.ErrNotInstalled) {
		return st, err
	}
	if script, ok := initScripts[platform]; ok {
		if _, serr := os.Stat(script); errors.Is(serr, fs.ErrNotExist) {
			return service.StatusUnknown, service.ErrNotInstalled
		}
		if platform == "unix-systemv" {
			return service.StatusStopped, nil
		}
	}
	return st, err
}

// isInstalled asks the service manager whether the service exists.
func isInstalled(s service.Service, platform string) (bool, error) {
	_, err := serviceStatus(s, platform)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, service.ErrNotInstalled):
		return false, nil
	case strings.Contains(err.Error(), "failed state"): // systemd: installed, crashed
		return true, nil
	}
	return false, err
}

func printServiceStatus(s service.Service, platform string, stdout io.Writer) error {
	st, err := serviceStatus(s, platform)
	var state string
	switch {
	case err == nil && st == service.StatusRunning:
		state = "running"
	case err == nil && st == service.StatusStopped:
		state = "stopped"
	case err == nil:
		state = "unknown"
	case errors.Is(err, service.ErrNotInstalled):
		state = "not installed"
	case strings.Contains(err.Error(), "failed state"):
		state = "stopped (failed: see `journalctl -u dropsync`)"
	default:
		return mapServiceError("status", platform, err)
	}
	fmt.Fprintf(stdout, "%s (%s)\n", state, platform)
	return nil
}

// packagedUnit returns the path of the unit the .deb/.rpm installed when
// systemd uses it rather than one written by `service install`.
func packagedUnit(platform string) string {
	if platform != "linux-systemd" {
		return ""
	}
	if _, err := os.Stat(localUnitPath); err == nil {
		return ""
	}
	for _, p := range packagedUnitPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// removeSysVLinks deletes the /etc/rcN.d links to script, which kardianos'
// SysV Uninstall does not remove.
func removeSysVLinks(script string) {
	links, _ := filepath.Glob(sysvRCGlob)
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && target == script {
			_ = os.Remove(l)
		}
	}
}

func permissionDenied(action string) error {
	if runtime.GOOS == "windows" {
		return fmt.Errorf("permission denied: run from an elevated prompt (Run as administrator: dropsync service %s)", action)
	}
	return fmt.Errorf("permission denied: run as root (sudo dropsync service %s)", action)
}

func elevated(cmd string) string {
	if runtime.GOOS == "windows" {
		return cmd + " (elevated prompt)"
	}
	return "sudo " + cmd
}

// mapServiceError turns what kardianos and the service manager report into
// a message that says what to do.
func mapServiceError(action, platform string, err error) error {
	msg := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, fs.ErrPermission),
		strings.Contains(msg, "access is denied"),
		strings.Contains(msg, "access denied"),
		strings.Contains(msg, "permission denied"),
		strings.Contains(msg, "operation not permitted"),
		strings.Contains(msg, "interactive authentication required"):
		return permissionDenied(action)
	case strings.Contains(msg, "already exists"):
		return errors.New("already installed: use `dropsync service uninstall` first")
	case errors.Is(err, service.ErrNotInstalled),
		strings.Contains(msg, "is not installed"),
		strings.Contains(msg, "unit file "+serviceName()+".service does not exist"),
		strings.Contains(msg, "unit "+serviceName()+".service not found"):
		return errors.New("not installed: use `dropsync service install -c FILE`")
	}
	return fmt.Errorf("service %s (%s): %w", action, platform, err)
}

// stopDeadline is how long Stop waits for the daemon to drain: the
// configured shutdown_timeout plus a margin. Only that key is read, leniently:
// whether the rest is valid is for runDaemon and `validate` to say, and an
// unreadable file means the default of 30s.
func stopDeadline(configPath string) time.Duration {
	shutdown := 30 * time.Second
	var c struct {
		Shutdown config.Duration `yaml:"shutdown_timeout"`
	}
	if data, err := os.ReadFile(configPath); err == nil && yaml.Unmarshal(data, &c) == nil && c.Shutdown > 0 {
		shutdown = time.Duration(c.Shutdown)
	}
	return shutdown + stopMargin
}

// program is the service.Interface kardianos drives.
type program struct {
	configPath  string
	run         func(ctx context.Context, configPath string) error
	stopTimeout time.Duration
	// onUnexpectedExit, if set, is called when the daemon returns without
	// being stopped (service_windows.go: exit so the SCM restarts it).
	onUnexpectedExit func(error)

	mu       sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{} // closed when run has returned
	err      error         // run's result; read after done
	stopping bool
}

var _ service.Shutdowner = (*program)(nil)

func newProgram(configPath string, stopTimeout time.Duration) *program {
	return &program{configPath: configPath, run: runDaemonFunc, stopTimeout: stopTimeout, done: make(chan struct{})}
}

// Start starts the daemon in a goroutine and returns at once.
func (p *program) Start(service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return errors.New("daemon already started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		err := p.run(ctx, p.configPath)
		p.mu.Lock()
		stopping := p.stopping
		switch {
		case stopping && errors.Is(err, context.Canceled):
			err = nil
		case !stopping && err == nil:
			err = errors.New("daemon stopped without being asked to")
		}
		p.err = err
		p.mu.Unlock()
		close(p.done)
		if !stopping && p.onUnexpectedExit != nil {
			p.onUnexpectedExit(err)
		}
	}()
	return nil
}

// Stop cancels the daemon and waits until it has drained and returned, or
// until stopTimeout passes. It never exits the process.
func (p *program) Stop(service.Service) error {
	p.mu.Lock()
	cancel := p.cancel
	p.stopping = true
	p.mu.Unlock()
	if cancel == nil {
		return nil // never started
	}
	cancel()
	t := time.NewTimer(p.stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-t.C:
		return fmt.Errorf("daemon did not finish within %s; unfinished uploads resume at the next start", p.stopTimeout)
	}
}

// Shutdown is Stop when the machine shuts down (Windows).
func (p *program) Shutdown(s service.Service) error { return p.Stop(s) }

// waitForStop is kardianos' RunWait on systemd, launchd and SysV: it
// returns on SIGTERM/SIGINT, or when the daemon has ended by itself so that
// Run returns its error and the service manager sees the failure.
func (p *program) waitForStop() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	select {
	case <-sig:
	case <-p.done:
	}
}

// runUnderServiceManager runs the daemon through kardianos' Service.Run when
// a service manager started this process. It returns handled=false, doing
// nothing, when dropsync runs interactively; the caller then runs the
// daemon itself.
func runUnderServiceManager(configPath string) (handled bool, err error) {
	if service.Interactive() {
		return false, nil
	}
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return true, fmt.Errorf("config path %s: %w", configPath, err)
	}
	deadline := stopDeadline(abs)
	p := newProgram(abs, deadline)
	c := serviceConfig(abs, deadline)
	c.Option["RunWait"] = p.waitForStop
	s, err := service.New(p, c)
	if err != nil {
		return true, fmt.Errorf("service (%s): %w", service.Platform(), err)
	}
	prepareServiceHost(s, p)
	return true, s.Run()
}
