//go:build linux

package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/hungfs"
	"github.com/dropsync/dropsync/internal/sandbox"
)

// `dropsync validate` with a watch on a hung mount still hangs.
// The configuration's look and the folder check give up on the folder
// after 10s each and say so ("note: ... did not answer"), but then
// watchModes stats the watch folder (and would statfs it and count its
// folders) with no bound: validate never prints OK nor returns, and an
// operator who ran it to see why the service does not start waits for
// ever. (About 30s: three waits.)
func TestValidateWithAWatchOnAHungMountReturns(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 30s for the hung mount")
	}
	fs := hungfs.Mount(t)
	_, cfg := hungWatchConfig(t, fs, "http://127.0.0.1:1", "x")
	prev := serviceSandbox
	t.Cleanup(func() { serviceSandbox = prev })
	serviceSandbox = func(context.Context, string) *sandbox.Unit { return nil }
	fs.Hang()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- cmdValidate(context.Background(), []string{"-c", cfg}, &out) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("validate: %v\n%s", err, out.String())
		}
	case <-time.After(45 * time.Second):
		fs.Release()
		<-done
		t.Fatalf("validate did not return within 45s with a watch on a hung mount; it had printed:\n%s", out.String())
	}
}
