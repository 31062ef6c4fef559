// Package sandbox checks that the folders a configuration names give the
// daemon the access it needs, as the user it runs as, and explains a
// failure that a systemd sandbox causes.
//
// Invariants:
//   - Every watch needs read and list; a watch that moves or deletes its
//     files (after_upload delete or move, failed_to) also needs write and
//     rename; every move_to and failed_to folder needs read, list, write
//     and rename. Nothing else is asked of a folder.
//   - The probe is real: it lists the folder, and where write is needed
//     creates a file named .dropsync-probe-*.tmp (a name the default ignore
//     list skips), renames it and removes it. It touches no other file.
//   - A missing watch folder is no error (the daemon waits for it, e.g. an
//     unmounted share); Checker.Warn hears of it, with the hint.
//   - A folder whose probe does not return within Checker.Wait (10s; a
//     hard network mount whose server is gone blocks in the kernel, where
//     nothing can interrupt it) is no error either: Warn hears of it and
//     the daemon starts, or reloads, with its watches waiting for it as
//     they wait when a mount hangs while they run. The folders are probed
//     at once, so one hung mount costs one wait; a probe that hangs is
//     left behind (it ends when the mount answers) and shared by later
//     checks (package lookup), so reloads during a long hang add few
//     blocked probes. Check returns when its context ends.
//   - Under systemd (INVOCATION_ID set) a failure names the unit setting
//     that causes it (ProtectHome, PrivateTmp, ProtectSystem with
//     ReadWritePaths) and the drop-in that fixes it. validate, which runs
//     outside the sandbox, predicts the same failures from the installed
//     unit's settings (systemctl show).
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/lookup"
)

// ProbePrefix starts the names of the files the check creates (and
// removes) in a folder to prove it is writable.
const ProbePrefix = ".dropsync-probe-"

// Folder is one folder of a configuration and the access it needs.
type Folder struct {
	Field string // e.g. watches[0].path
	Path  string
	Write bool // write and rename too, besides read and list
	Watch bool // a watch's own folder (which may be missing for a while)
}

// Folders lists the folders of c with the access each needs.
func Folders(c *config.Config) []Folder {
	var out []Folder
	for i, w := range c.Watches {
		moves := w.AfterUpload == "delete" || w.AfterUpload == "move" || w.FailedTo != ""
		out = append(out, Folder{Field: fmt.Sprintf("watches[%d].path", i), Path: w.Path, Write: moves, Watch: true})
		if w.MoveTo != "" {
			out = append(out, Folder{Field: fmt.Sprintf("watches[%d].move_to", i), Path: w.MoveTo, Write: true})
		}
		if w.FailedTo != "" {
			out = append(out, Folder{Field: fmt.Sprintf("watches[%d].failed_to", i), Path: w.FailedTo, Write: true})
		}
	}
	return out
}

// Probe checks dir for list and read and, with write, for creating and
// renaming a file, as the running user. A missing folder that needs write
// (move_to, failed_to: the daemon creates them when first used) is checked
// by its nearest existing parent.
func Probe(dir string, write bool) error {
	if write {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if parent := filepath.Dir(dir); parent != dir {
				return Probe(parent, true)
			}
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	_, err = f.ReadDir(1)
	f.Close()
	if err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty folder
		return fmt.Errorf("list: %w", err)
	}
	if !write {
		return nil
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	name := filepath.Join(dir, ProbePrefix+hex.EncodeToString(b[:]))
	p, err := os.OpenFile(name+".tmp", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	p.Close()
	if err := os.Rename(name+".tmp", name+"-renamed.tmp"); err != nil {
		os.Remove(name + ".tmp")
		return fmt.Errorf("rename: %w", err)
	}
	if err := os.Remove(name + "-renamed.tmp"); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}

// Unit is the sandbox of the systemd unit the daemon runs in, as
// `systemctl show` reports it.
type Unit struct {
	Name           string // e.g. dropsync.service
	ProtectHome    string // no | yes | read-only | tmpfs
	PrivateTmp     string // yes | no
	ProtectSystem  string // no | yes | full | strict
	ReadWritePaths []string
}

// Checker checks folders; its fields are what tests inject.
type Checker struct {
	// Probe checks one folder (default: the package's Probe).
	Probe func(dir string, write bool) error
	// Systemd says the daemon runs as a systemd service now (the probe
	// runs inside the sandbox), so failures get the unit's hints.
	Systemd bool
	// Unit, when known, predicts the sandbox's failures outside it
	// (validate).
	Unit *Unit
	// Warn, if set, hears of a watch folder that is missing: the daemon
	// waits for it (an unmounted share), so it is no error; under systemd
	// the note names the setting that may hide it. It also hears of every
	// folder whose probe did not answer within Wait.
	Warn func(msg string)
	// Wait bounds the wait for the probes (default DefaultWait).
	Wait time.Duration
}

// DefaultWait is how long Check waits for the folders' probes: a local
// folder answers in microseconds and a healthy network share in
// milliseconds; one that has not answered in 10s is on a mount that hangs.
const DefaultWait = 10 * time.Second

// Check checks every folder of c and returns one error per folder that
// fails, each on one line with its hint, or ctx's error if ctx ends first.
func (k Checker) Check(ctx context.Context, c *config.Config) error {
	probe := k.Probe
	if probe == nil {
		probe = Probe
	}
	wait := k.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	unit := "dropsync"
	if k.Unit != nil && k.Unit.Name != "" {
		unit = strings.TrimSuffix(k.Unit.Name, ".service")
	}
	folders := Folders(c)
	results, err := probeAll(ctx, folders, probe, wait)
	if err != nil {
		return err
	}
	var errs []error
	for i, f := range folders {
		r := results[i]
		if !r.done {
			if k.Warn != nil {
				then := "the watch waits for it"
				if !f.Watch {
					then = "moving files there waits until it answers"
				}
				k.Warn(fmt.Sprintf("%s %s: %s; it did not answer within %s (a network mount whose server is gone?): not checked; %s", f.Field, f.Path, need(f), wait, then))
			}
			continue
		}
		if err := r.err; err != nil {
			msg := fmt.Sprintf("%s %s: %s", f.Field, f.Path, need(f))
			if k.Systemd {
				if h := Hint(f.Path, err, unit); h != "" {
					msg += " (" + h + ")"
				}
			}
			if f.Watch && errors.Is(err, fs.ErrNotExist) {
				if k.Warn != nil {
					k.Warn(fmt.Sprintf("%s: %v; the watch waits for the folder to appear", msg, err))
				}
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %w", msg, err))
			continue
		}
		if k.Unit != nil {
			if h := k.Unit.predict(f, unit); h != "" {
				errs = append(errs, fmt.Errorf("%s %s: %s; under systemd: %s", f.Field, f.Path, need(f), h))
			}
		}
	}
	return errors.Join(errs...)
}

// probes are the probes running (see package lookup).
var probes = &lookup.Calls{Max: time.Hour}

// probed is what the probe of a folder found; done is false while it
// has not answered.
type probed struct {
	err  error
	done bool
}

// probeAll probes every folder at once and returns what each found by
// wait, or ctx's error. A probe still running then is left running, and
// shared with the next check (see probes).
func probeAll(ctx context.Context, folders []Folder, probe func(string, bool) error, wait time.Duration) ([]probed, error) {
	calls := make([]*lookup.Call, len(folders))
	for i, f := range folders {
		// A probe still running on the folder (left by an earlier check
		// on a mount that hangs) is shared: each check would add one
		// blocked goroutine per hung folder, each reload one more.
		calls[i] = probes.Start(fmt.Sprintf("%t\x00%p\x00%s", f.Write, probe, f.Path), wait, func() (any, error) { return nil, probe(f.Path, f.Write) })
	}
	results := make([]probed, len(folders))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	waiting := true
	for i, c := range calls {
		if waiting {
			select {
			case <-c.Done():
			case <-timer.C:
				waiting = false
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if c.Answered() {
			results[i] = probed{err: c.Err, done: true}
		}
	}
	return results, nil
}

func need(f Folder) string {
	if f.Write {
		return "the daemon needs to list, read, write and rename here"
	}
	return "the daemon needs to list and read here"
}

// Hint names the systemd setting that makes err happen for path inside the
// service's sandbox, and the drop-in that fixes it; "" when none does.
func Hint(path string, err error, unit string) string {
	switch {
	case under(path, "/home", "/root", "/run/user") && (errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EROFS)):
		return protectHomeHint(path, unit)
	case under(path, "/tmp", "/var/tmp") && errors.Is(err, fs.ErrNotExist):
		return privateTmpHint(unit)
	case errors.Is(err, syscall.EROFS):
		return readWriteHint(path, unit)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("the service's user lacks the permission: give the folder to its group, e.g. chgrp dropsync-drop %s && chmod 2770 %s", path, path)
	}
	return ""
}

func protectHomeHint(path, unit string) string {
	return fmt.Sprintf("the unit's ProtectHome=yes hides /home, /root and /run/user from the service; fix: systemctl edit %s, add [Service] ProtectHome=no and ReadWritePaths=%s, then systemctl restart %s", unit, path, unit)
}

func privateTmpHint(unit string) string {
	return fmt.Sprintf("the unit's PrivateTmp=yes gives the service its own empty /tmp and /var/tmp, which ReadWritePaths cannot reach; move the folder out of /tmp (e.g. below /var/spool/dropsync), or systemctl edit %s and add [Service] PrivateTmp=no", unit)
}

func readWriteHint(path, unit string) string {
	return fmt.Sprintf("the unit's ProtectSystem=strict makes every folder read-only that ReadWritePaths does not list; fix: systemctl edit %s, add [Service] ReadWritePaths=%s, then systemctl restart %s", unit, path, unit)
}

// predict says what the unit's sandbox will refuse for f, or "".
func (u *Unit) predict(f Folder, unit string) string {
	hides := u.ProtectHome == "yes" || u.ProtectHome == "tmpfs" || (u.ProtectHome == "read-only" && f.Write)
	if hides && under(f.Path, "/home", "/root", "/run/user") && !u.writable(f.Path) {
		return protectHomeHint(f.Path, unit)
	}
	if u.PrivateTmp == "yes" && under(f.Path, "/tmp", "/var/tmp") {
		return privateTmpHint(unit)
	}
	if f.Write && u.ProtectSystem == "strict" && !u.writable(f.Path) {
		return readWriteHint(f.Path, unit)
	}
	return ""
}

func (u *Unit) writable(path string) bool {
	for _, p := range u.ReadWritePaths {
		if under(path, strings.TrimPrefix(p, "-")) {
			return true
		}
	}
	return false
}

// under reports whether path is one of roots or below one.
func under(path string, roots ...string) bool {
	path = filepath.Clean(path)
	for _, r := range roots {
		r = filepath.Clean(r)
		if path == r || strings.HasPrefix(path, r+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// ParseShow reads `systemctl show -p Names -p LoadState -p ProtectHome -p
// PrivateTmp -p ProtectSystem -p ReadWritePaths` output; nil when the
// unit is not loaded.
func ParseShow(out string) *Unit {
	u := &Unit{}
	loaded := false
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "Id", "Names":
			if u.Name == "" {
				u.Name = strings.Fields(v + " ")[0]
			}
		case "LoadState":
			loaded = v == "loaded"
		case "ProtectHome":
			u.ProtectHome = v
		case "PrivateTmp":
			u.PrivateTmp = v
		case "ProtectSystem":
			u.ProtectSystem = v
		case "ReadWritePaths":
			u.ReadWritePaths = strings.Fields(v)
		}
	}
	if !loaded {
		return nil
	}
	return u
}
