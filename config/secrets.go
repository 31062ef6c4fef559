package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Retention says how long finished records stay in the database.
type Retention struct {
	// Done is how long a delivered job stays listed (default 168h).
	Done Duration `yaml:"done"`
	// Failed is how long a failed job stays on the failed list (default
	// 720h); while it is there, the same unchanged file is not tried again.
	Failed Duration `yaml:"failed"`
	// ForgottenState is how long the delivery record of a file that is no
	// longer in its watch is kept (default 720h); while it is kept, a file
	// of the same path becomes a new version of the same remote object.
	ForgottenState Duration `yaml:"forgotten_state"`
}

func (r *Retention) applyDefaults() {
	if r.Done == 0 {
		r.Done = Duration(168 * 3600e9)
	}
	if r.Failed == 0 {
		r.Failed = Duration(720 * 3600e9)
	}
	if r.ForgottenState == 0 {
		r.ForgottenState = Duration(720 * 3600e9)
	}
}

// secretKeys are the keys whose values are credentials, wherever they
// appear (auth blocks, adapter blocks).
var secretKeys = map[string]bool{"password": true, "token": true, "key": true, "client_secret": true, "access_code": true, "access_token": true}

// minScrub is the shortest value the scrubber removes from messages: a
// shorter one would garble every message it happens to occur in.
const minScrub = 4

// scrubber collects the values that may be secret (the values of secret
// keys, before and after expansion; every value taken from the
// environment; every secret read from a file) and removes them from
// messages. It is the net under the rule that no message formats such a
// value in the first place.
type scrubber struct{ values []string }

func (s *scrubber) add(v string) {
	if s != nil && len(v) >= minScrub {
		s.values = append(s.values, v)
	}
}

func (s *scrubber) clean(msg string) string {
	if s == nil {
		return msg
	}
	vals := append([]string(nil), s.values...)
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		msg = strings.ReplaceAll(msg, v, "[redacted]")
	}
	return msg
}

func (s *scrubber) err(err error) error {
	if err == nil || s == nil {
		return err
	}
	if c := s.clean(err.Error()); c != err.Error() {
		return errors.New(c)
	}
	return err
}

// indexKeys records the line of every key below n under its dotted path
// (targets.docs.auth.token, watches[0].path).
func indexKeys(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			out[p] = n.Content[i].Line
			indexKeys(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = c.Line
			indexKeys(c, p, out)
		}
	}
}

// at names a key with its line: "line 6: targets.docs.auth.token".
func (c *Config) at(path string) string {
	if l, ok := c.keyLines[path]; ok {
		return fmt.Sprintf("line %d: %s", l, path)
	}
	return path
}

var lineMsg = regexp.MustCompile(`^line (\d+): `)

// yamlValue matches the value yaml.v3 quotes in its type errors
// ("cannot unmarshal !!str `Pr0d-S3...` into int").
var yamlValue = regexp.MustCompile(" `[^`]*`")

// locate makes a "line N: message" error name the key on that line too, and
// drops any value yaml.v3 quoted into it. A line holding several keys (a
// {…} mapping) is named by the mapping.
func locate(keyLines map[string]int, err error) error {
	msg := yamlValue.ReplaceAllString(err.Error(), "")
	m := lineMsg.FindStringSubmatch(msg)
	if m == nil {
		return errors.New(msg)
	}
	line, _ := strconv.Atoi(m[1])
	var paths []string
	for p, l := range keyLines {
		if l == line {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return errors.New(msg)
	}
	sort.Strings(paths)
	key := paths[0]
	if len(paths) > 1 {
		// The shortest path is the mapping that starts on this line, or
		// else the common parent of the keys of a {…} mapping.
		key = commonParent(paths)
	}
	rest := msg[len(m[0]):]
	if key == "" || strings.HasPrefix(rest, key) || strings.HasPrefix(rest, "unknown key") {
		return errors.New(msg)
	}
	return fmt.Errorf("line %d: %s: %s", line, key, rest)
}

func commonParent(paths []string) string {
	p := paths[0]
	for _, q := range paths[1:] {
		for !(q == p || strings.HasPrefix(q, p+".") || strings.HasPrefix(q, p+"[")) {
			i := strings.LastIndexAny(p, ".[")
			if i < 0 {
				return ""
			}
			p = p[:i]
		}
	}
	return p
}

// resolveSecrets reads every *_file secret, and warns when others than the
// owner can read the file. The file's content is used as it is (no ${}
// expansion), less a trailing newline. Messages name the key and its line,
// never the value: a secret pasted into a *_file key is not echoed either
// (a file that does not exist is not named).
func (c *Config) resolveSecrets() error {
	for _, name := range sortStrings(targetNames(c)) {
		t := c.Targets[name]
		a := &t.Auth
		pairs := []struct {
			key  string
			val  *Secret
			file string
		}{
			{"password", &a.Password, a.PasswordFile},
			{"token", &a.Token, a.TokenFile},
			{"key", &a.Key, a.KeyFile},
			{"client_secret", &a.ClientSecret, a.ClientSecretFile},
		}
		for _, p := range pairs {
			if p.file == "" {
				continue
			}
			field := c.at(fmt.Sprintf("targets.%s.auth.%s_file", name, p.key))
			if *p.val != "" {
				return fmt.Errorf("%s: give either %s or %s_file, not both", field, p.key, p.key)
			}
			v, warn, err := readSecretFile(p.file)
			if err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
			if warn != "" {
				c.Warnings = append(c.Warnings, field+": "+warn)
			}
			c.scrub.add(v)
			*p.val = Secret(v)
		}
	}
	return nil
}

func targetNames(c *Config) []string {
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
	}
	return names
}

// ReadSecretFile reads a secret file for an adapter's own *_file key, as
// the auth block's are read: the content as it is, less a trailing newline;
// warn is set when the file is readable by group or others. Errors never
// contain the content, nor the path of a file that does not exist.
func ReadSecretFile(path string) (secret Secret, warn string, err error) {
	v, warn, err := readSecretFile(path)
	return Secret(v), warn, err
}

// readSecretFile reads a secret file. warn is set when the file is
// readable by group or others.
//
// A path that cannot be opened is not named: it may be a secret pasted into
// the *_file key (a token longer than a file name may be fails with "file
// name too long"); the caller names the key and its line. Only a regular
// file is read: a named pipe or a device is refused at once, without
// waiting for a writer.
func readSecretFile(path string) (secret, warn string, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", "", fmt.Errorf("cannot read the secret file: %w", pe.Err)
		}
		return "", "", fmt.Errorf("cannot read the secret file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", "", fmt.Errorf("cannot read the secret file %s: %w", path, err)
	}
	if st.IsDir() {
		return "", "", fmt.Errorf("the secret file %s is a folder", path)
	}
	if !st.Mode().IsRegular() {
		return "", "", fmt.Errorf("the secret file %s is not a regular file (%s)", path, fileKind(st.Mode()))
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		warn = fmt.Sprintf("%s is readable by group or others (mode %#o): chmod 600 it", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err != nil {
		return "", "", fmt.Errorf("cannot read the secret file %s: %w", path, err)
	}
	if len(b) > 64<<10 {
		return "", "", fmt.Errorf("the secret file %s is larger than 64 KiB", path)
	}
	secret = strings.TrimRight(string(b), "\r\n")
	if secret == "" {
		return "", "", fmt.Errorf("the secret file %s is empty", path)
	}
	return secret, warn, nil
}

// hasCredentials reports whether requests to the target's url carry
// credentials.
func (a *Auth) hasCredentials() bool { return a.Type != "" && a.Type != "none" }

// checkTransport refuses credentials over plain http:// to a host other
// than loopback, unless the target allows it (then with a warning). The
// URL is never printed: it may hold a password; the host is.
func (c *Config) checkTransport() error {
	for _, name := range sortStrings(targetNames(c)) {
		t := c.Targets[name]
		if !t.Auth.hasCredentials() {
			continue
		}
		for _, u := range []struct{ key, url string }{
			{"targets." + name + ".url", t.URL},
			{"targets." + name + ".auth.token_url", t.Auth.TokenURL},
			{"targets." + name + ".auth.token_service_url", t.Auth.TokenServiceURL},
		} {
			host, plain := plainHTTPHost(u.url)
			if !plain || isLoopback(host) {
				continue
			}
			if !t.AllowInsecureHTTP {
				return fmt.Errorf("%s: credentials over plain http:// to %s: use https, or set allow_insecure_http: true on the target", c.at(u.key), host)
			}
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: credentials go over plain http:// to %s (allow_insecure_http): anyone on the path can read them", c.at(u.key), host))
		}
	}
	return nil
}

func plainHTTPHost(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return "", false
	}
	return u.Hostname(), true
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkStateDir warns when an existing state_dir is open to group or
// others: the daemon tightens it to 0700 at start (or refuses to start when
// it cannot), and validate says so beforehand.
func (c *Config) checkStateDir() {
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(c.StateDir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %s is mode %#o: dropsync tightens it to 0700 at start", c.at("state_dir"), c.StateDir, fi.Mode().Perm()))
}

// fileKind names a file type that is not a regular file.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}
