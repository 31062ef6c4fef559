package daemon

import (
	"time"

	"github.com/dropsync/dropsync/targets"
)

// Delivery describes one finished job.
type Delivery struct {
	Target   string
	Watch    string
	Rel      string
	Bytes    int64
	Duration time.Duration
	Attempt  int
	Remote   targets.Remote
	SHA256   string
	Skipped  bool // on_conflict skip left the remote alone
	Deleted  bool // deletes: propagate removed the remote object
	Chunked  bool
	Resumed  bool
}

// Failure describes one failed attempt.
type Failure struct {
	Target  string
	Watch   string
	Rel     string
	Kind    targets.Kind
	Msg     string
	Attempt int
	Final   bool      // on the failed list now
	RetryAt time.Time // when not final
}

// Observer is told what the daemon does, for metrics and the demo. Calls
// come from several goroutines and must not block.
type Observer interface {
	Delivered(Delivery)
	Failed(Failure)
	// Progress reports bytes sent of an upload in flight, about once a second.
	Progress(target, rel string, sent, total int64)
	// WatchEvent counts file-system events; Overflow counts rescans caused
	// by the kernel dropping events.
	WatchEvent()
	Overflow()
}

// Observers fans calls out to several observers.
type Observers []Observer

// Delivered implements Observer.
func (os Observers) Delivered(d Delivery) {
	for _, o := range os {
		o.Delivered(d)
	}
}

// Failed implements Observer.
func (os Observers) Failed(f Failure) {
	for _, o := range os {
		o.Failed(f)
	}
}

// Progress implements Observer.
func (os Observers) Progress(target, rel string, sent, total int64) {
	for _, o := range os {
		o.Progress(target, rel, sent, total)
	}
}

// WatchEvent implements Observer.
func (os Observers) WatchEvent() {
	for _, o := range os {
		o.WatchEvent()
	}
}

// Overflow implements Observer.
func (os Observers) Overflow() {
	for _, o := range os {
		o.Overflow()
	}
}
