package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/queue"
)

func init() {
	register("status", "queue counts, uploads in flight, target health, throttled targets, recent failures", cmdStatus)
}

// statusReport is `dropsync status --json`.
type statusReport struct {
	StateDir  string          `json:"state_dir"`
	Daemon    string          `json:"daemon"` // running | stopped | unknown
	Counts    map[string]int  `json:"counts"`
	Uploading []uploadStatus  `json:"uploading"`
	Targets   []targetRow     `json:"targets"`
	Throttled []throttleState `json:"throttled"`
	Failures  []*queue.Job    `json:"recent_failures"`
	Writing   []*queue.Job    `json:"still_being_written"`
	// AfterUpload counts after_upload actions (delete, move) that failed
	// for delivered files; the next scan tries them again.
	AfterUploadFailed   int                        `json:"after_upload_failed"`
	AfterUploadFailures []queue.AfterUploadFailure `json:"after_upload_failures"`
}

type uploadStatus struct {
	ID         int64     `json:"id"`
	Target     string    `json:"target"`
	Path       string    `json:"path"`
	BytesDone  int64     `json:"bytes_done"`
	BytesTotal int64     `json:"bytes_total"`
	RateBps    float64   `json:"rate_bytes_per_second"`
	ETASeconds float64   `json:"eta_seconds"`
	StartedAt  time.Time `json:"started_at"`
	Attempt    int       `json:"attempt"`
}

type throttleState struct {
	queue.Pause
	SecondsLeft float64 `json:"seconds_left"`
}

func cmdStatus(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("status", "[-c FILE] [--json]")
	cfgPath := fs.String("c", defaultConfigPath, "configuration file")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	c, q, err := openQueue(ctx, *cfgPath, false)
	if err != nil {
		return err
	}
	defer q.Close()
	r, err := buildStatus(ctx, q, c, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printStatus(w, r, time.Now())
	return nil
}

func buildStatus(ctx context.Context, q *queue.Queue, c *config.Config, now time.Time) (*statusReport, error) {
	r := &statusReport{StateDir: c.StateDir, Daemon: "unknown", Uploading: []uploadStatus{}, Throttled: []throttleState{}, Failures: []*queue.Job{}}
	if running, known := daemon.Running(c.StateDir); known {
		r.Daemon = map[bool]string{true: "running", false: "stopped"}[running]
	}
	var err error
	if r.Counts, err = q.Counts(ctx); err != nil {
		return nil, err
	}
	leased, err := q.Jobs(ctx, queue.Leased, "", 0)
	if err != nil {
		return nil, err
	}
	for _, j := range leased {
		u := uploadStatus{ID: j.ID, Target: j.Target, Path: j.Rel, BytesDone: j.BytesDone, BytesTotal: j.FP.Size, StartedAt: j.StartedAt, Attempt: j.Attempts}
		if el := now.Sub(j.StartedAt).Seconds(); el > 0 && j.BytesDone > 0 {
			u.RateBps = float64(j.BytesDone) / el
			u.ETASeconds = float64(j.FP.Size-j.BytesDone) / u.RateBps
		}
		r.Uploading = append(r.Uploading, u)
	}
	if r.Targets, err = targetRows(ctx, q, c); err != nil {
		return nil, err
	}
	pauses, err := q.Pauses(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pauses {
		r.Throttled = append(r.Throttled, throttleState{Pause: p, SecondsLeft: p.Until.Sub(now).Seconds()})
	}
	if r.Failures, err = q.Jobs(ctx, queue.Failed, "", 10); err != nil {
		return nil, err
	}
	if r.Failures == nil {
		r.Failures = []*queue.Job{}
	}
	if r.Writing, err = q.StillBeingWritten(ctx, 10); err != nil {
		return nil, err
	}
	if r.AfterUploadFailed, r.AfterUploadFailures, err = q.AfterUploadFailures(ctx, 10); err != nil {
		return nil, err
	}
	return r, nil
}

func printStatus(w io.Writer, r *statusReport, now time.Time) {
	fmt.Fprintf(w, "daemon: %s   queue: %d pending, %d uploading, %d done, %d failed   (state: %s)\n",
		r.Daemon, r.Counts[queue.Pending], r.Counts[queue.Leased], r.Counts[queue.Done], r.Counts[queue.Failed], r.StateDir)
	if r.AfterUploadFailed > 0 {
		fmt.Fprintf(w, "after_upload: %d failed (delivered, still in the watch; the next scan tries again)\n", r.AfterUploadFailed)
		for _, f := range r.AfterUploadFailures {
			fmt.Fprintf(w, "  %-6s %s  %s\n         %s\n", f.Action, shown(filepath.Join(f.Watch, filepath.FromSlash(f.Rel))), f.At.Format("2006-01-02 15:04:05"), oneLine(f.Error))
		}
	}
	if len(r.Uploading) > 0 {
		if r.Daemon == "stopped" {
			fmt.Fprintln(w, "\ninterrupted (the daemon is not running; these resume at its next start):")
		} else {
			fmt.Fprintln(w, "\nuploading:")
		}
		for _, u := range r.Uploading {
			eta := "-"
			if u.RateBps > 0 {
				eta = (time.Duration(u.ETASeconds) * time.Second).String()
			}
			fmt.Fprintf(w, "  %-10s %s\n             %s %s / %s  %s/s  ETA %s\n", u.Target, shown(u.Path),
				progressBar(u.BytesDone, u.BytesTotal, 30), config.FormatBytes(u.BytesDone), config.FormatBytes(u.BytesTotal), config.FormatBytes(int64(u.RateBps)), eta)
		}
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets (dropsync target retry|resume NAME):")
		printTargets(w, r.Targets, now)
	}
	if len(r.Throttled) > 0 {
		fmt.Fprintln(w, "\nthrottled targets:")
		for _, p := range r.Throttled {
			fmt.Fprintf(w, "  %-10s paused until %s (%s left): %s\n", p.Target, p.Until.Format("2006-01-02 15:04:05 MST"), p.Until.Sub(now).Round(time.Second), oneLine(p.Reason))
		}
	}
	if len(r.Writing) > 0 {
		fmt.Fprintln(w, "\nstill being written (changed during each upload; sent once they hold still):")
		for _, j := range r.Writing {
			fmt.Fprintf(w, "  #%-5d %-10s %s\n", j.ID, j.Target, shown(j.Rel))
		}
	}
	if len(r.Failures) > 0 {
		fmt.Fprintln(w, "\nrecent failures (dropsync queue retry ID… or --failed):")
		for _, j := range r.Failures {
			fmt.Fprintf(w, "  #%-5d %-10s %s  %s\n         %s\n", j.ID, j.Target, shown(j.Rel), j.UpdatedAt.Format("2006-01-02 15:04:05"), oneLine(j.LastError))
		}
	}
}

// progressBar draws [#####.....] 42%.
func progressBar(done, total int64, width int) string {
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	n := int(frac * float64(width))
	return fmt.Sprintf("[%s%s] %3.0f%%", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100)
}
