package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/queue"
)

func init() {
	register("target", "target health: list | retry NAME (re-test now) | resume NAME (end a pause)", cmdTarget)
}

// targetRow is one target in `target list`, `status` and `status --json`.
type targetRow struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	State     string    `json:"state"`
	Since     time.Time `json:"since,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// NextProbe is when a target that is down or has its credentials
	// rejected is tested again, or when a throttled one's pause ends.
	NextProbe time.Time `json:"next_probe,omitzero"`
	Backlog   int       `json:"backlog"` // pending jobs
}

// targetRows is every configured target's recorded health and backlog.
func targetRows(ctx context.Context, q *queue.Queue, c *config.Config) ([]targetRow, error) {
	rec, err := q.TargetsHealth(ctx)
	if err != nil {
		return nil, err
	}
	backlog, err := q.PendingByTarget(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]targetRow, 0, len(c.Targets))
	for name, t := range c.Targets {
		r := targetRow{Name: name, Type: t.Type, State: queue.TargetUp, Backlog: backlog[name]}
		if h, ok := rec[name]; ok {
			r.State, r.LastError, r.NextProbe = h.State, h.Reason, h.NextProbe
			if h.State != queue.TargetUp {
				r.Since = h.Since
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows, nil
}

// printTargets writes the Targets section of `status` and `target list`.
func printTargets(w io.Writer, rows []targetRow, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TARGET\tSTATE\tSINCE\tNEXT\tBACKLOG\tLAST ERROR")
	for _, r := range rows {
		since, next := "-", "-"
		if !r.Since.IsZero() {
			since = r.Since.Format("2006-01-02 15:04:05")
		}
		if !r.NextProbe.IsZero() {
			what := "probe"
			if r.State == queue.TargetThrottled {
				what = "resumes"
			}
			next = fmt.Sprintf("%s %s (in %s)", what, r.NextProbe.Format("2006-01-02 15:04:05 MST"), max(r.NextProbe.Sub(now), 0).Round(time.Second))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\n", r.Name, r.State, since, next, r.Backlog, oneLine(r.LastError))
	}
	tw.Flush()
}

func cmdTarget(ctx context.Context, args []string, w io.Writer) error {
	if ok, err := subUsage(w, args, "Usage: dropsync target list [--json] | retry NAME | resume NAME  [-c FILE]"); ok {
		return err
	}
	sub, args := args[0], args[1:]
	fs := newFlags("target "+sub, "[-c FILE] …")
	cfgPath := fs.String("c", defaultConfigPath, "configuration file")
	asJSON := fs.Bool("json", false, "with list: print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	c, q, err := openQueue(ctx, *cfgPath, sub != "list") // retry, resume: a request the running daemon notices
	if err != nil {
		return err
	}
	defer q.Close()
	switch sub {
	case "list":
		rows, err := targetRows(ctx, q, c)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(w).Encode(rows)
		}
		printTargets(w, rows, time.Now())
		return nil
	case "retry", "resume":
		if len(pos) != 1 {
			return fmt.Errorf("target %s: give one target name", sub)
		}
		name := pos[0]
		if _, ok := c.Targets[name]; !ok {
			return fmt.Errorf("target %s: %q is not a target of %s", sub, name, c.Path)
		}
		req := queue.RequestRetry
		if sub == "resume" {
			req = queue.RequestResume
		}
		if err := q.RequestTarget(ctx, name, req); err != nil {
			return err
		}
		running, known := daemon.Running(c.StateDir)
		switch {
		case sub == "resume":
			fmt.Fprintf(w, "%s: pause ended; its files are sent again", name)
		default:
			fmt.Fprintf(w, "%s: re-testing now", name)
		}
		if known && !running {
			fmt.Fprintln(w, " (the daemon is not running: at its next start it tests every target that is not up)")
		} else {
			fmt.Fprintln(w, " (a running daemon is told at once; see dropsync target list)")
		}
		return nil
	}
	return fmt.Errorf("target: unknown subcommand %q (list, retry, resume)", sub)
}
