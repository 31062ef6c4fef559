package cgoguard_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A build without cgo used to succeed and fail at run time ("Binary was
// compiled with 'CGO_ENABLED=0', go-sqlite3 requires cgo"). It fails at
// build time, saying why, and the dropsync command depends on the guard.
func TestBuildWithoutCgoFails(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	cmd := exec.Command(goTool, "build", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "dropsync_needs_cgo_for_SQLite__build_with_CGO_ENABLED_1_and_a_C_compiler") {
		t.Fatalf("CGO_ENABLED=0 go build: err %v, output:\n%s", err, out)
	}
	deps, err := exec.Command(goTool, "list", "-deps", "github.com/dropsync/dropsync/cmd/dropsync").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(deps), "github.com/dropsync/dropsync/internal/cgoguard\n") {
		t.Fatal("cmd/dropsync does not import internal/cgoguard")
	}
}
