// Command dropsync watches drop folders and delivers every finished file to
// an enterprise content system through that system's own upload API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	_ "github.com/dropsync/dropsync/internal/cgoguard" // a build without cgo fails here
	_ "github.com/dropsync/dropsync/targets/all"       // register the adapters
)

// command is one subcommand. run gets the arguments after the command name
// and writes its normal output to stdout.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = map[string]command{}

// register adds a subcommand; each command file calls it from init.
func register(name, summary string, run func(ctx context.Context, args []string, stdout io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("duplicate command " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

// subUsage handles a command with subcommands called without one or with
// -h/--help/help: asked for, the usage goes to stdout (w) and nil is
// returned; missing, it goes to stderr with errUsage. ok is false when
// args name a subcommand to run.
func subUsage(w io.Writer, args []string, usage string) (ok bool, err error) {
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help" {
		return false, nil
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return true, errUsage
	}
	fmt.Fprintln(w, usage)
	return true, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runMain(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "dropsync: "+oneLine(err.Error()))
		}
		os.Exit(exitCode(err))
	}
}

func runMain(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		usage(os.Stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "--help", "-help":
		usage(stdout)
		return nil
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return nil
		}
		args = []string{args[1], "-h"} // dropsync help CMD = dropsync CMD -h
	case "--version", "-version", "-V":
		args = []string{"version"}
	}
	c, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q (dropsync help lists the commands)", args[0])
	}
	return c.run(ctx, args[1:], stdout)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "dropsync delivers finished files from watched folders to content systems.\n\nUsage: dropsync COMMAND [options]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'dropsync COMMAND -h' for a command's options; 'dropsync --version' for the version.")
}

// exitCodeError carries a specific exit status.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0 // help was asked for and shown
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// oneLine folds a message onto one line for a terminal: white space runs
// become one space, and any other character that does not print (an
// escape sequence's ESC, a bidi override) is written as its Go escape.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.IndexFunc(s, unprintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unprintable(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// shown is a path as printed for a terminal: as it is, or, when it holds
// a character that does not print (a newline, a tab, ESC, a bidi
// override) or bytes that are not UTF-8, quoted in Go syntax. Whoever can
// write into a drop folder chooses its file names: a name must not forge
// a line or a column of status or queue list, nor drive the terminal.
func shown(p string) string {
	if !utf8.ValidString(p) || strings.IndexFunc(p, unprintable) >= 0 {
		return strconv.Quote(p)
	}
	return p
}

func unprintable(r rune) bool { return r != ' ' && !strconv.IsPrint(r) }

// newFlags returns a FlagSet for a subcommand that reports errors itself.
func newFlags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("dropsync "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: dropsync %s %s\n", name, args)
		fs.PrintDefaults()
	}
	usages[fs] = args
	return fs
}

// usages holds each FlagSet's argument synopsis, for the man page.
var usages = map[*flag.FlagSet]string{}

// describeFlags, when set, receives the FlagSet of the command being
// described (man page, completion) instead of parsing it.
var describeFlags func(*flag.FlagSet)

// parseFlags parses args, allowing flags after positional arguments. -h
// and --help print the usage on stdout and return flag.ErrHelp (exit 0); a
// bad flag prints the error and the usage on stderr (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	if describeFlags != nil {
		describeFlags(fs)
		return nil, flag.ErrHelp
	}
	var pos []string
	for {
		var msg strings.Builder
		fs.SetOutput(&msg)
		err := fs.Parse(args)
		fs.SetOutput(os.Stderr)
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(os.Stdout, msg.String())
			return nil, flag.ErrHelp
		}
		if err != nil {
			io.WriteString(os.Stderr, msg.String())
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
