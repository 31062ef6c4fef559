package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// The malformed secret of the issue, and distinctive parts of it (and of
// the variable name hidden inside the second form): none may appear in any
// output of validate or run.
const malformedSecret = "Pr0d-S3cr${et-Q7zK"

var secretParts = []string{"Pr0d", "S3cr", "Q7zK"}

// Every kind of malformed secret (in the YAML value, in ${ENV}, in a
// *_file) is fed to validate and run; all their output (stdout, stderr
// with the daemon's debug log) is searched for it.
func TestMalformedSecretsReachNoOutput(t *testing.T) {
	fake := sensenet.NewFake()
	fake.SetCredentials("the-right-token", "")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer fake.Close()
	const auth = "auth: {type: bearer, token: tok}"
	cases := []struct {
		name     string
		old, new string
		env      string // DS_SECRET, when set
		file     string // content of the secret file {{file}} (mode 0644)
		want     string // in validate's stderr
		runs     bool   // the configuration is valid: run starts and is rejected by the server
	}{
		{name: "unclosed brace in the YAML value", old: auth, new: `auth: {type: bearer, token: "` + malformedSecret + `"}`,
			want: "targets.docs.auth.token: unclosed ${"},
		{name: "unset variable inside the YAML value", old: auth, new: `auth: {type: bearer, token: "Pr0d-${S3crPart}-Q7zK"}`,
			want: "targets.docs.auth.token: refers to an environment variable that is not set"},
		{name: "secret from env used as the token", old: auth, new: `auth: {type: bearer, token: "${DS_SECRET}"}`, env: malformedSecret, runs: true},
		{name: "secret from env in a duration", old: "    settle: 200ms", new: "    settle: ${DS_SECRET}", env: malformedSecret,
			want: "watches[0].settle: bad duration"},
		{name: "secret from env in the URL", old: "    url: " + srv.URL, new: `    url: "http://svc:${DS_SECRET}@` + strings.TrimPrefix(srv.URL, "http://") + `/%zz"`, env: malformedSecret,
			want: "targets.docs.url: not an http(s) URL"},
		{name: "secret from env over plain http", old: "    url: " + srv.URL + "\n    " + auth, new: "    url: http://docs.example.com\n    auth: {type: bearer, token: \"${DS_SECRET}\"}", env: malformedSecret,
			want: "targets.docs.url: credentials over plain http:// to docs.example.com"},
		{name: "secret in a file others can read", old: auth, new: "auth: {type: bearer, token_file: {{file}}}", file: malformedSecret + "\n", runs: true,
			want: "is readable by group or others (mode 0644): chmod 600 it"},
		{name: "secret pasted into the file key", old: auth, new: "auth: {type: bearer, token_file: Pr0d-S3cret-Q7zK}",
			want: "targets.docs.auth.token_file: cannot read the secret file: no such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Mkdir(filepath.Join(dir, "in"), 0o700)
			text := sensenetConfig(dir, srv.URL, "tok", "")
			if tc.env != "" {
				t.Setenv("DS_SECRET", tc.env)
			}
			secretFile := filepath.Join(dir, "docs.token")
			if tc.file != "" {
				os.WriteFile(secretFile, []byte(tc.file), 0o644)
				os.Chmod(secretFile, 0o644)
			}
			text2 := strings.Replace(text, tc.old, strings.ReplaceAll(tc.new, "{{file}}", secretFile), 1)
			if text2 == text {
				t.Fatal("case does not change the configuration")
			}
			cfg := writeConfig(t, dir, text2)

			var all strings.Builder
			out, stderr, code := runCLI(t, "validate", "-c", cfg)
			fmt.Fprintf(&all, "validate stdout:\n%s\nvalidate stderr:\n%s\n", out, stderr)
			if !strings.Contains(stderr, tc.want) || (code == 0) != tc.runs {
				t.Fatalf("validate: exit %d, stderr %q; want %q", code, stderr, tc.want)
			}
			if !tc.runs {
				out, stderr, code = runCLI(t, "run", "-c", cfg)
				fmt.Fprintf(&all, "run stdout:\n%s\nrun stderr:\n%s\n", out, stderr)
				if code == 0 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
					t.Fatalf("run: exit %d, stderr %q; want one line with %q", code, stderr, tc.want)
				}
			} else {
				cmd, logs, exited := startRun(t, cfg)
				writeRandom(t, filepath.Join(dir, "in", "a.txt"), 100)
				daemontest.Eventually(t, "the server's rejection in the log", func() bool { return strings.Contains(logs.String(), "target credentials rejected") })
				out, stderr, _ = runCLI(t, "status", "-c", cfg, "--json")
				fmt.Fprintf(&all, "status:\n%s\n%s\n", out, stderr)
				cmd.Process.Signal(syscall.SIGTERM)
				<-exited
				fmt.Fprintf(&all, "run log:\n%s\n", logs.String())
				if tc.want != "" && !strings.Contains(logs.String(), tc.want) {
					t.Fatalf("run does not log the warning %q:\n%s", tc.want, logs.String())
				}
			}
			for _, p := range secretParts {
				if strings.Contains(all.String(), p) {
					t.Fatalf("output contains %q, a part of the secret:\n%s", p, all.String())
				}
			}
		})
	}
}

// A server whose error answers echo the request's Authorization header
// (a proxy's debug page, a verbose server) puts the token in no output:
// not in the log, not in `status`, not in the database, whether the
// failure is retried (the job's last error) or final (the failed list).
func TestEchoedCredentialsReachNoOutput(t *testing.T) {
	const token = "the-right-token-Q7zK"
	fake := sensenet.NewFake()
	fake.SetCredentials(token, "")
	var uploads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/Upload") {
			fake.ServeHTTP(w, r)
			return
		}
		status := http.StatusInternalServerError // retried
		if uploads.Add(1) > 1 {
			status = http.StatusBadRequest // final
		}
		echo, _ := json.Marshal("refused; request was:\nAuthorization: " + r.Header.Get("Authorization") + "\nHost: " + r.Host)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":"InvalidOperation","message":{"lang":"en-us","value":%s}}}`, echo)
	}))
	defer srv.Close()
	defer fake.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, sensenetConfig(dir, srv.URL, token, ""))
	cmd, logs, exited := startRun(t, cfg)
	writeRandom(t, filepath.Join(dir, "in", "a.txt"), 100)
	var status string
	daemontest.Eventually(t, "the failure on the failed list", func() bool {
		out, _, _ := runCLI(t, "status", "-c", cfg, "--json")
		status = out
		return strings.Contains(out, "refused; request was")
	})
	cmd.Process.Signal(syscall.SIGTERM)
	<-exited
	if uploads.Load() < 2 {
		t.Fatalf("%d uploads, want a retried one and a final one", uploads.Load())
	}
	all := map[string]string{"log": logs.String(), "status": status}
	files, _ := filepath.Glob(filepath.Join(dir, "state", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all[f] = string(b)
	}
	if !strings.Contains(logs.String(), "[redacted]") {
		t.Errorf("the log does not show the echo, redacted:\n%s", logs.String())
	}
	for name, text := range all {
		if strings.Contains(text, token) {
			t.Errorf("%s holds the token", name)
		}
	}
}
