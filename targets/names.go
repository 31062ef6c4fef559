package targets

import "context"

// NameKeyer is implemented by targets whose server knows a file by a name
// it may fold (case-insensitive names) or sanitise (characters it
// replaces): the key says which remote name a file would take, so that
// the daemon can see two local paths meeting at one remote name.
type NameKeyer interface {
	// NameKey returns the key of the remote name that file f takes at its
	// destination when uploaded as name: the remote folder and the name,
	// both as the server stores and compares them. Equal keys are one
	// remote object.
	NameKey(f *File, name string) (string, error)
}

// NameBook is the daemon's record of the remote names dropsync delivered
// to, keyed by NameKey. Targets that pick free names themselves without
// being able to list the server (Blueworks) consult it.
type NameBook interface {
	// Owner returns the local path (watch root and relative path) last
	// recorded for key; found is false when no delivery used it.
	Owner(ctx context.Context, key string) (watch, rel string, found bool, err error)
}
