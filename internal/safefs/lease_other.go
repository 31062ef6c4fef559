//go:build !linux

package safefs

import "os"

// Lease does nothing outside Linux: file leases are Linux's. See the
// Linux version for the contract.
func Lease(*os.File) (*Held, error) { return &Held{}, nil }

// Held is a lease taken by Lease; outside Linux it holds nothing.
type Held struct{}

// Broken is always false here.
func (*Held) Broken() bool { return false }

// Release does nothing here.
func (*Held) Release() {}
