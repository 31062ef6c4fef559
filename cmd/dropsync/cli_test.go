package main

import (
	"sort"
	"strings"
	"testing"
)

// -h and --help used to print on stderr, with exit status 2 for some
// commands and 0 for others, and there was no --version. Help goes to
// stdout with exit status 0 for every command of the table.
func TestHelpOnStdoutExitZeroForEveryCommand(t *testing.T) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, flag := range []string{"-h", "--help"} {
			stdout, stderr, code := runCLI(t, n, flag)
			if code != 0 || !strings.Contains(stdout, "Usage: dropsync "+n) || stderr != "" {
				t.Errorf("dropsync %s %s: exit %d, stdout %q, stderr %q; want the usage on stdout, exit 0", n, flag, code, stdout, stderr)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		stdout, stderr, code := runCLI(t, args...)
		if code != 0 || !strings.Contains(stdout, "Commands:") || stderr != "" {
			t.Errorf("dropsync %s: exit %d, stdout %q, stderr %q", args[0], code, stdout, stderr)
		}
	}
	if stdout, _, code := runCLI(t, "help", "status"); code != 0 || !strings.Contains(stdout, "Usage: dropsync status") {
		t.Errorf("dropsync help status: exit %d, %q", code, stdout)
	}
	// A wrong flag is still an error: on stderr, exit 2.
	if stdout, stderr, code := runCLI(t, "status", "--no-such-flag"); code != 2 || stdout != "" || !strings.Contains(stderr, "no-such-flag") {
		t.Errorf("a bad flag: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, _, code := runCLI(t); code != 2 {
		t.Errorf("dropsync without a command: exit %d, want 2", code)
	}
}

func TestVersionFlag(t *testing.T) {
	want, _, _ := runCLI(t, "version")
	for _, f := range []string{"--version", "-V"} {
		stdout, stderr, code := runCLI(t, f)
		if code != 0 || stdout != want || !strings.HasPrefix(stdout, "dropsync ") || stderr != "" {
			t.Errorf("dropsync %s: exit %d, %q (stderr %q); want what version prints", f, code, stdout, stderr)
		}
	}
}
