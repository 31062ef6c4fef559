//go:build !linux

package safefs

import "os"

// Lease is a no-op outside Linux: file leases are Linux's. See the Linux
// version for the contract.
func Lease(*os.File) (release func(), err error) { return func() {}, nil }
