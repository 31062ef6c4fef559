//go:build !linux && !darwin && !windows

package watcher

import "errors"

func fsType(string) (string, bool, error) {
	return "", false, errors.New("not detected on this system")
}
