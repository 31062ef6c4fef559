// Package version holds dropsync's version, set at build time with
// -ldflags "-X github.com/dropsync/dropsync/internal/version.Version=v1.2.3".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release version; "dev" for local builds.
var Version = "dev"

// UserAgent is the User-Agent header of every request dropsync makes.
func UserAgent() string { return "dropsync/" + Version }

// String describes the build: version, Go version, platform and VCS commit.
func String() string {
	s := fmt.Sprintf("dropsync %s (%s, %s/%s)", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				s += " commit " + kv.Value[:12]
			}
		}
	}
	return s
}
