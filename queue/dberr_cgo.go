//go:build cgo

package queue

import (
	"errors"

	"github.com/mattn/go-sqlite3"
)

// sqliteCode returns the primary result code of a SQLite error in err.
func sqliteCode(err error) (int, bool) {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return 0, false
	}
	return int(se.Code), true
}
