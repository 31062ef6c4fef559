package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/internal/sandbox"
	"github.com/dropsync/dropsync/targets/oracledocs"
)

// validate --online for Oracle used to check the credentials only; a wrong
// folder_id passed and failed at the first upload.
func TestValidateOnlineChecksOracleFolderID(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := func(folder string) string {
		return fmt.Sprintf(`state_dir: %s
targets:
  oce:
    type: oracle-documents
    url: %s
    auth: {type: basic, username: %s, password: %s}
watches:
  - path: %s
    target: oce
    destination: {folder_id: %s}
`, filepath.Join(dir, "state"), srv.URL, oracledocs.FakeUser, oracledocs.FakePassword, filepath.Join(dir, "in"), folder)
	}
	out, stderr, code := runCLI(t, "validate", "--online", "-c", writeConfig(t, t.TempDir(), cfg("F0000000000000000000000000000000000000000000")))
	if code != 1 || !strings.Contains(out, "destination.folder_id: F0000000000000000000000000000000000000000000 does not exist on the server") {
		t.Errorf("a wrong folder_id: exit %d, %q %q", code, out, stderr)
	}
	out, stderr, code = runCLI(t, "validate", "--online", "-c", writeConfig(t, t.TempDir(), cfg(oracledocs.FakeFolderID)))
	if code != 0 || !strings.Contains(out, "destination OK") {
		t.Errorf("the right folder_id: exit %d, %q %q", code, out, stderr)
	}
}

// validate accepted metrics.listen: 127.0.0.1:99999, and the daemon then
// failed at start.
func TestValidateRejectsMetricsPortOutOfRange(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	for _, listen := range []string{"127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:http-alt"} {
		text := strings.Replace(sensenetConfig(dir, "http://127.0.0.1:1", "x", ""), "shutdown_timeout: 2s", "shutdown_timeout: 2s\nmetrics: {listen: \""+listen+"\"}", 1)
		_, stderr, code := runCLI(t, "validate", "-c", writeConfig(t, t.TempDir(), text))
		if code != 1 || !strings.Contains(stderr, "metrics.listen") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("metrics.listen %s: exit %d, %q; want one line naming metrics.listen", listen, code, stderr)
		}
	}
	text := strings.Replace(sensenetConfig(dir, "http://127.0.0.1:1", "x", ""), "shutdown_timeout: 2s", "shutdown_timeout: 2s\nmetrics: {listen: \"127.0.0.1:9464\"}", 1)
	if _, stderr, code := runCLI(t, "validate", "-c", writeConfig(t, t.TempDir(), text)); code != 0 {
		t.Errorf("metrics.listen 127.0.0.1:9464: exit %d, %q", code, stderr)
	}
}

// validate passed folders that the service's sandbox then refused (a
// move_to missing from ReadWritePaths); with the installed unit's settings
// it names the setting and the drop-in that fixes it.
func TestValidateNamesTheSandboxSetting(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"in", "done"} {
		os.Mkdir(filepath.Join(dir, d), 0o700)
	}
	text := strings.Replace(sensenetConfig(dir, "http://127.0.0.1:1", "x", ""), "    settle: 200ms\n",
		"    settle: 200ms\n    after_upload: move\n    move_to: "+filepath.Join(dir, "done")+"\n", 1)
	cfg := writeConfig(t, dir, text)
	prev := serviceSandbox
	defer func() { serviceSandbox = prev }()
	serviceSandbox = func(context.Context, string) *sandbox.Unit {
		return sandbox.ParseShow("Id=dropsync.service\nLoadState=loaded\nProtectHome=yes\nPrivateTmp=no\nProtectSystem=strict\nReadWritePaths=-/var/spool/dropsync " + filepath.Join(dir, "in") + "\n")
	}
	var out bytes.Buffer
	err := cmdValidate(context.Background(), []string{"-c", cfg}, &out)
	if err == nil {
		t.Fatalf("validate passed a move_to outside ReadWritePaths: %s", out.String())
	}
	for _, want := range []string{"watches[0].move_to " + filepath.Join(dir, "done"), "ProtectSystem=strict", "systemctl edit dropsync", "ReadWritePaths=" + filepath.Join(dir, "done")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	serviceSandbox = func(context.Context, string) *sandbox.Unit { return nil } // no unit runs this config
	if err := cmdValidate(context.Background(), []string{"-c", cfg}, &out); err != nil {
		t.Fatalf("without a unit: %v", err)
	}
}

// validate --online shows no URL of an unreachable target: its query may
// hold a ${ENV} secret (a key), and net/http's error quotes the URL.
func TestValidateOnlineShowsNoURLOfAnUnreachableTarget(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	t.Setenv("DS_KEY", "Val1date-S3cret-Api-Key")
	cfg := writeConfig(t, dir, sensenetConfig(dir, `"http://127.0.0.1:1/odata.svc?apikey=${DS_KEY}"`, "tok-abcdef", ""))
	out, errOut, code := runCLI(t, "validate", "--online", "-c", cfg)
	if code == 0 || !strings.Contains(out+errOut, "unreachable") {
		t.Fatalf("exit %d, output %s%s; want an unreachable target", code, out, errOut)
	}
	if strings.Contains(out+errOut, "S3cret") {
		t.Errorf("validate --online shows the ${DS_KEY} value:\n%s%s", out, errOut)
	}
}
