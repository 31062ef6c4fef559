//go:build !cgo

package queue

// sqliteCode: without cgo there is no SQLite (the driver is a stub whose
// every call fails), so there is no SQLite error to classify.
func sqliteCode(error) (int, bool) { return 0, false }
