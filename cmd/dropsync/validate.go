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
	dirs, modes := watchModes(ctx, c)
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
// folders the watches with events need inotify watches for. The watches
// are looked at all at once, for at most modeWait in all: a watch on a
// mount that hangs (or a tree too large to count in that time) is named
// as not answering, and validate goes on.
func watchModes(ctx context.Context, c *config.Config) (dirs int, lines []string) {
	type mode struct {
		n    int
		line string
	}
	answers := make([]chan mode, len(c.Watches))
	for i, wc := range c.Watches {
		answers[i] = make(chan mode, 1) // a look left behind never blocks
		go func() {
			n, line := watchMode(wc)
			answers[i] <- mode{n, line}
		}()
	}
	t := time.NewTimer(modeWait)
	defer t.Stop()
	waiting := true
	for i, ch := range answers {
		var m mode
		var ok bool
		if waiting {
			select {
			case m = <-ch:
				ok = true
			case <-t.C:
				waiting = false
			case <-ctx.Done():
				waiting = false
			}
		}
		if !ok {
			select {
			case m = <-ch:
				ok = true
			default:
			}
		}
		if !ok {
			m.line = fmt.Sprintf("watch %s: did not answer within %s (a network mount whose server is gone, or a tree too large to count?): not counted", c.Watches[i].Path, modeWait)
		}
		dirs += m.n
		lines = append(lines, m.line)
	}
	return dirs, lines
}

// modeWait bounds watchModes.
var modeWait = 10 * time.Second

// watchMode says how wc finds changes and counts its folders with events.
func watchMode(wc *config.Watch) (dirs int, line string) {
	if _, err := os.Stat(wc.Path); errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Sprintf("watch %s: the folder does not exist (yet); the daemon starts and this watch waits for it", wc.Path)
	}
	d := watcher.Decide(wc.Mode, wc.Path)
	if d.Poll {
		return 0, fmt.Sprintf("watch %s: polling every %s (%s)", wc.Path, wc.PollInterval.D(), d.Reason)
	}
	n, err := watcher.CountDirs(wc.Path, wc.IsRecursive(), wc.Exclude)
	if err != nil {
		return 0, fmt.Sprintf("watch %s: cannot count its folders: %v", wc.Path, err)
	}
	return n, fmt.Sprintf("watch %s: file-system events on %d folder(s) (%s)", wc.Path, n, d.Reason)
}
