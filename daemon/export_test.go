package daemon

import "time"

// TimerWakeups is how often the daemon's own loops (dispatcher,
// housekeeping) have woken on a timer or ticker rather than on work.
func TimerWakeups(d *Daemon) int64 { return d.timerWakeups.Load() }

// BusyWakeups is how often housekeeping has woken because uploads
// started or ended, or a job was stranded.
func BusyWakeups(d *Daemon) int64 { return d.busyWakeups.Load() }

// Stranded is how many leased jobs wait for housekeeping to record their
// outcome or return them to pending.
func Stranded(d *Daemon) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.stranded)
}

// Unended names the watches whose goroutines have not ended.
func Unended(d *Daemon) []string { return d.unended() }

// Processing is how many jobs runners are processing now.
func Processing(d *Daemon) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.handoffs)
}

// SetOpenStuck sets how long an open may take before the next runner of
// its watch stops waiting for it, and returns the undo.
func SetOpenStuck(d time.Duration) func() {
	old := openStuck
	openStuck = d
	return func() { openStuck = old }
}
