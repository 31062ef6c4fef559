package watcher

import "fmt"

// Decision is how a watch finds changes, and why.
type Decision struct {
	Poll   bool
	Reason string
}

// Decide says how a watch of root in mode (auto, events or poll) finds
// changes. auto polls network and FUSE file systems, whose writes by other
// machines raise no inotify event, and uses events elsewhere, also when
// the file system cannot be told (a root that does not exist yet is
// decided again when it appears).
func Decide(mode, root string) Decision {
	switch mode {
	case "poll":
		return Decision{Poll: true, Reason: "mode: poll"}
	case "events":
		return Decision{Reason: "mode: events"}
	}
	name, remote, err := fsType(root)
	switch {
	case err != nil:
		return Decision{Reason: fmt.Sprintf("auto: the file system is unknown (%v)", err)}
	case remote:
		return Decision{Poll: true, Reason: fmt.Sprintf("auto: %s is a network or FUSE file system, whose changes made elsewhere raise no events", name)}
	}
	return Decision{Reason: fmt.Sprintf("auto: %s is a local file system", name)}
}
