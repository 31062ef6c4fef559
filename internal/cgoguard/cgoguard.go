// Package cgoguard makes a dropsync build without cgo fail at build time.
// dropsync keeps its queue in SQLite through github.com/mattn/go-sqlite3,
// which needs cgo; built with CGO_ENABLED=0 that driver still compiles and
// only fails when the database is opened, after `version` and `validate`
// have said OK. The dropsync command imports this package, so such a build
// stops with an error whose name says what to do.
package cgoguard
