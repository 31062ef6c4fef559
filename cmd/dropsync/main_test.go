package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/connections"
	"github.com/dropsync/dropsync/targets/fakehttp"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// The test binary doubles as dropsync: with DROPSYNC_RUN_MAIN=1 it runs
// main, so tests drive the real command in a real subprocess.
func TestMain(m *testing.M) {
	if os.Getenv("DROPSYNC_RUN_MAIN") == "1" {
		if at := os.Getenv("DROPSYNC_TEST_KILL_AT"); at != "" {
			// Crash tests: die at that step of an after_upload action.
			daemon.SetStepHook(func(step string) {
				if step == at {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			})
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dropsync returns a command running this binary as dropsync.
func dropsync(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "DROPSYNC_RUN_MAIN=1")
	return cmd
}

// startRun starts `dropsync run -c cfg` with its log captured; exited is
// closed when the process has ended. The test's end stops it (SIGTERM) if
// it still runs.
func startRun(t *testing.T, cfg string) (cmd *exec.Cmd, logs *syncBuffer, exited <-chan struct{}) {
	t.Helper()
	logs = &syncBuffer{}
	cmd = dropsync("run", "-c", cfg)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
	})
	return cmd, logs, done
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := dropsync(args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sensenetConfig(dir, url, token, extraTarget string) string {
	return fmt.Sprintf(`state_dir: %s
log: {level: debug, format: json}
shutdown_timeout: 2s
retry: {initial: 50ms, max: 500ms}
targets:
  docs:
    type: sensenet
    url: %s
    auth: {type: bearer, token: %s}
%swatches:
  - path: %s
    target: docs
    destination: {path: %s}
    settle: 200ms
`, filepath.Join(dir, "state"), url, token, extraTarget, filepath.Join(dir, "in"), sensenet.DocumentsPath)
}

func TestBadConfigsExitWithOneClearLine(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	good := sensenetConfig(dir, "http://127.0.0.1:1", "tok", "")
	cases := []struct{ name, old, new, want string }{
		{"unknown key", "    settle: 200ms", "    setle: 200ms", `line 14: unknown key "setle" in watches[0]`},
		{"bad size", "%s", "    chunk_size: ten megs\n", `bad size "ten megs"`},
		{"missing target", "    target: docs", "    target: dcos", `watches[0].target: "dcos" is not defined under targets (defined: docs)`},
		{"unreadable secret", "auth: {type: bearer, token: tok}", "auth: {type: bearer, token_file: /nonexistent/docs.token}", "line 9: targets.docs.auth.token_file: cannot read the secret file: no such file or directory"},
		{"adapter key", "%s", "    api_version: 1.2\n", `unknown key "api_version" in targets.docs`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var text string
			if tc.old == "%s" {
				text = sensenetConfig(dir, "http://127.0.0.1:1", "tok", tc.new)
			} else {
				text = strings.Replace(good, tc.old, tc.new, 1)
			}
			cfg := writeConfig(t, t.TempDir(), text)
			_, stderr, code := runCLI(t, "validate", "-c", cfg)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "dropsync: ") || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("exit %d, stderr %q\nwant one line containing %q", code, stderr, tc.want)
			}
		})
	}
	cfg := writeConfig(t, dir, good)
	if out, stderr, code := runCLI(t, "validate", "-c", cfg); code != 0 || !strings.Contains(out, "OK: 1 target(s), 1 watch(es)") {
		t.Fatalf("valid config: exit %d, %q %q", code, out, stderr)
	}
}

// validate says which mode each watch uses and why, and a watch folder
// that does not exist yet is no error.
func TestValidateSaysEachWatchMode(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	text := sensenetConfig(dir, "http://127.0.0.1:1", "tok", "") + "    mode: poll\n    poll_interval: 30s\n" +
		"  - path: " + filepath.Join(dir, "later") + "\n    target: docs\n    destination: {path: " + sensenet.DocumentsPath + "}\n"
	out, stderr, code := runCLI(t, "validate", "-c", writeConfig(t, dir, text))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"watch " + filepath.Join(dir, "in") + ": polling every 30s (mode: poll)",
		"watch " + filepath.Join(dir, "later") + ": the folder does not exist (yet); the daemon starts and this watch waits for it",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}

// A chunked upload killed with SIGKILL mid-way resumes after a restart and
// re-sends at most one chunk.
func TestSIGKILLMidChunkedUploadResumes(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer fake.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, sensenetConfig(dir, srv.URL, sensenet.DemoToken, "    chunk_threshold: 1MiB\n    chunk_size: 1MiB\n"))

	const size, killAt = 20 << 20, 8 << 20
	reached, release := make(chan struct{}), make(chan struct{})
	first := true
	fake.SetChunkHook(func(ev sensenet.ChunkEvent) {
		if ev.Offset == killAt && first {
			first = false
			close(reached)
			<-release
		}
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	sha := writeRandom(t, filepath.Join(dir, "in", "scan.tif"), size)

	d1, log1, d1exited := startRun(t, cfg)
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatalf("the upload never reached offset %d; log:\n%s", killAt, log1.String())
	}
	d1.Process.Signal(syscall.SIGKILL)
	<-d1exited // the kernel frees the state directory's lock
	close(release)

	_, log2, _ := startRun(t, cfg)
	daemontest.Eventually(t, "delivery after the restart", func() bool {
		c, ok := fake.Content(sensenet.DocumentsPath + "/scan.tif")
		return ok && c.Current().SHA256 == sha
	})
	chunks := fake.ChunkRequests(sensenet.DocumentsPath + "/scan.tif")
	twice, total := 0, 0
	for off, n := range chunks {
		total += n
		if n > 1 {
			twice++
		}
		if n > 2 {
			t.Errorf("chunk at %d sent %d times", off, n)
		}
	}
	if len(chunks) != size/(1<<20) || twice > 1 {
		t.Fatalf("chunks stored per offset %v: want all 20 offsets, at most one sent twice", chunks)
	}
	if n := fake.Requests(sensenet.OpCreate); n != 1 {
		t.Fatalf("%d upload sessions created, want 1 (resumed, not restarted)", n)
	}
	// The server has the file; the daemon records it and logs one line.
	daemontest.Eventually(t, "the delivery line in the log", func() bool { return strings.Contains(log2.String(), `"msg":"delivered"`) })
}

// Configured secrets appear nowhere: not in logs (debug, with an auth
// failure), not in status --json, not in the database.
func TestSecretsNeverLeak(t *testing.T) {
	const good, bad = "s3cr3t-G00D-token-7f2a", "s3cr3t-BAD-token-91c4"
	fake := sensenet.NewFake()
	fake.SetCredentials(good, "")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer fake.Close()
	dir := t.TempDir()
	for _, d := range []string{"in", "in2"} {
		os.Mkdir(filepath.Join(dir, d), 0o700)
	}
	text := sensenetConfig(dir, srv.URL, good, "") + fmt.Sprintf(`  - path: %s
    target: wrong
    destination: {path: %s}
    settle: 200ms
`, filepath.Join(dir, "in2"), sensenet.DocumentsPath)
	text = strings.Replace(text, "watches:", fmt.Sprintf("  wrong:\n    type: sensenet\n    url: %s\n    auth: {type: bearer, token_file: %s}\nwatches:", srv.URL, filepath.Join(dir, "bad.token")), 1)
	os.WriteFile(filepath.Join(dir, "bad.token"), []byte(bad+"\n"), 0o600)
	cfg := writeConfig(t, dir, text)

	var logs syncBuffer
	d := dropsync("run", "-c", cfg)
	d.Stderr = &logs
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	sha := writeRandom(t, filepath.Join(dir, "in", "ok.txt"), 100)
	writeRandom(t, filepath.Join(dir, "in2", "denied.txt"), 100)
	daemontest.Eventually(t, "one delivery and one target with its credentials rejected", func() bool {
		c, ok := fake.Content(sensenet.DocumentsPath + "/ok.txt")
		return ok && c.Current().SHA256 == sha && strings.Contains(logs.String(), `"msg":"target credentials rejected; its files wait"`)
	})
	status, _, code := runCLI(t, "status", "-c", cfg, "--json")
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	var st statusReport
	if err := json.Unmarshal([]byte(status), &st); err != nil || st.Counts[queue.Pending] != 1 || st.Counts[queue.Failed] != 0 {
		t.Fatalf("status %s (%v)", status, err)
	}
	db, _ := os.ReadFile(filepath.Join(dir, "state", queue.FileName))
	wal, _ := os.ReadFile(filepath.Join(dir, "state", queue.FileName+"-wal"))
	for name, text := range map[string]string{"log": logs.String(), "status --json": status, "database": string(db) + string(wal)} {
		for _, secret := range []string{good, bad} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains a configured secret", name)
			}
		}
	}
	if !strings.Contains(logs.String(), `"msg":"delivered"`) || !strings.Contains(status, "HTTP 401") {
		t.Fatalf("the test did not exercise both paths:\n%s\n%s", logs.String(), status)
	}
}

func TestQueueCommands(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, sensenetConfig(dir, "http://127.0.0.1:1", "tok", ""))
	q, err := queue.Open(context.Background(), filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	q.Enqueue(context.Background(), []queue.Item{{Watch: filepath.Join(dir, "in"), Rel: "a.txt", Target: "docs"}})
	j, _ := q.Claim(context.Background())
	q.Fail(context.Background(), j, "sensenet: upload: Access denied (HTTP 403)")
	q.Close()
	out, _, code := runCLI(t, "queue", "list", "--state", "failed", "-c", cfg)
	if code != 0 || !strings.Contains(out, "a.txt") || !strings.Contains(out, "Access denied (HTTP 403)") {
		t.Fatalf("list: %d %q", code, out)
	}
	out, _, code = runCLI(t, "queue", "retry", "--failed", "-c", cfg)
	if code != 0 || !strings.Contains(out, "re-queued 1 failed job(s)") {
		t.Fatalf("retry: %d %q", code, out)
	}
	out, _, _ = runCLI(t, "status", "-c", cfg)
	if !strings.Contains(out, "daemon: stopped   queue: 1 pending, 0 uploading, 0 done, 0 failed") {
		t.Fatalf("status: %q", out)
	}
	if _, stderr, code := runCLI(t, "queue", "forget", "x", "-c", cfg); code != 1 || !strings.Contains(stderr, `"x" is not a job ID`) {
		t.Fatalf("forget: %d %q", code, stderr)
	}
	if _, stderr, code := runCLI(t, "queue", "retry", "999", "-c", cfg); code != 1 || !strings.Contains(stderr, "1 of the job(s) given are not on the failed list") {
		t.Fatalf("retry of an unknown id: %d %q", code, stderr)
	}
	if _, stderr, code := runCLI(t, "stauts"); code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `unknown command "stauts"`) {
		t.Fatalf("unknown command: %d %q", code, stderr)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a subprocess writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeRandom places size random bytes at p whole, by a rename from a
// folder outside the watch (the same file system), and returns their
// SHA-256: written in place, a writer stalled longer than settle by a
// loaded machine would hand the daemon a partial file no test meant.
func writeRandom(t *testing.T, p string, size int64) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "writing-*")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o644); err != nil { // as os.Create with umask 022
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The README's first command: files arrive at all five fakes, the large
// ones chunked or in two phases (each called by its name), the demo's own
// configuration draws no warning, and Ctrl-C stops it cleanly.
func TestDemoShowsFilesArrivingAtAllFakes(t *testing.T) {
	var out syncBuffer
	dir := t.TempDir()
	cmd := dropsync("demo", "--dir", dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	want := []string{"sensenet", "oracle-documents", "sbm", "blueworks", "connections-activities"}
	daemontest.Eventually(t, "arrivals at all five fakes", func() bool {
		s := out.String()
		for _, typ := range want {
			if !strings.Contains(s, "✓ "+typ+" ") || !strings.Contains(s, "invoices/2026-11-001.txt") {
				return false
			}
		}
		return strings.Count(s, "scan-large.bin") >= 2 && strings.Contains(s, "24.0 MiB  arrived") && strings.Contains(s, "chunked)") &&
			strings.Contains(s, "two-phase)")
	})
	s := out.String()
	daemontest.Eventually(t, "the still-watching line", func() bool { return strings.Contains(out.String(), "Still watching.") })
	s = out.String()
	for _, line := range []string{"inbox:", "status:  dropsync status -c ", "Drop files into " + filepath.Join(dir, "inbox", "<api>") + string(filepath.Separator) + " and"} {
		if !strings.Contains(s, line) {
			t.Errorf("demo output lacks %q", line)
		}
	}
	if strings.Contains(s, "WARN") {
		t.Errorf("the demo warns about its own configuration:\n%s", s)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "connections-activities") && strings.Contains(l, "scan-large.bin") && strings.Contains(l, "chunked") {
			t.Errorf("a two-phase upload is called chunked: %s", l)
		}
	}
	if strings.Contains(s, "✗") {
		t.Errorf("a sample failed:\n%s", s)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo did not stop cleanly on Ctrl-C: %v\n%s", err, out.String())
	}
}

func TestFakeServerPrintsWhatItAccepts(t *testing.T) {
	var out syncBuffer
	cmd := dropsync("fake-server", "--api", "sbm", "--listen", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	daemontest.Eventually(t, "the banner", func() bool { return strings.Contains(out.String(), "Ctrl-C stops it") })
	s := out.String()
	for _, want := range []string{"fake sbm server listening on http://127.0.0.1:", "type: sbm", "destination: {"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if _, stderr, code := runCLI(t, "fake-server", "--api", "nosuch"); code != 1 || !strings.Contains(stderr, `no fake server for "nosuch"`) {
		t.Fatalf("unknown api: %d %q", code, stderr)
	}
}

// Connections two-phase: SIGKILL after phase 1, while phase 2 is in
// flight; the restarted daemon sends phase 2 again with the recorded token
// and no second field appears.
func TestSIGKILLBetweenPhasesOfTwoPhaseUpload(t *testing.T) {
	fake := connections.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, fmt.Sprintf(`state_dir: %s
log: {level: info, format: json}
retry: {initial: 50ms, max: 500ms}
targets:
  act:
    type: connections-activities
    url: %s
    auth: {type: basic, username: %s, password: %s}
    chunk_threshold: 1MiB
watches:
  - path: %s
    target: act
    destination: {activity_id: %s}
    settle: 200ms
`, filepath.Join(dir, "state"), srv.URL, connections.FakeUser, connections.FakePassword, filepath.Join(dir, "in"), connections.FakeActivityID))

	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fake.SetPhase2Hook(func(context.Context, connections.Phase2) {
		first := false
		once.Do(func() { first = true })
		if first {
			close(reached)
			<-release
		}
	})
	released := sync.OnceFunc(func() { close(release) })
	defer released()
	sha := writeRandom(t, filepath.Join(dir, "in", "minutes.pdf"), 8<<20)

	d1, _, d1exited := startRun(t, cfg)
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("phase 2 never started")
	}
	d1.Process.Signal(syscall.SIGKILL)
	<-d1exited
	released()

	_, logs, _ := startRun(t, cfg)
	daemontest.Eventually(t, "delivery after the restart", func() bool {
		fs := fake.Fields(connections.FakeActivityID)
		return len(fs) == 1 && fs[0].SHA256 == sha
	})
	daemontest.Eventually(t, "the delivery line", func() bool { return strings.Contains(logs.String(), `"msg":"delivered"`) })
	if fs := fake.Fields(connections.FakeActivityID); len(fs) != 1 {
		t.Fatalf("%d fields, want 1", len(fs))
	}
	if st := fake.Stats(); st.Phase1 != 1 || st.Phase2Stored != 1 {
		t.Fatalf("stats %+v: want one phase 1 (the token was reused) and one stored phase 2", st)
	}
}

// validate --online catches wrong credentials and a missing destination
// before the first upload does.
func TestValidateOnlineChecksCredentialsAndDestination(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	good := sensenetConfig(dir, srv.URL, sensenet.DemoToken, "")
	for name, tc := range map[string]struct{ text, want string }{
		"wrong token":         {sensenetConfig(dir, srv.URL, "WRONG", ""), "FAILED"},
		"missing destination": {strings.Replace(good, "{path: "+sensenet.DocumentsPath+"}", "{path: /Root/Content/Nope}", 1), "/Root/Content/Nope does not exist on the server"},
	} {
		out, _, code := runCLI(t, "validate", "--online", "-c", writeConfig(t, t.TempDir(), tc.text))
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, output %q, want %q", name, code, out, tc.want)
		}
	}
	out, stderr, code := runCLI(t, "validate", "--online", "-c", writeConfig(t, dir, good))
	if code != 0 || !strings.Contains(out, "destination OK") {
		t.Fatalf("good config: exit %d, %q %q", code, out, stderr)
	}
}

// `dropsync target list|resume` from another process: the list shows the
// pause with its date and what it waits for, and resume tells the running
// daemon, which sends the file at once.
func TestTargetCommandsTellTheRunningDaemon(t *testing.T) {
	fake := sensenet.NewFake()
	faults := fakehttp.Wrap(fake)
	var throttled atomic.Bool
	faults.Set(func(r *http.Request) fakehttp.Action {
		if r.Method == http.MethodPost && throttled.CompareAndSwap(false, true) {
			return fakehttp.Action{Status: http.StatusTooManyRequests, RetryAfter: "31536000"}
		}
		return fakehttp.Action{}
	})
	srv := httptest.NewServer(faults)
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, sensenetConfig(dir, srv.URL, sensenet.DemoToken, ""))
	startRun(t, cfg)
	sha := writeRandom(t, filepath.Join(dir, "in", "a.txt"), 1000)
	var out string
	daemontest.Eventually(t, "the pause in target list", func() bool {
		out, _, _ = runCLI(t, "target", "list", "-c", cfg)
		return strings.Contains(out, "throttled")
	})
	// The pause ends an hour from now (Retry-After is capped), on the
	// next day in UTC when the test runs in the day's last hour.
	in := func(day time.Time) bool { return strings.Contains(out, "resumes "+day.UTC().Format("2006-01-02")) }
	if !(in(time.Now()) || in(time.Now().Add(time.Hour))) || !(strings.Contains(out, "(in 59m") || strings.Contains(out, "(in 1h0m0s)")) || !strings.Contains(out, "Too Many Requests") {
		t.Fatalf("target list: %q", out)
	}
	js, _, _ := runCLI(t, "status", "--json", "-c", cfg)
	var st struct {
		Targets []struct{ Name, State string }
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil || len(st.Targets) != 1 || st.Targets[0].State != "throttled" {
		t.Fatalf("status --json targets: %v %s", err, js)
	}
	if out, _, code := runCLI(t, "target", "resume", "docs", "-c", cfg); code != 0 || !strings.Contains(out, "pause ended") {
		t.Fatalf("resume: %d %q", code, out)
	}
	daemontest.Eventually(t, "the delivery after resume", func() bool {
		c, ok := fake.Content(sensenet.DocumentsPath + "/a.txt")
		return ok && c.Current().SHA256 == sha
	})
	if _, stderr, code := runCLI(t, "target", "retry", "nosuch", "-c", cfg); code != 1 || !strings.Contains(stderr, `"nosuch" is not a target`) {
		t.Fatalf("retry of an unknown target: %d %q", code, stderr)
	}
}
