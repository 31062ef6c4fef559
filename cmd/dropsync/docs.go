package main

// The man page and the shell completions are generated from the command
// table and each command's own flag set, so they list what the binary
// accepts: `dropsync man`, `dropsync completion bash|zsh`.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/dropsync/dropsync/internal/version"
)

func init() {
	register("man", "print the man page (roff): dropsync man > dropsync.1", cmdMan)
	register("completion", "print shell completion: completion bash | completion zsh", cmdCompletion)
}

// subcommands are the actions some commands take as their first argument.
var subcommands = map[string][]string{
	"queue":      {"list", "retry", "forget"},
	"service":    {"install", "uninstall", "start", "stop", "restart", "status"},
	"target":     {"list", "retry", "resume"},
	"completion": {"bash", "zsh"},
}

// cmdDoc is one command as the docs show it.
type cmdDoc struct {
	name, summary, synopsis string
	subs                    []string
	flags                   []*flag.Flag
}

// describe reads every command's flag set without running the command.
func describe(ctx context.Context) []cmdDoc {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []cmdDoc
	for _, n := range names {
		d := cmdDoc{name: n, summary: commands[n].summary, subs: subcommands[n]}
		var seen *flag.FlagSet
		describeFlags = func(fs *flag.FlagSet) { seen = fs }
		args := []string{"-h"}
		if len(d.subs) > 0 {
			args = []string{d.subs[0], "-h"}
		}
		if n != "man" && n != "completion" {
			commands[n].run(ctx, args, io.Discard)
		}
		describeFlags = nil
		if seen != nil {
			d.synopsis = usages[seen]
			seen.VisitAll(func(f *flag.Flag) { d.flags = append(d.flags, f) })
		}
		if len(d.subs) > 0 && !strings.Contains(d.synopsis, d.subs[0]) {
			d.synopsis = strings.Join(d.subs, "|") + " " + d.synopsis
		}
		out = append(out, d)
	}
	return out
}

func cmdMan(ctx context.Context, args []string, w io.Writer) error {
	if _, err := parseFlags(newFlags("man", ""), args); err != nil {
		return err
	}
	writeMan(w, describe(ctx))
	return nil
}

func cmdCompletion(ctx context.Context, args []string, w io.Writer) error {
	pos, err := parseFlags(newFlags("completion", "bash|zsh"), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("completion: name the shell: bash or zsh")
	}
	switch pos[0] {
	case "bash":
		writeBash(w, describe(ctx))
	case "zsh":
		writeZsh(w, describe(ctx))
	default:
		return fmt.Errorf("completion: %q is not a shell this knows (bash, zsh)", pos[0])
	}
	return nil
}

// flagName is how the docs write a flag: -c, --json.
func flagName(f *flag.Flag) string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

// takesValue reports whether a flag needs an argument.
func takesValue(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// roff escapes text for a man page line.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	var b strings.Builder
	for _, r := range s {
		if r > 127 {
			fmt.Fprintf(&b, `\[u%04X]`, r) // groff's name for the character
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func writeMan(w io.Writer, docs []cmdDoc) {
	fmt.Fprintf(w, ".TH DROPSYNC 1 \"\" \"dropsync %s\" \"User Commands\"\n", roff(version.Version))
	fmt.Fprint(w, `.SH NAME
dropsync \- deliver finished files from drop folders to content systems
.SH SYNOPSIS
.B dropsync
.I COMMAND
.RI [ options ]
.br
.B dropsync \-\-help
|
.B \-\-version
.SH DESCRIPTION
dropsync watches drop folders and delivers every finished file to an
enterprise content system (sensenet, Oracle Content Management, SBM, IBM
Blueworks, HCL Connections Activities) through that system's own upload
API, exactly once in effect, across crashes, reboots and server outages.
Errors are one line on standard error with a non\-zero exit status;
.B \-h
or
.B \-\-help
after any command prints its usage on standard output.
.SH COMMANDS
`)
	for _, d := range docs {
		fmt.Fprintf(w, ".TP\n.B dropsync %s\n", roff(strings.TrimSpace(d.name+" "+d.synopsis)))
		fmt.Fprintln(w, roff(d.summary))
		if len(d.flags) == 0 {
			continue
		}
		fmt.Fprintln(w, ".RS")
		for _, f := range d.flags {
			arg := ""
			if takesValue(f) {
				arg = " " + strings.ToUpper(f.Name)
				if f.Name == "c" {
					arg = " FILE"
				}
			}
			fmt.Fprintf(w, ".TP\n.B %s%s\n%s", roff(flagName(f)), roff(arg), roff(f.Usage))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(w, " (default: %s)", roff(f.DefValue))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, ".RE")
	}
	fmt.Fprint(w, `.SH SIGNALS
.TP
.B SIGHUP
reload the configuration (also
.BR "systemctl reload dropsync" ):
added watches start, removed ones stop after their upload in flight,
changed targets get new clients for new jobs; an invalid configuration is
refused with one log line and the running one stays.
.TP
.BR SIGTERM ", " SIGINT
stop claiming work, give uploads in flight shutdown_timeout to finish, stop.
.SH ENVIRONMENT
.TP
.B NOTIFY_SOCKET
set by systemd for Type=notify: dropsync reports READY, STATUS, RELOADING,
STOPPING and, with WatchdogSec, WATCHDOG.
.TP
.B JOURNAL_STREAM
set by systemd when standard error is the journal: log lines carry
journald priorities and no timestamp of their own.
.SH FILES
.TP
.I /etc/dropsync/config.yaml
the configuration (see config.example.yaml in the documentation)
.TP
.I /var/lib/dropsync/dropsync.db
the queue (SQLite)
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1)
`)
}

func writeBash(w io.Writer, docs []cmdDoc) {
	var names []string
	for _, d := range docs {
		names = append(names, d.name)
	}
	fmt.Fprintf(w, `# bash completion for dropsync (generated by: dropsync completion bash)
_dropsync() {
	local cur prev cmd words
	cur="${COMP_WORDS[COMP_CWORD]}"
	prev="${COMP_WORDS[COMP_CWORD-1]}"
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "%s --help --version" -- "$cur"))
		return
	fi
	case "$prev" in
	-c|--dir) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	esac
	cmd="${COMP_WORDS[1]}"
	case "$cmd" in
`, strings.Join(names, " "))
	for _, d := range docs {
		words := append([]string{}, d.subs...)
		for _, f := range d.flags {
			words = append(words, flagName(f))
		}
		words = append(words, "--help")
		fmt.Fprintf(w, "\t%s) words=%q ;;\n", d.name, strings.Join(words, " "))
	}
	fmt.Fprint(w, `	*) words="--help" ;;
	esac
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _dropsync dropsync
`)
}

// zshQuote escapes a description for a zsh _arguments spec in single
// quotes.
func zshQuote(s string) string {
	return strings.NewReplacer(`'`, `'\''`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
}

func writeZsh(w io.Writer, docs []cmdDoc) {
	fmt.Fprint(w, "#compdef dropsync\n# zsh completion for dropsync (generated by: dropsync completion zsh)\n_dropsync() {\n\tlocal -a cmds\n\tcmds=(\n")
	for _, d := range docs {
		fmt.Fprintf(w, "\t\t'%s:%s'\n", d.name, zshQuote(d.summary))
	}
	fmt.Fprint(w, "\t)\n\tif (( CURRENT == 2 )); then\n\t\t_describe 'command' cmds\n\t\treturn\n\tfi\n\tshift words\n\t(( CURRENT-- ))\n\tcase $words[1] in\n")
	for _, d := range docs {
		fmt.Fprintf(w, "\t%s)\n\t\t_arguments", d.name)
		for _, f := range d.flags {
			spec := fmt.Sprintf("%s[%s]", flagName(f), zshQuote(f.Usage))
			if takesValue(f) {
				action := ""
				if f.Name == "c" || f.Name == "dir" {
					action = "_files"
				}
				spec += ":" + f.Name + ":" + action
			}
			fmt.Fprintf(w, " \\\n\t\t\t'%s'", spec)
		}
		if len(d.subs) > 0 {
			fmt.Fprintf(w, " \\\n\t\t\t'1:action:(%s)'", strings.Join(d.subs, " "))
		}
		fmt.Fprint(w, "\n\t\t;;\n")
	}
	fmt.Fprint(w, "\tesac\n}\n_dropsync \"$@\"\n")
}
