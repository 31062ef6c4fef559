//go:build !windows

package main

import (
	"fmt"
	"os"
	"syscall"
)

// sameStream reports whether f is the stream JOURNAL_STREAM ("DEV:INODE")
// names.
func sameStream(f *os.File, journalStream string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino) == journalStream
}
