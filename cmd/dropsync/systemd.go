package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/queue"
)

// notifier speaks systemd's sd_notify protocol for `Type=notify`: READY
// once the queue is open and the first scans are queued, STATUS with a
// one-line summary, RELOADING/READY around a reload, STOPPING when a stop
// begins, and WATCHDOG while the daemon's loops turn (when the unit sets
// WatchdogSec). Outside systemd (no NOTIFY_SOCKET) every call does
// nothing.
//
// STOPPING is final: once it is sent, READY and RELOADING are not (a
// reload under way when the stop began, or a SIGHUP during the stop,
// would otherwise tell systemd that a stopping service was reloading or
// running again).
type notifier struct {
	log *slog.Logger
	d   *daemon.Daemon // set before Run

	mu       sync.Mutex // orders STOPPING after any READY or RELOADING
	stopping bool       // under mu: STOPPING was sent
}

var _ daemon.Lifecycle = (*notifier)(nil)

// stopped reports whether STOPPING was sent; a READY's summary is not
// read then (the queue may be closing).
func (n *notifier) stopped() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopping
}

// sendRunning sends state unless STOPPING was sent.
func (n *notifier) sendRunning(state string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.stopping {
		n.send(state)
	}
}

func (n *notifier) send(state string) {
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		n.log.Debug("sd_notify", "err", err)
	}
}

// Ready implements daemon.Lifecycle.
func (n *notifier) Ready() {
	if n.stopped() {
		return
	}
	n.sendRunning(sdnotify.SdNotifyReady + "\nSTATUS=" + n.summary(context.Background()))
}

// Stopping implements daemon.Lifecycle.
func (n *notifier) Stopping() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopping = true
	n.send(sdnotify.SdNotifyStopping + "\nSTATUS=stopping: waiting for the uploads in flight")
}

// Reloading says a reload has begun; reloaded ends it.
func (n *notifier) Reloading() {
	n.sendRunning(sdnotify.SdNotifyReloading + "\n" + sdnotify.SdNotifyMonotonicUsec() + "STATUS=reloading the configuration")
}

func (n *notifier) Reloaded(err error) {
	if n.stopped() {
		return
	}
	status := n.summary(context.Background())
	if err != nil {
		status = "reload refused, running the previous configuration; " + status
	}
	n.sendRunning(sdnotify.SdNotifyReady + "\nSTATUS=" + status)
}

// summary is the STATUS line: watches and the queue's counts.
func (n *notifier) summary(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := n.d.Queue().Counts(ctx)
	if err != nil {
		return "queue unreadable: " + oneLine(err.Error())
	}
	return fmt.Sprintf("watching %d folder(s); %d pending, %d uploading, %d failed", n.d.Watches(),
		c[queue.Pending], c[queue.Leased], c[queue.Failed])
}

// run refreshes STATUS every statusEvery and, when the unit sets
// WatchdogSec, pings the watchdog at half its interval while the daemon is
// alive, until ctx ends. A daemon whose loops stopped gets no ping, so
// systemd restarts it. Outside systemd (no NOTIFY_SOCKET) it returns at
// once: nothing would hear it, and an idle daemon arms no timer.
func (n *notifier) run(ctx context.Context, statusEvery time.Duration) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	interval, err := sdnotify.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("watchdog settings unreadable; not pinging it", "err", err)
	}
	var ping <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		ping = t.C
	}
	status := time.NewTicker(statusEvery)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-status.C:
			n.send("STATUS=" + n.summary(ctx))
		case <-ping:
			actx, cancel := context.WithTimeout(ctx, interval/2)
			err := n.d.Alive(actx)
			cancel()
			if err != nil {
				n.log.Error("not telling the watchdog the daemon is alive", "err", err)
				continue
			}
			n.send(sdnotify.SdNotifyWatchdog)
		}
	}
}
