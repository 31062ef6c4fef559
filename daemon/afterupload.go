package daemon

import (
	"context"
	"log/slog"

	"github.com/dropsync/dropsync/config"
)

// AfterUploadObserver is an Observer that also hears of after_upload
// actions (delete, move) that failed. An Observer without the method is
// not told.
type AfterUploadObserver interface {
	AfterUploadFailed(watch, action string, err error)
}

// afterUploadResult records the outcome of an after_upload action: a
// failure is counted (status, metrics) until a later attempt succeeds.
func (d *Daemon) afterUploadResult(ctx context.Context, wc *config.Watch, rel string, err error, log *slog.Logger) {
	bg := context.WithoutCancel(ctx)
	if err == nil {
		if cerr := d.q.AfterUploadDone(bg, wc.Path, rel); cerr != nil {
			log.Warn("cannot clear the recorded after_upload failure", "err", cerr)
		}
		return
	}
	if rerr := d.q.AfterUploadFailed(bg, wc.Path, rel, wc.AfterUpload, errText(err)); rerr != nil {
		log.Error("cannot record the after_upload failure", "err", rerr)
	}
	tellAfterUpload(d.obs, wc.Path, wc.AfterUpload, err)
}

func tellAfterUpload(o Observer, watch, action string, err error) {
	switch x := o.(type) {
	case Observers:
		for _, e := range x {
			tellAfterUpload(e, watch, action, err)
		}
	case AfterUploadObserver:
		x.AfterUploadFailed(watch, action, err)
	}
}
