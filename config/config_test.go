package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
)

// base returns a valid configuration for a fresh watch folder.
func base(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.Mkdir(in, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir, `state_dir: ` + filepath.Join(dir, "state") + `
targets:
  docs:
    type: sensenet
    url: https://example.com
    auth: {type: bearer, token: abc}
    chunk_threshold: 10MiB
watches:
  - path: ` + in + `
    target: docs
    destination: {path: /Root/Content/Documents}
`
}

func TestExampleConfigLoads(t *testing.T) {
	b, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := t.TempDir()
	text := strings.ReplaceAll(string(b), "/var/spool/dropsync/inbox", in)
	c, err := config.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	docs := c.Targets["docs"]
	if docs.Type != "sensenet" || docs.ChunkThreshold != 10<<20 || docs.Timeout.D().Seconds() != 60 || c.Workers != 4 {
		t.Fatalf("unexpected values: %+v", docs)
	}
	w := c.Watches[0]
	if w.Settle.D().Seconds() != 2 || w.OnConflict != "version" || len(w.Ignore) != len(config.DefaultIgnore) || !w.IsRecursive() {
		t.Fatalf("unexpected watch: %+v", w)
	}
}

func TestDefaultsAndUnits(t *testing.T) {
	_, y := base(t)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers != 4 || c.Log.Level != "info" || c.Reconcile.D().Hours() != 1 || c.Watches[0].AfterUpload != "keep" {
		t.Fatalf("defaults not applied: %+v", c)
	}
	for in, want := range map[string]int64{"10MiB": 10 << 20, "50MB": 50_000_000, "512": 512, "1.5 KiB": 1536, "2GiB": 2 << 30} {
		got, err := config.ParseSize(in)
		if err != nil || int64(got) != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestEnvAndSecretFiles(t *testing.T) {
	dir, y := base(t)
	secret := filepath.Join(dir, "pw")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DS_URL", "https://env.example.com")
	y = strings.Replace(y, "url: https://example.com", "url: ${DS_URL}", 1)
	y = strings.Replace(y, "auth: {type: bearer, token: abc}", "auth: {type: basic, username: u, password_file: "+secret+"}", 1)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Targets["docs"].Auth
	if c.Targets["docs"].URL != "https://env.example.com" || a.Password.Reveal() != "s3cret" {
		t.Fatalf("got url %q password %q", c.Targets["docs"].URL, a.Password.Reveal())
	}
	if a.Password.String() == "s3cret" {
		t.Fatal("Secret.String reveals the secret")
	}
}

// Each bad configuration gives its own one-line error naming the line or field.
func TestBadConfigsGiveClearErrors(t *testing.T) {
	dir, y := base(t)
	cases := []struct {
		name, old, new, want string
	}{
		{"unknown key", "state_dir:", "state_dri:", `line 1: unknown key "state_dri" in the configuration's top level (accepted: log, metrics,`},
		{"unknown nested key", "auth: {type: bearer, token: abc}", "auth: {type: bearer, tokn: abc}", `line 6: unknown key "tokn" in targets.docs.auth`},
		{"bad size", "chunk_threshold: 10MiB", "chunk_threshold: 10 parsecs", `line 7: targets.docs.chunk_threshold: bad size "10 parsecs"`},
		{"bad duration", "chunk_threshold: 10MiB", "timeout: 5 minutes", `bad duration "5 minutes"`},
		{"missing target", "    target: docs", "    target: doc", `watches[0].target: "doc" is not defined under targets (defined: docs)`},
		{"unreadable secret", "token: abc}", "token_file: " + filepath.Join(dir, "nope") + "}", "line 6: targets.docs.auth.token_file: cannot read the secret file: no such file or directory"},
		{"unset env", "url: https://example.com", "url: ${DS_NOT_SET_ANYWHERE}", "line 5: targets.docs.url: environment variable DS_NOT_SET_ANYWHERE is not set"},
		{"watch path is a file", "  - path: " + filepath.Join(dir, "in"), "  - path: " + filepath.Join(dir, "file"), "watches[0].path: " + filepath.Join(dir, "file") + " is not a directory"},
		{"bad mode", "    target: docs", "    target: docs\n    mode: inotify", `watches[0].mode: "inotify" is not one of auto, events, poll`},
		{"bad order", "    target: docs", "    target: docs\n    order: newest", `watches[0].order: "newest" is not one of oldest, name, none`},
		{"short poll_interval", "    target: docs", "    target: docs\n    poll_interval: 1ms", `watches[0].poll_interval: 1ms is too short`},
		{"bad ready_marker", "    target: docs", "    target: docs\n    ready_marker: done", `watches[0].ready_marker: "done": use a pattern with {name}`},
		{"keep without marker", "    target: docs", "    target: docs\n    ready_marker_keep: true", `watches[0].ready_marker_keep: only used with ready_marker`},
		{"bad on_conflict", "    target: docs", "    target: docs\n    on_conflict: replace", `watches[0].on_conflict: "replace" is not one of version, overwrite, rename, skip`},
		{"move_to inside", "    target: docs", "    target: docs\n    after_upload: move\n    move_to: " + filepath.Join(dir, "in", "done"), "watches[0].move_to: " + filepath.Join(dir, "in", "done") + " lies inside the watched tree"},
		{"no type", "    type: sensenet\n", "", "targets.docs.type: missing"},
		{"bad auth type", "auth: {type: bearer, token: abc}", "auth: {type: kerberos}", `targets.docs.auth.type: "kerberos" is not one of`},
		{"typo in type", "    type: sensenet", "    tpye: sensenet", `targets.docs.type: missing (sensenet, oracle-documents, sbm, blueworks or connections-activities); unknown keys here: tpye`},
		{"unquoted env in flow", "auth: {type: bearer, token: abc}", "auth: {type: bearer, token: ${TOKEN}}", `(inside {…}, quote a ${VAR} value: token: "${VAR}")`},
		{"bad metrics.listen", "targets:", "metrics: {listen: nonsense}\ntargets:", `metrics.listen: "nonsense" is not host:port`},
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(y, tc.old, tc.new, 1)
			if text == y {
				t.Fatalf("case does not change the config")
			}
			_, err := config.Parse(strings.NewReader(text))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q\nwant one line containing %q", err, tc.want)
			}
		})
	}
}

func TestOverlappingWatches(t *testing.T) {
	dir, y := base(t)
	if err := os.Mkdir(filepath.Join(dir, "in", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	y += "  - path: " + filepath.Join(dir, "in", "sub") + "\n    target: docs\n"
	_, err := config.Parse(strings.NewReader(y))
	if err == nil || !strings.Contains(err.Error(), "watches must not overlap") {
		t.Fatalf("err = %v", err)
	}
}

func TestRawDecodeIsStrict(t *testing.T) {
	_, y := base(t)
	y = strings.Replace(y, "destination: {path: /Root/Content/Documents}", "destination: {path: /Root/x, colour: red}", 1)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	var dest struct {
		Path string `yaml:"path"`
	}
	err = c.Watches[0].Destination.Decode(&dest)
	if err == nil || !strings.Contains(err.Error(), `line 11: unknown key "colour" in watches[0].destination (accepted: path)`) {
		t.Fatalf("err = %v", err)
	}
}

// A watch folder that does not exist yet (a share not mounted at boot) is
// no error: the daemon starts and the watch waits for it. The watch keys
// of this phase have their defaults.
func TestMissingWatchPathAndWatchDefaults(t *testing.T) {
	dir, y := base(t)
	y = strings.Replace(y, "  - path: "+filepath.Join(dir, "in"), "  - path: "+filepath.Join(dir, "later"), 1)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Watches[0]
	if w.Mode != "auto" || w.PollInterval.D() != 10*time.Second || w.Order != "oldest" || w.MinAge != 0 || w.ReadyMarker != "" {
		t.Fatalf("defaults: %+v", w)
	}
}

// Numbers beyond what the daemon can use are refused with the key: a size
// past int64 (it wrapped to a negative chunk_threshold), thousands of
// workers (each runs three goroutines), a reconcile_interval that rescans
// in a busy loop (a stop could not get through), negative max_attempts.
func TestOutOfRangeNumbersAreRefused(t *testing.T) {
	_, y := base(t)
	for _, tc := range []struct{ old, new, want string }{
		{"chunk_threshold: 10MiB", "chunk_threshold: 99999999999TiB", `bad size "99999999999TiB": too large`},
		{"state_dir:", "workers: 3000000\nstate_dir:", "workers: must be 1 to 256, got 3000000"},
		{"state_dir:", "reconcile_interval: 1ns\nstate_dir:", "reconcile_interval: 1ns is too short (at least 1s"},
		{"state_dir:", "retry: {max_attempts: -5}\nstate_dir:", "retry.max_attempts: must not be negative"},
		{"chunk_threshold: 10MiB", "timeout: 1ns", "targets.docs.timeout: 1ns is too short (at least 100ms"},
		{"state_dir:", "retry: {initial: 1ns, max: 1ns}\nstate_dir:", "line 1: retry.initial: 1ns is too short (at least 10ms)"},
		{"state_dir:", "retry:\n  initial: 10ms\n  max: 50ms\nstate_dir:", "line 3: retry.max: 50ms is too short (at least 100ms"},
	} {
		text := strings.Replace(y, tc.old, tc.new, 1)
		_, err := config.Parse(strings.NewReader(text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.new, err, tc.want)
		}
	}
}

// The commands that only read the state (status, queue list) do not read
// secret files or tls.ca_file: a monitoring user may not read them, and a
// token file being rotated must not break status. Load still does.
func TestInspectionReadsNoSecretFiles(t *testing.T) {
	dir, y := base(t)
	missing := filepath.Join(dir, "gone.token")
	text := strings.Replace(y, "auth: {type: bearer, token: abc}", "auth: {type: bearer, token_file: "+missing+"}\n    tls: {ca_file: "+filepath.Join(dir, "gone.pem")+"}", 1)
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadForInspection(p); err != nil {
		t.Errorf("LoadForInspection: %v", err)
	}
	if _, err := config.Load(p); err == nil || !strings.Contains(err.Error(), "token_file: cannot read the secret file") {
		t.Errorf("Load: %v, want the unreadable token_file", err)
	}
}

// A relative state_dir is made absolute (status run from another folder
// opened another database) and then checked against the watches: inside
// one, its database files would be uploaded.
func TestRelativeStateDirIsAbsoluteAndCheckedAgainstTheWatches(t *testing.T) {
	dir, y := base(t)
	t.Chdir(dir)
	text := strings.Replace(y, "state_dir: "+filepath.Join(dir, "state"), "state_dir: in/.state", 1)
	if c, err := config.Parse(strings.NewReader(text)); err == nil {
		t.Errorf("state_dir %q inside watch %s accepted", c.StateDir, c.Watches[0].Path)
	}
	text = strings.Replace(y, "state_dir: "+filepath.Join(dir, "state"), "state_dir: state", 1)
	c, err := config.Parse(strings.NewReader(text))
	if err != nil || c.StateDir != filepath.Join(dir, "state") {
		t.Errorf("state_dir: state gives %q, %v; want %s", c.StateDir, err, filepath.Join(dir, "state"))
	}
}

// Overlaps through symbolic links are seen: a watch that is a link into
// another watch (every file twice), a state_dir reached through a link into
// a watch.
func TestOverlapThroughSymlinksIsRefused(t *testing.T) {
	dir, y := base(t)
	in := filepath.Join(dir, "in")
	os.Mkdir(filepath.Join(in, "sub"), 0o700)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(in, "sub"), link); err != nil {
		t.Skip(err)
	}
	text := y + "  - path: " + link + "\n    target: docs\n    destination: {path: /Root/Content/Documents}\n"
	if _, err := config.Parse(strings.NewReader(text)); err == nil || !strings.Contains(err.Error(), "watches must not overlap") {
		t.Errorf("watch %s (a link into watch %s): %v", link, in, err)
	}
	os.Symlink(in, filepath.Join(dir, "inlink"))
	text = strings.Replace(y, "state_dir: "+filepath.Join(dir, "state"), "state_dir: "+filepath.Join(dir, "inlink", ".state"), 1)
	if _, err := config.Parse(strings.NewReader(text)); err == nil || !strings.Contains(err.Error(), "lies inside the watched tree") {
		t.Errorf("state_dir through a link into the watch: %v", err)
	}
}

// A key given twice in a block decoded later (a watch's destination, an
// adapter's keys) is refused as it is elsewhere; one of the two values was
// silently dropped.
func TestKeyGivenTwiceInADestinationIsRefused(t *testing.T) {
	_, y := base(t)
	text := strings.Replace(y, "destination: {path: /Root/Content/Documents}", "destination: {path: /Root/Content/Documents, path: /Root/X}", 1)
	c, err := config.Parse(strings.NewReader(text))
	if err == nil {
		err = c.Watches[0].Destination.Decode(&struct {
			Path string `yaml:"path"`
		}{})
	}
	if err == nil || !strings.Contains(err.Error(), "watches[0].destination.path is given twice") {
		t.Fatalf("got %v, want the repeated key named", err)
	}
}

// A zero given for a key whose default is not zero was taken as "unset":
// `settle: 0s` (meant as "upload at once") silently became 2s, `workers:
// 0` became 4, `retention: {done: 0s}` kept records a week. Such a zero is
// refused with its line and key, and the message says what to write.
func TestExplicitZeroOfADefaultedKeyIsRefused(t *testing.T) {
	_, y := base(t)
	for _, tc := range []struct{ old, new, want, def string }{
		{"    destination:", "    settle: 0s\n    destination:", "line 11: watches[0].settle: zero is not a valid value", "2s"},
		{"    destination:", "    poll_interval: 0s\n    destination:", "watches[0].poll_interval: zero is not a valid value", "10s"},
		{"state_dir:", "workers: 0\nstate_dir:", "line 1: workers: zero is not a valid value", "4"},
		{"state_dir:", "retention: {done: 0s}\nstate_dir:", "retention.done: zero is not a valid value", "168h"},
		{"state_dir:", "retry: {initial: 0ms}\nstate_dir:", "retry.initial: zero is not a valid value", "2s"},
		{"state_dir:", "retry: {max: 0s}\nstate_dir:", "retry.max: zero is not a valid value", "10m"},
		{"chunk_threshold: 10MiB", "timeout: 0s", "targets.docs.timeout: zero is not a valid value", "1m"},
		{"chunk_threshold: 10MiB", "chunk_size: 0", "targets.docs.chunk_size: zero is not a valid value", "10.0 MiB"},
	} {
		text := strings.Replace(y, tc.old, tc.new, 1)
		_, err := config.Parse(strings.NewReader(text))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "leave the key out for the default "+tc.def) {
			t.Errorf("%s: %v, want %q", tc.new, err, tc.want)
		}
	}
}

// A configuration saved in Latin-1 (a "ü" in a destination path) failed
// with yaml's "invalid leading UTF-8 octet" and no line: the operator had
// to search the whole file. The line and column of the first bad byte are
// named.
func TestNonUTF8ConfigNamesTheLine(t *testing.T) {
	_, y := base(t)
	text := strings.Replace(y, "/Root/Content/Documents", "/Root/Content/M\xfcnchen", 1)
	_, err := config.Parse(strings.NewReader(text))
	if err == nil || !strings.Contains(err.Error(), "line 11, column 40: ") || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("err = %v, want line 11, column 40 and UTF-8", err)
	}
}
