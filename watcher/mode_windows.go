package watcher

import (
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

func fsType(root string) (name string, remote bool, err error) {
	vol := filepath.VolumeName(root)
	if strings.HasPrefix(vol, `\\`) {
		return "a network share (" + vol + ")", true, nil
	}
	p, err := windows.UTF16PtrFromString(vol + `\`)
	if err != nil {
		return "", false, err
	}
	switch windows.GetDriveType(p) {
	case windows.DRIVE_REMOTE:
		return "a network drive (" + vol + ")", true, nil
	case windows.DRIVE_NO_ROOT_DIR, windows.DRIVE_UNKNOWN:
		return "", false, windows.ERROR_PATH_NOT_FOUND
	}
	return "drive " + vol, false, nil
}
