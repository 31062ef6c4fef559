//go:build !windows

package main

// defaultConfigPath is where the service and every command look for the
// configuration unless -c says otherwise.
const defaultConfigPath = "/etc/dropsync/config.yaml"
