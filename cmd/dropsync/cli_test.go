package main

import (
	"os/exec"
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

// The man page and the completions come from the command table: every
// command and every flag of its flag set is in them, and each is valid
// for its tool.
func TestManPageAndCompletionCoverEveryCommand(t *testing.T) {
	man, _, code := runCLI(t, "man")
	bash, _, code2 := runCLI(t, "completion", "bash")
	zsh, _, code3 := runCLI(t, "completion", "zsh")
	if code != 0 || code2 != 0 || code3 != 0 {
		t.Fatalf("exit %d %d %d", code, code2, code3)
	}
	for n := range commands {
		if !strings.Contains(man, ".B dropsync "+strings.ReplaceAll(n, "-", `\-`)) {
			t.Errorf("the man page lacks %s", n)
		}
		if !strings.Contains(bash, "\t"+n+") words=") || !strings.Contains(zsh, "\t'"+n+":") {
			t.Errorf("a completion lacks %s", n)
		}
	}
	for _, want := range []string{`.B \-\-online`, `.B \-\-json`, `.B \-c FILE`, "SIGHUP"} {
		if !strings.Contains(man, want) {
			t.Errorf("the man page lacks %q", want)
		}
	}
	if !strings.Contains(bash, `validate) words="-c --online --help"`) {
		t.Errorf("bash completion of validate:\n%s", bash)
	}
	for _, sh := range []struct{ tool, script string }{{"bash", bash}, {"zsh", zsh}} {
		if p, err := exec.LookPath(sh.tool); err == nil {
			cmd := exec.Command(p, "-n")
			cmd.Stdin = strings.NewReader(sh.script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", sh.tool, err, out)
			}
		}
	}
	if p, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command(p, "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(man)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff warns: %v\n%s", err, out)
		}
	}
}
