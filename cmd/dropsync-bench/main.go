// Command dropsync-bench is the out-of-process hot-folder benchmark (see
// package internal/hotbench): from the repository root,
//
//	go run ./cmd/dropsync-bench
//
// builds dropsync, starts a lean sensenet-compatible sink (this binary, as
// "dropsync-bench sink") on loopback, and prints dropsync's figures next to
// a bare uploader's, measured in the same run. Flags shrink the run (the
// test of internal/hotbench runs a small one).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dropsync/dropsync/internal/hotbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "sink" {
		err = hotbench.Serve(ctx, os.Stdout) // until SIGTERM
	} else {
		err = run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dropsync-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var o hotbench.Options
	flag.StringVar(&o.Dropsync, "dropsync", "", "the dropsync binary (default: build ./cmd/dropsync)")
	flag.StringVar(&o.Dir, "dir", "", "working folder (default: a new temporary one, removed afterwards)")
	flag.IntVar(&o.Files, "files", 10_000, "burst: number of files")
	flag.IntVar(&o.Folders, "folders", 100, "burst: new sub-folders")
	flag.Int64Var(&o.FileSize, "size", 4<<10, "burst: bytes per file")
	flag.IntVar(&o.Workers, "workers", 4, "workers of dropsync and of the bare uploader")
	flag.DurationVar(&o.Settle, "settle", 200*time.Millisecond, "the watch's settle")
	flag.Int64Var(&o.Large, "large", 1<<30, "bytes of the large file")
	flag.Int64Var(&o.Chunk, "chunk", 8<<20, "chunk size of the large file")
	flag.DurationVar(&o.Idle, "idle", 10*time.Second, "idle window")
	flag.IntVar(&o.Latency, "latency", 21, "single-file latency samples")
	flag.IntVar(&o.Rounds, "rounds", 3, "dropsync runs of the burst and of the large file, each between two bare runs")
	jsonOut := flag.Bool("json", false, "print the report as JSON")
	flag.Parse()
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "dropsync-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	if o.Dropsync == "" {
		o.Dropsync = filepath.Join(o.Dir, "dropsync")
		fmt.Fprintln(os.Stderr, "building ./cmd/dropsync …")
		b := exec.CommandContext(ctx, "go", "build", "-o", o.Dropsync, "./cmd/dropsync")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("build dropsync (run from the repository root, or give -dropsync): %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.SinkCmd = []string{self, "sink"}
	o.Log = os.Stderr
	r, err := hotbench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *jsonOut {
		return r.WriteJSON(os.Stdout)
	}
	r.Print(os.Stdout)
	return nil
}
