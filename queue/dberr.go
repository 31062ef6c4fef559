package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SQLite's primary result codes (https://sqlite.org/rescode.html) that
// explain classifies.
const (
	codePerm     = 3
	codeBusy     = 5
	codeLocked   = 6
	codeReadonly = 8
	codeIOErr    = 10
	codeCorrupt  = 11
	codeFull     = 13
	codeCantOpen = 14
	codeAuth     = 23
	codeNotADB   = 26
)

// DBError is a database failure the operator must act on: it names the
// database file and the next step. Queue methods return it (wrapped with
// the operation) for a full disk, a damaged file, a database held by
// another program, missing permissions and I/O errors.
type DBError struct {
	Path string // the database file
	Err  error  // SQLite's error
	Next string // what to do
}

func (e *DBError) Error() string { return fmt.Sprintf("%v (database %s): %s", e.Err, e.Path, e.Next) }

// Unwrap returns SQLite's error.
func (e *DBError) Unwrap() error { return e.Err }

// explain is the one place that classifies database errors: it turns a
// SQLite error that needs the operator into a *DBError; any other error
// passes unchanged.
func (q *Queue) explain(err error) error {
	var de *DBError
	if err == nil || errors.As(err, &de) {
		return err
	}
	code, ok := sqliteCode(err)
	if !ok {
		return err
	}
	dir := filepath.Dir(q.path)
	var next string
	switch code {
	case codeFull:
		next = "free space on the file system that holds " + dir + "; dropsync retries what failed by itself"
	case codeCorrupt, codeNotADB:
		next = "the file is damaged: stop dropsync, move " + q.path + " aside (with its -wal and -shm files) and start dropsync again. " +
			"It then treats every file in the watches as new and sends it again; on_conflict decides what happens to those already on the server " +
			"(version: each gets a new version; overwrite: each is replaced in place; rename: each is stored again as name(1).ext; skip: each is left alone). " +
			"Failed jobs and throttle pauses are forgotten too"
	case codeBusy, codeLocked:
		next = "held by " + q.holder() + ": stop it, or wait until it lets go"
	case codeReadonly, codePerm, codeCantOpen, codeAuth:
		next = "dropsync may not write or open it: check that the user dropsync runs as owns " + dir + " and the files in it"
	case codeIOErr:
		next = "the disk reported an I/O error: check the disk and the kernel log (dmesg)"
	default:
		return err
	}
	return &DBError{Path: q.path, Err: err, Next: next}
}

// holder names the processes that have the database open (where the
// system tells: Linux /proc, for processes this user may inspect), marking
// the dropsync daemon by the process id in its lock file.
func (q *Queue) holder() string {
	daemon := 0
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(q.path), LockFileName)); err == nil {
		daemon, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	var names []string
	for _, h := range openers(q.path) {
		if h.pid == daemon {
			names = append(names, fmt.Sprintf("the dropsync daemon (pid %d)", h.pid))
			continue
		}
		names = append(names, fmt.Sprintf("%s (pid %d)", h.name, h.pid))
	}
	if len(names) > 0 {
		return strings.Join(names, ", ")
	}
	if daemon > 0 && processExists(daemon) {
		return fmt.Sprintf("another program; the dropsync daemon (pid %d, per %s) is running", daemon, LockFileName)
	}
	return "another program (not found: look for one that has " + q.path + " open, e.g. with fuser)"
}

// opener is a process that has a file open.
type opener struct {
	pid  int
	name string
}
