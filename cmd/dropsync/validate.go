package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/watcher"
)

func init() {
	register("validate", "check the configuration (--online: and the targets)", cmdValidate)
}

func cmdValidate(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("validate", "[-c FILE] [--online]")
	cfgPath := fs.String("c", defaultConfigPath, "configuration file")
	online := fs.Bool("online", false, "also check each target's reachability and credentials")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	for _, warn := range c.Warnings {
		fmt.Fprintln(os.Stderr, "warning: "+warn)
	}
	// Adapters log what validation should tell (e.g. that overwrite still
	// keeps versions on this API) as warnings: show those.
	notes := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	set, err := targets.Build(c, notes)
	if err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
	}
	defer set.Close()
	check := folderChecker(ctx, *cfgPath)
	check.Warn = func(msg string) { fmt.Fprintln(w, "note: "+msg) }
	if err := check.Check(ctx, c); err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
	}
	dirs, modes := watchModes(c)
	fmt.Fprintf(w, "%s: OK: %d target(s), %d watch(es), %d folder(s) to watch\n", *cfgPath, len(c.Targets), len(c.Watches), dirs)
	for _, m := range modes {
		fmt.Fprintln(w, m)
	}
	if err := watcher.Preflight(dirs); err != nil {
		fmt.Fprintf(w, "note: %v; until then, the folders that do not fit are polled every poll_interval\n", err)
	}
	if !*online {
		return nil
	}
	names := make([]string, 0, len(set.Targets))
	for n := range set.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	var failed error
	for _, n := range names {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := checkTarget(cctx, set.Targets[n], c.Targets[n])
		cancel()
		if err != nil {
			fmt.Fprintf(w, "target %s: FAILED: %v\n", n, err)
			failed = errors.Join(failed, fmt.Errorf("target %s: %w", n, err))
			continue
		}
		fmt.Fprintf(w, "target %s: OK\n", n)
	}
	for i, wc := range c.Watches {
		dc, ok := set.Targets[wc.Target].(targets.DestinationChecker)
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := dc.CheckDestination(cctx, set.Dests[i])
		cancel()
		if err != nil {
			fmt.Fprintf(w, "watch %s → %s: FAILED: %v\n", wc.Path, wc.Target, err)
			failed = errors.Join(failed, fmt.Errorf("watches[%d] (%s): %w", i, wc.Path, err))
			continue
		}
		fmt.Fprintf(w, "watch %s → %s: destination OK\n", wc.Path, wc.Target)
	}
	return failed
}

// checkTarget uses the adapter's own check when it has one, and otherwise
// checks that the server answers HTTP at all.
func checkTarget(ctx context.Context, t targets.Target, tc *config.Target) error {
	if c, ok := t.(targets.Checker); ok {
		return c.Check(ctx)
	}
	hc, err := targets.NewHTTPClient(tc)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, tc.URL, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a secret (a key in its query)
		}
		return fmt.Errorf("unreachable: %w", err)
	}
	resp.Body.Close()
	return nil
}

// watchModes says how each watch finds changes and why, and counts the
// folders the watches with events need inotify watches for.
func watchModes(c *config.Config) (dirs int, lines []string) {
	for _, wc := range c.Watches {
		if _, err := os.Stat(wc.Path); errors.Is(err, fs.ErrNotExist) {
			lines = append(lines, fmt.Sprintf("watch %s: the folder does not exist (yet); the daemon starts and this watch waits for it", wc.Path))
			continue
		}
		d := watcher.Decide(wc.Mode, wc.Path)
		if d.Poll {
			lines = append(lines, fmt.Sprintf("watch %s: polling every %s (%s)", wc.Path, wc.PollInterval.D(), d.Reason))
			continue
		}
		n, err := watcher.CountDirs(wc.Path, wc.IsRecursive(), wc.Exclude)
		if err != nil {
			lines = append(lines, fmt.Sprintf("watch %s: cannot count its folders: %v", wc.Path, err))
			continue
		}
		dirs += n
		lines = append(lines, fmt.Sprintf("watch %s: file-system events on %d folder(s) (%s)", wc.Path, n, d.Reason))
	}
	return dirs, lines
}
