package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/queue"
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
// drains in-flight work within shutdown_timeout and returns.
func runDaemon(ctx context.Context, configPath string) error {
	c, err := config.Load(configPath)
	if err != nil {
		return err
	}
	log := newLogger(c.Log, os.Stderr)
	slog.SetDefault(log)
	return serve(ctx, c, log, nil)
}

// serve runs a daemon for c, with the metrics endpoint when configured.
func serve(ctx context.Context, c *config.Config, log *slog.Logger, obs daemon.Observer) error {
	m, err := startMetrics(c.Metrics.Listen, log)
	if err != nil {
		return err
	}
	observers := daemon.Observers{}
	if m != nil {
		observers = append(observers, m)
		defer m.Close()
	}
	if obs != nil {
		observers = append(observers, obs)
	}
	d, err := daemon.New(ctx, c, daemon.Options{Log: log, Observer: observers})
	if err != nil {
		return err
	}
	if m != nil {
		m.Attach(d)
	}
	return d.Run(ctx)
}

// newLogger builds the slog logger the configuration asks for.
func newLogger(l config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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

// openQueue loads the configuration and opens its existing queue, for the
// commands that inspect or steer it beside a running daemon.
func openQueue(ctx context.Context, path string) (*config.Config, *queue.Queue, error) {
	c, err := config.LoadForInspection(path)
	if err != nil {
		return nil, nil, err
	}
	q, err := queue.OpenExisting(ctx, c.StateDir)
	if err != nil {
		return nil, nil, err
	}
	return c, q, nil
}
