package config

import (
	"fmt"
	"net"
	"strconv"
)

// checkPort requires metrics.listen's port to be a number from 0 to 65535
// (0: any free port).
func checkPort(listen string) error {
	_, port, _ := net.SplitHostPort(listen)
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n > 65535 {
		return fmt.Errorf("metrics.listen: port %q in %q is not a number from 0 to 65535", port, listen)
	}
	return nil
}
