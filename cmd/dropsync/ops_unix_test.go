//go:build linux

package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// notifySocket is a fake systemd NOTIFY_SOCKET that collects the
// datagrams the daemon sends.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &notifySocket{path: p, msgs: make(chan string, 1000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	return s
}

// expect waits for a datagram containing every one of want, and returns
// it; datagrams before it are skipped.
func (s *notifySocket) expect(t *testing.T, what string, want ...string) string {
	t.Helper()
	deadline := time.After(daemontest.Timeout)
	for {
		select {
		case m := <-s.msgs:
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(m, w)
			}
			if ok {
				return m
			}
		case <-deadline:
			t.Fatalf("no sd_notify message with %q (%s)", want, what)
		}
	}
}

// The daemon as systemd sees it: READY with a STATUS line once started,
// WATCHDOG pings when WatchdogSec is set, SIGHUP reloads (it used to kill
// the daemon at once: a clean exit that Restart=on-failure leaves down)
// between RELOADING and READY, a broken configuration is refused with one
// line while the old one keeps running, and SIGTERM says STOPPING and logs
// that the stop begins.
func TestSystemdNotifyReloadAndStop(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	for _, d := range []string{"in", "in2"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	base := sensenetConfig(dir, srv.URL, sensenet.DemoToken, "")
	cfg := writeConfig(t, dir, base)
	sock := newNotifySocket(t)

	logs := &syncBuffer{}
	cmd := dropsync("run", "-c", cfg)
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=400000")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	sock.expect(t, "ready", "READY=1", "STATUS=watching 1 folder(s); 0 pending")
	sock.expect(t, "watchdog ping", "WATCHDOG=1")

	// Reload: a second watch.
	second := base + fmt.Sprintf("  - path: %s\n    target: docs\n    destination: {path: %s}\n    settle: 200ms\n", filepath.Join(dir, "in2"), sensenet.DocumentsPath)
	writeConfig(t, dir, second)
	cmd.Process.Signal(syscall.SIGHUP)
	sock.expect(t, "reloading", "RELOADING=1", "MONOTONIC_USEC=")
	sock.expect(t, "ready after the reload", "READY=1", "STATUS=watching 2 folder(s)")
	if err := os.WriteFile(filepath.Join(dir, "in2", "new.txt"), []byte("via the added watch"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "delivery from the added watch", func() bool {
		_, ok := fake.Content(sensenet.DocumentsPath + "/new.txt")
		return ok
	})
	if !strings.Contains(logs.String(), `"msg":"configuration reloaded"`) || !strings.Contains(logs.String(), `"watches_added":["`+filepath.Join(dir, "in2")) {
		t.Errorf("the reload is not logged with what changed:\n%s", logs.String())
	}

	// A broken configuration is refused; the running one stays.
	writeConfig(t, dir, "bogus_key: 1\n"+second)
	cmd.Process.Signal(syscall.SIGHUP)
	sock.expect(t, "ready after the refused reload", "READY=1", "STATUS=reload refused")
	daemontest.Eventually(t, "the refusal in the log", func() bool { return strings.Contains(logs.String(), "reload refused") })
	refused := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "reload refused") {
			refused++
			if !strings.Contains(l, "bogus_key") {
				t.Errorf("the refusal does not say why: %s", l)
			}
		}
	}
	if refused != 1 {
		t.Errorf("%d log lines about the refused reload, want one:\n%s", refused, logs.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "in2", "still.txt"), []byte("the old config runs"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "delivery after the refused reload", func() bool {
		_, ok := fake.Content(sensenet.DocumentsPath + "/still.txt")
		return ok
	})

	cmd.Process.Signal(syscall.SIGTERM)
	sock.expect(t, "stopping", "STOPPING=1")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("run exited with %v after SIGTERM:\n%s", err, logs.String())
		}
	case <-time.After(daemontest.Timeout):
		t.Fatal("run did not stop after SIGTERM")
	}
	if !strings.Contains(logs.String(), `"msg":"stopping: no new uploads start; waiting for the uploads in flight"`) {
		t.Errorf("no log line when the stop begins:\n%s", logs.String())
	}
}

// SIGHUP used to kill the daemon at once, with no log line and no drain.
// It reloads the configuration and the daemon keeps running.
func TestSIGHUPReloadsInsteadOfKilling(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, sensenetConfig(dir, srv.URL, sensenet.DemoToken, ""))
	cmd, logs, exited := startRun(t, cfg)
	daemontest.Eventually(t, "the start", func() bool { return strings.Contains(logs.String(), "dropsync started") })
	cmd.Process.Signal(syscall.SIGHUP)
	daemontest.Eventually(t, "the reload (or the end of the process)", func() bool {
		select {
		case <-exited:
			t.Fatalf("SIGHUP ended the daemon:\n%s", logs.String())
		default:
		}
		return strings.Contains(logs.String(), `"msg":"configuration reloaded"`)
	})
	if err := os.WriteFile(filepath.Join(dir, "in", "after-hup.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "a delivery after SIGHUP", func() bool {
		_, ok := fake.Content(sensenet.DocumentsPath + "/after-hup.txt")
		return ok
	})
}

// A token_file that became a FIFO used to block the reload for good (the
// open waited for a writer): the reload is now refused at once, naming the
// key, and the running configuration stays.
func TestReloadRefusesFIFOSecretFile(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	tok := filepath.Join(dir, "tok")
	os.WriteFile(tok, []byte(sensenet.DemoToken+"\n"), 0o600)
	text := strings.Replace(sensenetConfig(dir, srv.URL, sensenet.DemoToken, ""), "auth: {type: bearer, token: "+sensenet.DemoToken+"}", "auth: {type: bearer, token_file: "+tok+"}", 1)
	cfg := writeConfig(t, dir, text)
	cmd, logs, _ := startRun(t, cfg)
	daemontest.Eventually(t, "the start", func() bool { return strings.Contains(logs.String(), "dropsync started") })
	os.Remove(tok)
	if err := syscall.Mkfifo(tok, 0o600); err != nil {
		t.Skip(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	daemontest.Eventually(t, "the reload refused", func() bool {
		return strings.Contains(logs.String(), "reload refused") && strings.Contains(logs.String(), "not a regular file")
	})
}

// Once a stop has begun (STOPPING=1), a reload that was under way or a
// SIGHUP that arrives then says nothing more to systemd: a RELOADING=1 or
// READY=1 after STOPPING=1 told systemd that a stopping service was
// reloading, or running again.
func TestNothingButStatusFollowsStopping(t *testing.T) {
	sock := newNotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock.path)
	n := &notifier{log: slog.New(slog.NewTextHandler(io.Discard, nil))} // no daemon: a STATUS summary would need one
	n.Stopping()
	sock.expect(t, "stopping", "STOPPING=1")
	for i, say := range []func(){n.Reloading, func() { n.Reloaded(daemon.ErrNotRunning) }, n.Ready} {
		say()
		probe := fmt.Sprintf("STATUS=probe %d", i) // datagrams come in order: the probe is the next one
		n.send(probe)
		if m := sock.expect(t, "the probe", "STATUS="); m != probe {
			t.Fatalf("after STOPPING=1 the notifier sent %q", m)
		}
	}
}
