package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/sandbox"
)

// folderChecker checks a configuration's folders for validate: as the
// user who runs it, and, when the installed dropsync service runs this
// configuration, against that unit's sandbox (which validate, outside it,
// cannot feel).
func folderChecker(ctx context.Context, configPath string) sandbox.Checker {
	return sandbox.Checker{Systemd: os.Getenv("INVOCATION_ID") != "", Unit: serviceSandbox(ctx, configPath)}
}

// serviceSandbox returns the sandbox of the dropsync unit when it is
// loaded and runs configPath; nil otherwise. Tests replace it.
var serviceSandbox = func(ctx context.Context, configPath string) *sandbox.Unit {
	systemctl, err := exec.LookPath("systemctl")
	if err != nil {
		return nil
	}
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, systemctl, "show", "dropsync.service",
		"-p", "Id", "-p", "LoadState", "-p", "ProtectHome", "-p", "PrivateTmp", "-p", "ProtectSystem", "-p", "ReadWritePaths", "-p", "ExecStart").Output()
	if err != nil || !strings.Contains(string(out), " -c "+abs+" ") {
		return nil
	}
	return sandbox.ParseShow(string(out))
}

// sandboxExplains is called when the configuration does not load under
// systemd: a watch folder the unit's sandbox hides (PrivateTmp,
// ProtectHome) looks missing to the service. It returns the folder check's
// error, which names the setting, or nil when that is not the cause.
func sandboxExplains(ctx context.Context, configPath string) error {
	if os.Getenv("INVOCATION_ID") == "" {
		return nil
	}
	c, err := config.LoadForInspection(configPath)
	if err != nil {
		return nil
	}
	return sandbox.Checker{Systemd: true}.Check(ctx, c)
}
