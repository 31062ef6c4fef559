//go:build !cgo

package cgoguard

// The build stops here: set CGO_ENABLED=1 and install a C compiler (gcc;
// for another platform its cross compiler in CC, see packaging/README.md).
var _ = dropsync_needs_cgo_for_SQLite__build_with_CGO_ENABLED_1_and_a_C_compiler
