package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/internal/redact"
	"github.com/dropsync/dropsync/internal/sandbox"
	"github.com/dropsync/dropsync/metrics"
)

func init() {
	register("run", "run in the foreground (what the service runs)", cmdRun)
}

func cmdRun(ctx context.Context, args []string, _ io.Writer) error {
	fs := newFlags("run", "[-c FILE]")
	cfgPath := fs.String("c", defaultConfigPath, "configuration file")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if handled, err := runUnderServiceManager(*cfgPath); handled {
		return err
	}
	return runDaemon(ctx, *cfgPath)
}

// runDaemon runs the daemon configured in configPath until ctx ends, then
// drains in-flight work within shutdown_timeout and returns. SIGHUP
// reloads the configuration (see daemon/reload.go); under systemd it
// speaks sd_notify (systemd.go).
func runDaemon(ctx context.Context, configPath string) error {
	c, err := config.Load(configPath)
	if err != nil {
		if herr := sandboxExplains(ctx, configPath); herr != nil {
			return herr // a watch the unit's sandbox hides: say which setting
		}
		return err
	}
	log := newLogger(c.Log, os.Stderr)
	slog.SetDefault(log)
	return serve(ctx, configPath, c, log)
}

// serve runs a daemon for c, with the metrics endpoint when configured,
// reloading configPath on SIGHUP.
func serve(ctx context.Context, configPath string, c *config.Config, log *slog.Logger) error {
	// Catch SIGHUP from the start: its default action ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	m, err := startMetrics(c.Metrics.Listen, log)
	if err != nil {
		return err
	}
	observers := daemon.Observers{}
	if m != nil {
		observers = append(observers, m)
		defer m.Close()
		m.Configure(c)
	}
	n := &notifier{log: log}
	check := sandbox.Checker{Systemd: os.Getenv("INVOCATION_ID") != "", Warn: func(msg string) { log.Warn(msg) }}
	d, err := daemon.New(ctx, c, daemon.Options{Log: log, Observer: observers, Lifecycle: n, CheckFolders: check.Check})
	if err != nil {
		return err
	}
	n.d = d
	if m != nil {
		m.Attach(d)
	}
	bg, stopBg := context.WithCancel(ctx)
	defer stopBg()
	go n.run(bg, 10*time.Second)
	go reloadOnHangup(bg, hup, configPath, d, m, n, log)
	return d.Run(ctx)
}

// reloadOnHangup reloads configPath into d at each SIGHUP until ctx ends.
// A configuration that does not load or apply is refused with one line,
// and the running one stays.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, configPath string, d *daemon.Daemon, m *metrics.Metrics, n *notifier, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		log.Info("SIGHUP: reloading the configuration", "config", configPath)
		n.Reloading()
		c, err := config.Load(configPath)
		if err != nil {
			log.Error("reload refused; the running configuration stays", "err", oneLine(err.Error()))
		} else if err = d.Reload(ctx, c); err == nil && m != nil {
			m.Configure(c)
		}
		n.Reloaded(err)
	}
}

// newLogger builds the slog logger the configuration asks for.
func newLogger(l config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}
	if l.Format == "journal" || (l.Format == "text" && toJournal(w)) {
		return slog.New(newJournalHandler(w, level))
	}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redactAttr is the log's last net under the rule that no credential
// reaches a message (see package redact): a text or error value, the
// message included, has every registered credential replaced.
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); len(s) >= redact.MinLen {
			if r := redact.String(s); r != s {
				a.Value = slog.StringValue(r)
			}
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok && err != nil {
			a.Value = slog.StringValue(redact.String(err.Error()))
		}
	}
	return a
}

// loadConfig loads the configuration for a command, with the path in the
// message when it is missing.
func loadConfig(path string) (*config.Config, error) {
	c, err := config.Load(path)
	if err != nil && path == defaultConfigPath {
		if _, serr := os.Stat(path); serr != nil {
			return nil, fmt.Errorf("%w (give another file with -c)", err)
		}
	}
	return c, err
}
