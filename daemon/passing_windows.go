package daemon

import "golang.org/x/sys/windows"

// passingErrors are the errors of opening a local file that may pass by
// themselves (see passing): an SMB share whose server restarts or whose
// network drops, the process out of handles or memory, a file another
// program holds without sharing it (a writer still at it).
var passingErrors = []error{windows.ERROR_NETNAME_DELETED, windows.ERROR_UNEXP_NET_ERR, windows.ERROR_SEM_TIMEOUT,
	windows.ERROR_BAD_NETPATH, windows.ERROR_NETWORK_BUSY, windows.ERROR_NETWORK_UNREACHABLE, windows.ERROR_DEV_NOT_EXIST,
	windows.ERROR_TOO_MANY_OPEN_FILES, windows.ERROR_NOT_ENOUGH_MEMORY, windows.ERROR_SHARING_VIOLATION, windows.ERROR_LOCK_VIOLATION,
	windows.ERROR_IO_DEVICE}
