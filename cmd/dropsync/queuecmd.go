package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/dropsync/dropsync/queue"
)

func init() {
	register("queue", "inspect and steer the queue: list [--state S] | retry ID…|--failed | forget ID…", cmdQueue)
}

func cmdQueue(ctx context.Context, args []string, w io.Writer) error {
	if ok, err := subUsage(w, args, "Usage: dropsync queue list [--state S] [--json] [-n N] | retry ID…|--failed | forget ID…  [-c FILE]"); ok {
		return err
	}
	sub, args := args[0], args[1:]
	fs := newFlags("queue "+sub, "[-c FILE] …")
	cfgPath := fs.String("c", defaultConfigPath, "configuration file")
	state := fs.String("state", "", "with list: only jobs in this state (pending, leased, done, failed)")
	all := fs.Bool("failed", false, "with retry: every failed job")
	asJSON := fs.Bool("json", false, "with list: print JSON")
	limit := fs.Int("n", 100, "with list: at most this many jobs (0: all)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	c, q, err := openQueue(ctx, *cfgPath, sub != "list") // retry, forget: the queue's own methods
	if err != nil {
		return err
	}
	defer q.Close()
	switch sub {
	case "list":
		if *state != "" {
			if err := oneOfStates(*state); err != nil {
				return err
			}
		}
		jobs, err := q.Jobs(ctx, *state, "", *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			if jobs == nil {
				jobs = []*queue.Job{}
			}
			return json.NewEncoder(w).Encode(jobs)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tATTEMPTS\tTARGET\tPATH\tUPDATED\tERROR")
		for _, j := range jobs {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\n", j.ID, j.State, j.Attempts, j.Target, shown(j.Rel), j.UpdatedAt.Format("2006-01-02 15:04:05"), oneLine(j.LastError))
		}
		return tw.Flush()
	case "retry":
		ids, err := parseIDs(pos)
		if err != nil {
			return err
		}
		if len(ids) == 0 && !*all {
			return errors.New("queue retry: give job IDs or --failed")
		}
		n, err := q.RetryFailed(ctx, ids...)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "re-queued %d failed job(s); %s\n", n, daemonNotice(c.StateDir))
		if n < len(ids) {
			return fmt.Errorf("%d of the job(s) given are not on the failed list (see dropsync queue list --state failed)", len(ids)-n)
		}
		return nil
	case "forget":
		ids, err := parseIDs(pos)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return errors.New("queue forget: give job IDs")
		}
		n, err := q.Forget(ctx, ids...)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "forgot %d job(s)\n", n)
		if n < len(ids) {
			return fmt.Errorf("%d job(s) not forgotten: unknown, or uploading right now", len(ids)-n)
		}
		return nil
	}
	return fmt.Errorf("queue: unknown subcommand %q (list, retry, forget)", sub)
}

func parseIDs(args []string) ([]int64, error) {
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%q is not a job ID (see dropsync queue list)", a)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func oneOfStates(s string) error {
	switch s {
	case queue.Pending, queue.Leased, queue.Done, queue.Failed:
		return nil
	}
	return fmt.Errorf("--state: %q is not one of pending, leased, done, failed", s)
}
