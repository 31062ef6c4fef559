package oracledocs

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dropsync/dropsync/targets"
)

var _ targets.DestinationChecker = (*Target)(nil)

// CheckDestination reads the watch's folder (GET …/folders/{folder_id})
// with the watch's own link credentials, for `dropsync validate --online`:
// a wrong folder_id shows before the first upload, not only wrong
// credentials.
func (t *Target) CheckDestination(ctx context.Context, dest any) error {
	d, ok := dest.(*destination)
	if !ok {
		return fmt.Errorf("%s: destination is %T, not from Watch", Type, dest)
	}
	const op = Type + ": check destination"
	u := t.url("folders", d.FolderID)
	resp, err := t.client.Do(ctx, op, func() (*http.Request, error) {
		return t.newRequest(http.MethodGet, u, d, nil)
	})
	if err == nil {
		_, err = decodeItem(op, resp)
	}
	if isNotFound(err) {
		return fmt.Errorf("destination.folder_id: %s does not exist on the server, or these credentials cannot see it", d.FolderID)
	}
	return err
}
