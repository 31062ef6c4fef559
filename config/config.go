// Package config reads dropsync's YAML configuration.
//
// Parsing is strict: an unknown key is an error that names its line. ${VAR}
// expands from the environment in every value, every secret has a *_file
// form, sizes take units (10MiB, 50MB) and durations Go syntax (2s, 1h).
// Load applies defaults and validates everything that does not depend on a
// target adapter; adapter-specific blocks (Target.Extra, Watch.Destination)
// are decoded and validated by the adapter.
//
// No value that may be secret is ever part of an error or a warning: the
// values of secret keys (password, token, key, client_secret, access_code,
// access_token), every value taken from the environment, and every secret
// read from a *_file. Messages name the key and its line instead; as a net,
// the scrubber removes every such value (of minScrub characters or more)
// from any message parse returns. Credentials travel over plain http:// only
// to loopback unless a target sets allow_insecure_http.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	StateDir  string             `yaml:"state_dir"`
	Log       Log                `yaml:"log"`
	Metrics   Metrics            `yaml:"metrics"`
	Workers   int                `yaml:"workers"`
	Reconcile Duration           `yaml:"reconcile_interval"`
	Shutdown  Duration           `yaml:"shutdown_timeout"`
	Retry     Retry              `yaml:"retry"`
	Retention Retention          `yaml:"retention"`
	Targets   map[string]*Target `yaml:"targets"`
	Watches   []*Watch           `yaml:"watches"`

	// Path is the file the configuration was read from, if any.
	Path string `yaml:"-"`
	// Warnings are one-line notes about a configuration that works but
	// should be changed (a secret file others can read, credentials over
	// plain http). They never contain a configured value that may be secret.
	Warnings []string `yaml:"-"`

	keyLines map[string]int // dotted key path → line, for messages
	scrub    *scrubber
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json | journal (journald priorities, no timestamp)
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	Listen string `yaml:"listen"` // e.g. 127.0.0.1:9464; empty: off
	// UnhealthyAfter is how long a target may be down or have its
	// credentials rejected before /healthz answers 503 (default 5m).
	UnhealthyAfter Duration `yaml:"unhealthy_after"`
}

// Retry configures the backoff of retryable failures.
type Retry struct {
	Initial     Duration `yaml:"initial"`      // first delay, doubled per attempt (default 2s)
	Max         Duration `yaml:"max"`          // cap (default 10m)
	MaxAttempts int      `yaml:"max_attempts"` // 0: retry until delivered
	MaxPause    Duration `yaml:"max_pause"`    // cap of a server's Retry-After (default 1h)
}

// Target is one remote system. Keys other than the common ones below are
// kept in Extra for the adapter.
type Target struct {
	Type           string   `yaml:"type"`
	URL            string   `yaml:"url"`
	Auth           Auth     `yaml:"auth"`
	ChunkThreshold Size     `yaml:"chunk_threshold"`
	ChunkSize      Size     `yaml:"chunk_size"`
	MaxFileSize    Size     `yaml:"max_file_size"`
	Timeout        Duration `yaml:"timeout"`
	TLS            TLS      `yaml:"tls"`
	// AllowInsecureHTTP lets credentials go over plain http:// to a host
	// other than loopback (refused otherwise).
	AllowInsecureHTTP bool `yaml:"allow_insecure_http"`

	Name  string `yaml:"-"` // the key under targets
	Line  int    `yaml:"-"`
	Extra Raw    `yaml:"-"` // adapter-specific keys
}

func (*Target) keepsExtraKeys() {}

// UnmarshalYAML decodes the common keys and keeps the others in Extra.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	type plain Target
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = Target(p)
	t.Line = n.Line
	common := map[string]bool{}
	for _, k := range yamlKeys(reflectTypeOf(t)) {
		common[k] = true
	}
	extra := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !common[n.Content[i].Value] {
			extra.Content = append(extra.Content, n.Content[i], n.Content[i+1])
		}
	}
	t.Extra = Raw{node: extra, also: yamlKeys(reflectTypeOf(t))}
	return nil
}

// Auth holds the credentials of every auth type; which keys apply depends on
// Type. Secrets may be given directly, as ${ENV}, or as a *_file path.
type Auth struct {
	Type             string `yaml:"type"` // none | basic | bearer | apikey | oauth2 | sso
	Username         string `yaml:"username"`
	Password         Secret `yaml:"password"`
	PasswordFile     string `yaml:"password_file"`
	Token            Secret `yaml:"token"`
	TokenFile        string `yaml:"token_file"`
	Key              Secret `yaml:"key"`
	KeyFile          string `yaml:"key_file"`
	TokenURL         string `yaml:"token_url"`
	ClientID         string `yaml:"client_id"`
	ClientSecret     Secret `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	Scope            string `yaml:"scope"`
	TokenServiceURL  string `yaml:"token_service_url"`
}

// TLS configures certificate checking.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Watch is one watched folder tree.
type Watch struct {
	Path        string   `yaml:"path"`
	Target      string   `yaml:"target"`
	Destination Raw      `yaml:"destination"`
	Recursive   *bool    `yaml:"recursive"`
	Include     []string `yaml:"include"`
	Exclude     []string `yaml:"exclude"`
	Ignore      []string `yaml:"ignore"`
	Settle      Duration `yaml:"settle"`
	OnConflict  string   `yaml:"on_conflict"`
	AfterUpload string   `yaml:"after_upload"`
	MoveTo      string   `yaml:"move_to"`
	FailedTo    string   `yaml:"failed_to"`
	Deletes     string   `yaml:"deletes"`
	FollowLinks bool     `yaml:"follow_symlinks"`
	// Mode is auto (events on local file systems, polling on network and
	// FUSE ones), events or poll; PollInterval is the time between polls.
	Mode         string   `yaml:"mode"`
	PollInterval Duration `yaml:"poll_interval"`
	// ReadyMarker ("{name}.done", "{dir}/.ready") makes files wait for a
	// marker, removed after the delivery unless ReadyMarkerKeep.
	ReadyMarker     string `yaml:"ready_marker"`
	ReadyMarkerKeep bool   `yaml:"ready_marker_keep"`
	// Order is the claim order of a backlog: oldest (mtime), name or none.
	Order  string   `yaml:"order"`
	MinAge Duration `yaml:"min_age"` // a file younger than this (by mtime) waits

	Line int `yaml:"-"`
}

// IsRecursive reports whether sub-folders are watched (default true).
func (w *Watch) IsRecursive() bool { return w.Recursive == nil || *w.Recursive }

// Conflict policies.
const (
	OnConflictVersion   = "version"
	OnConflictOverwrite = "overwrite"
	OnConflictRename    = "rename"
	OnConflictSkip      = "skip"
)

// DefaultIgnore is the built-in list of temporary-file names that are never
// uploaded; a watch's ignore key replaces it.
var DefaultIgnore = []string{"*.tmp", "*.part", "*.crdownload", "~$*", ".~lock.*#", ".*.swp", ".DS_Store", "Thumbs.db"}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) { return load(path, true) }

// LoadForInspection is Load for commands that only read the state (status,
// queue): watch folders need not exist right now, and secret files and
// tls.ca_file are not read (a monitoring user may not read them; a token
// file being rotated must not break status).
func LoadForInspection(path string) (*Config, error) { return load(path, false) }

func load(path string, checkPaths bool) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := parse(f, checkPaths)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// maxWorkers bounds workers: each runs 3 goroutines and may hold a
// connection; more than a server takes at once only queue up there.
const maxWorkers = 256

// minReconcile bounds reconcile_interval: a full rescan of every watch
// more often than this is a busy loop.
const minReconcile = time.Second

// MinRetryInitial and MinRetryMax bound retry.initial and retry.max: a
// file's retries and a down target's probes (from initial to max apart)
// closer than this are a busy loop of requests and database writes. The
// bounds leave room for short test and demo configurations.
const (
	MinRetryInitial = 10 * time.Millisecond
	MinRetryMax     = 100 * time.Millisecond
)

// Parse reads a configuration, applies defaults, resolves secrets and
// validates it.
func Parse(r io.Reader) (*Config, error) { return parse(r, true) }

// parse reads, expands, decodes and validates a configuration. Every error
// and warning it returns names a key and, where known, its line, and passes
// through the scrubber, so no value that may be secret reaches a message.
func parse(r io.Reader, checkPaths bool) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if err := checkUTF8(data); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the configuration is empty")
		}
		err = cleanYAMLError(err)
		if bytes.Contains(data, []byte("${")) && strings.Contains(err.Error(), "did not find expected") {
			err = fmt.Errorf("%w (inside {…}, quote a ${VAR} value: token: \"${VAR}\")", err)
		}
		return nil, err
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	c := &Config{keyLines: map[string]int{}, scrub: &scrubber{}}
	indexKeys(root, "", c.keyLines)
	if err := c.build(root, checkPaths); err != nil {
		return nil, c.scrub.err(c.withLine(locate(c.keyLines, err)))
	}
	for i, w := range c.Warnings {
		c.Warnings[i] = c.scrub.clean(w)
	}
	return c, nil
}

// checkUTF8 fails text that is not UTF-8 with the line and column of
// the first bad byte (yaml.v3 names neither). Text with a UTF-16 byte
// order mark is left to yaml.v3, which reads it.
func checkUTF8(data []byte) error {
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) || utf8.Valid(data) {
		return nil
	}
	line, col := 1, 1
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("line %d, column %d: byte 0x%02x is not UTF-8; save the file as UTF-8", line, col, data[0])
		}
		if r == '\n' {
			line, col = line+1, 0
		}
		col++
		data = data[n:]
	}
	return nil
}

// withLine prefixes "line N: " to an error that starts with a key path.
func (c *Config) withLine(err error) error {
	msg := err.Error()
	if lineMsg.MatchString(msg) {
		return err
	}
	key, _, ok := strings.Cut(msg, ": ")
	if l, known := c.keyLines[key]; ok && known {
		return fmt.Errorf("line %d: %s", l, msg)
	}
	return err
}

func (c *Config) build(root *yaml.Node, checkPaths bool) error {
	if err := expandEnv(root, "", c.scrub); err != nil {
		return err
	}
	if err := checkKnown(root, reflectTypeOf(&Config{}), "", nil); err != nil {
		return err
	}
	if err := root.Decode(c); err != nil {
		return cleanYAMLError(err)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "watches" {
			for j, w := range root.Content[i+1].Content {
				if j < len(c.Watches) && c.Watches[j] != nil {
					c.Watches[j].Line = w.Line
					c.Watches[j].Destination.what = fmt.Sprintf("watches[%d].destination", j)
					c.Watches[j].Destination.scrub = c.scrub
				}
			}
		}
	}
	for name, t := range c.Targets {
		if t == nil {
			return fmt.Errorf("targets.%s: empty target", name)
		}
		t.Name = name
		t.Extra.what = "targets." + name
		t.Extra.scrub = c.scrub
	}
	zero, at := c.zeroKey()
	c.applyDefaults()
	if zero != "" {
		return fmt.Errorf("%s: zero is not a valid value; leave the key out for the default %s", zero, formatDefault(at))
	}
	if checkPaths {
		if err := c.resolveSecrets(); err != nil {
			return err
		}
	}
	if err := c.validate(checkPaths); err != nil {
		return err
	}
	if checkPaths {
		c.checkStateDir()
	}
	return c.checkTransport()
}

// zeroKey is a key given as zero whose default is not zero, and where its
// value is (v, a *Duration, *Size or *int); path is "" when there is
// none. The decoded structs cannot tell a zero written from a key left
// out, and applyDefaults would silently replace it (`settle: 0s` became
// 2s): build refuses it, naming the default applyDefaults then puts at v.
func (c *Config) zeroKey() (path string, v any) {
	type key struct {
		path string
		v    any
	}
	keys := []key{{"workers", &c.Workers}, {"reconcile_interval", &c.Reconcile}, {"shutdown_timeout", &c.Shutdown},
		{"retry.initial", &c.Retry.Initial}, {"retry.max", &c.Retry.Max}, {"retry.max_pause", &c.Retry.MaxPause},
		{"metrics.unhealthy_after", &c.Metrics.UnhealthyAfter}, {"retention.done", &c.Retention.Done},
		{"retention.failed", &c.Retention.Failed}, {"retention.forgotten_state", &c.Retention.ForgottenState}}
	for name, t := range c.Targets {
		p := "targets." + name + "."
		keys = append(keys, key{p + "timeout", &t.Timeout}, key{p + "chunk_size", &t.ChunkSize})
	}
	for i, w := range c.Watches {
		if w != nil {
			p := fmt.Sprintf("watches[%d].", i)
			keys = append(keys, key{p + "settle", &w.Settle}, key{p + "poll_interval", &w.PollInterval})
		}
	}
	for _, k := range keys {
		if _, given := c.keyLines[k.path]; !given {
			continue
		}
		switch v := k.v.(type) {
		case *int:
			if *v == 0 {
				return k.path, k.v
			}
		case *Duration:
			if *v == 0 {
				return k.path, k.v
			}
		case *Size:
			if *v == 0 {
				return k.path, k.v
			}
		}
	}
	return "", nil
}

// formatDefault is the value at v (see zeroKey) as a configuration would
// give it: 4, 2s, 1h, 10.0 MiB.
func formatDefault(v any) string {
	switch v := v.(type) {
	case *Duration:
		s := v.D().String() // 1h0m0s, 10m0s, 2s
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	case *Size:
		return v.String()
	case *int:
		return strconv.Itoa(*v)
	}
	return fmt.Sprint(v)
}

func (c *Config) applyDefaults() {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/dropsync"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.Reconcile == 0 {
		c.Reconcile = Duration(3600e9)
	}
	if c.Shutdown == 0 {
		c.Shutdown = Duration(30e9)
	}
	if c.Retry.Initial == 0 {
		c.Retry.Initial = Duration(2e9)
	}
	if c.Retry.Max == 0 {
		c.Retry.Max = Duration(600e9)
	}
	if c.Retry.MaxPause == 0 {
		c.Retry.MaxPause = Duration(3600e9)
	}
	if c.Metrics.UnhealthyAfter == 0 {
		c.Metrics.UnhealthyAfter = Duration(300e9)
	}
	c.Retention.applyDefaults()
	for _, t := range c.Targets {
		if t.Auth.Type == "" {
			t.Auth.Type = "none"
		}
		if t.ChunkSize == 0 {
			t.ChunkSize = 10 << 20
		}
		if t.Timeout == 0 {
			t.Timeout = Duration(60e9)
		}
	}
	for _, w := range c.Watches {
		if w == nil {
			continue
		}
		if len(w.Include) == 0 {
			w.Include = []string{"**"}
		}
		if w.Ignore == nil {
			w.Ignore = DefaultIgnore
		}
		if w.Settle == 0 {
			w.Settle = Duration(2e9)
		}
		if w.OnConflict == "" {
			w.OnConflict = OnConflictVersion
		}
		if w.AfterUpload == "" {
			w.AfterUpload = "keep"
		}
		if w.Deletes == "" {
			w.Deletes = "ignore"
		}
		if w.Mode == "" {
			w.Mode = "auto"
		}
		if w.PollInterval == 0 {
			w.PollInterval = Duration(10e9)
		}
		if w.Order == "" {
			w.Order = "oldest"
		}
	}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s: %q is not one of %s", field, v, strings.Join(allowed, ", "))
}

func (c *Config) validate(checkPaths bool) error {
	if err := oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error"); err != nil {
		return err
	}
	if err := oneOf("log.format", c.Log.Format, "text", "json", "journal"); err != nil {
		return err
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics.listen: %q is not host:port (e.g. 127.0.0.1:9464)", c.Metrics.Listen)
		}
		if err := checkPort(c.Metrics.Listen); err != nil {
			return err
		}
	}
	if c.Workers < 1 || c.Workers > maxWorkers {
		return fmt.Errorf("workers: must be 1 to %d, got %d", maxWorkers, c.Workers)
	}
	if c.Reconcile < Duration(minReconcile) {
		return fmt.Errorf("reconcile_interval: %s is too short (at least %s; it rescans every watch)", c.Reconcile.D(), minReconcile)
	}
	if c.Retry.MaxAttempts < 0 {
		return fmt.Errorf("retry.max_attempts: must not be negative (0: retry until delivered), got %d", c.Retry.MaxAttempts)
	}
	if c.Retry.Initial < Duration(MinRetryInitial) {
		return fmt.Errorf("retry.initial: %s is too short (at least %s)", c.Retry.Initial.D(), MinRetryInitial)
	}
	if c.Retry.Max < Duration(MinRetryMax) {
		return fmt.Errorf("retry.max: %s is too short (at least %s: a down target is probed every retry.max)", c.Retry.Max.D(), MinRetryMax)
	}
	if c.Retry.Max < c.Retry.Initial {
		return fmt.Errorf("retry.max (%s) must not be below retry.initial (%s)", c.Retry.Max.D(), c.Retry.Initial.D())
	}
	if c.Retry.MaxPause < 0 || c.Metrics.UnhealthyAfter < 0 {
		return errors.New("retry.max_pause and metrics.unhealthy_after must not be negative")
	}
	if len(c.Targets) == 0 {
		return errors.New("targets: at least one target is required")
	}
	for name, t := range c.Targets {
		if err := t.validate(checkPaths); err != nil {
			return fmt.Errorf("targets.%s.%w", name, err)
		}
	}
	if len(c.Watches) == 0 {
		return errors.New("watches: at least one watch is required")
	}
	for i, w := range c.Watches {
		if w == nil {
			return fmt.Errorf("watches[%d]: empty watch", i)
		}
		if err := c.validateWatch(w); err != nil {
			return fmt.Errorf("watches[%d].%w", i, err)
		}
	}
	if abs, err := filepath.Abs(c.StateDir); err == nil {
		c.StateDir = abs // status, run elsewhere, opens the same database
	}
	ps := c.lookAtPaths(checkPaths)
	if checkPaths {
		for i, w := range c.Watches {
			// A missing folder is no error: the watch waits for it (a
			// share not mounted yet at boot); nor is one that does not
			// answer.
			st, err, answered := ps.stat(w.Path)
			switch {
			case !answered:
				c.Warnings = append(c.Warnings, fmt.Sprintf("watches[%d].path %s did not answer within %s (a network mount whose server is gone?): not checked; the watch waits for it", i, w.Path, pathWait))
			case err != nil && !errors.Is(err, os.ErrNotExist):
				return fmt.Errorf("watches[%d].path: %w", i, unwrapPathError(err))
			case err == nil && !st.IsDir():
				return fmt.Errorf("watches[%d].path: %s is not a directory", i, w.Path)
			}
		}
	}
	for i, a := range c.Watches {
		for j, b := range c.Watches {
			if i != j && ps.within(b.Path, a.Path) {
				return fmt.Errorf("watches[%d].path: %s lies inside watches[%d].path %s: watches must not overlap", j, b.Path, i, a.Path)
			}
		}
	}
	for i, w := range c.Watches {
		for j, o := range c.Watches {
			if w.MoveTo != "" && ps.within(w.MoveTo, o.Path) {
				return fmt.Errorf("watches[%d].move_to: %s lies inside the watched tree %s (watches[%d]); it would be uploaded again", i, w.MoveTo, o.Path, j)
			}
			if w.FailedTo != "" && ps.within(w.FailedTo, o.Path) {
				return fmt.Errorf("watches[%d].failed_to: %s lies inside the watched tree %s (watches[%d]); it would be uploaded again", i, w.FailedTo, o.Path, j)
			}
		}
		if ps.within(c.StateDir, w.Path) {
			return fmt.Errorf("state_dir: %s lies inside the watched tree %s (watches[%d])", c.StateDir, w.Path, i)
		}
	}
	return nil
}

func (t *Target) validate(checkPaths bool) error {
	if t.Type == "" {
		msg := "type: missing (sensenet, oracle-documents, sbm, blueworks or connections-activities)"
		if extra := t.Extra.keys(); len(extra) > 0 {
			msg += fmt.Sprintf("; unknown keys here: %s (line %d)", strings.Join(extra, ", "), t.Line)
		}
		return errors.New(msg)
	}
	u, err := url.Parse(t.URL)
	if t.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("url: not an http(s) URL (want https://host[:port][/path]; the value is not shown, it may hold a password)")
	}
	if t.Timeout < Duration(100*time.Millisecond) {
		return fmt.Errorf("timeout: %s is too short (at least 100ms: every request would fail)", t.Timeout.D())
	}
	if t.ChunkSize < 1 {
		return errors.New("chunk_size: must be positive")
	}
	if t.MaxFileSize < 0 {
		return errors.New("max_file_size: must not be negative")
	}
	if t.TLS.CAFile != "" && checkPaths {
		if _, err := os.Stat(t.TLS.CAFile); err != nil {
			return fmt.Errorf("tls.ca_file: %w", unwrapPathError(err))
		}
	}
	a := t.Auth
	need := func(key string, ok bool) error {
		if !ok {
			return fmt.Errorf("auth.%s: required for auth type %s", key, a.Type)
		}
		return nil
	}
	switch a.Type {
	case "none":
		return nil
	case "basic":
		if err := need("username", a.Username != ""); err != nil {
			return err
		}
		return need("password", a.Password != "" || a.PasswordFile != "")
	case "bearer":
		return need("token", a.Token != "" || a.TokenFile != "")
	case "apikey":
		return need("key", a.Key != "" || a.KeyFile != "")
	case "oauth2":
		if err := need("client_id", a.ClientID != ""); err != nil {
			return err
		}
		if err := need("client_secret", a.ClientSecret != "" || a.ClientSecretFile != ""); err != nil {
			return err
		}
		if a.TokenURL != "" {
			if u, err := url.Parse(a.TokenURL); err != nil || u.Host == "" {
				return errors.New("auth.token_url: not a URL (the value is not shown, it may hold a password)")
			}
		}
		return nil
	case "sso":
		if err := need("token_service_url", a.TokenServiceURL != ""); err != nil {
			return err
		}
		if err := need("username", a.Username != ""); err != nil {
			return err
		}
		return need("password", a.Password != "" || a.PasswordFile != "")
	}
	return oneOf("auth.type", a.Type, "none", "basic", "bearer", "apikey", "oauth2", "sso")
}

func (c *Config) validateWatch(w *Watch) error {
	if w.Path == "" {
		return errors.New("path: missing")
	}
	abs, err := filepath.Abs(w.Path)
	if err != nil {
		return fmt.Errorf("path: %w", err)
	}
	w.Path = filepath.Clean(abs)
	if w.Target == "" {
		return errors.New("target: missing")
	}
	if _, ok := c.Targets[w.Target]; !ok {
		names := make([]string, 0, len(c.Targets))
		for n := range c.Targets {
			names = append(names, n)
		}
		return fmt.Errorf("target: %q is not defined under targets (defined: %s)", w.Target, strings.Join(sortStrings(names), ", "))
	}
	for _, list := range []struct {
		key  string
		pats []string
	}{{"include", w.Include}, {"exclude", w.Exclude}, {"ignore", w.Ignore}} {
		for _, p := range list.pats {
			if !doublestar.ValidatePattern(p) {
				return fmt.Errorf("%s: bad glob %q", list.key, p)
			}
		}
	}
	if err := oneOf("on_conflict", w.OnConflict, OnConflictVersion, OnConflictOverwrite, OnConflictRename, OnConflictSkip); err != nil {
		return err
	}
	if err := oneOf("after_upload", w.AfterUpload, "keep", "delete", "move"); err != nil {
		return err
	}
	if err := oneOf("deletes", w.Deletes, "ignore", "propagate"); err != nil {
		return err
	}
	if err := oneOf("mode", w.Mode, "auto", "events", "poll"); err != nil {
		return err
	}
	if w.PollInterval < Duration(100e6) {
		return fmt.Errorf("poll_interval: %s is too short (at least 100ms)", w.PollInterval.D())
	}
	if err := oneOf("order", w.Order, "oldest", "name", "none"); err != nil {
		return err
	}
	if w.MinAge < 0 {
		return errors.New("min_age: must not be negative")
	}
	if err := checkReadyMarker(w.ReadyMarker); err != nil {
		return fmt.Errorf("ready_marker: %w", err)
	}
	if w.ReadyMarkerKeep && w.ReadyMarker == "" {
		return errors.New("ready_marker_keep: only used with ready_marker")
	}
	if w.AfterUpload == "move" && w.MoveTo == "" {
		return errors.New("move_to: required with after_upload: move")
	}
	if w.AfterUpload != "move" && w.MoveTo != "" {
		return errors.New("move_to: only used with after_upload: move")
	}
	for _, d := range []struct {
		key string
		p   *string
	}{{"move_to", &w.MoveTo}, {"failed_to", &w.FailedTo}} {
		if *d.p == "" {
			continue
		}
		abs, err := filepath.Abs(*d.p)
		if err != nil {
			return fmt.Errorf("%s: %w", d.key, err)
		}
		*d.p = abs
	}
	return nil
}

// checkReadyMarker accepts "" (none), a pattern with one {name} and no
// folder part ("{name}.done"), or "{dir}/NAME" ("{dir}/.ready").
func checkReadyMarker(s string) error {
	if s == "" {
		return nil
	}
	bad := fmt.Errorf("%q: use a pattern with {name} (e.g. \"{name}.done\") or \"{dir}/NAME\" (e.g. \"{dir}/.ready\")", s)
	if name, ok := strings.CutPrefix(s, "{dir}/"); ok {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\{}`) {
			return bad
		}
		return nil
	}
	prefix, suffix, ok := strings.Cut(s, "{name}")
	if !ok || prefix+suffix == "" || strings.ContainsAny(prefix+suffix, `/\{}`) {
		return bad
	}
	return nil
}
