// Command vigil is a journal-first log platform for mail-service SOCs: a
// syslog server, an indexed search store and a detection engine in one
// binary.
//
//	vigil serve   [--config FILE] [--data DIR] [--http ADDR] [--syslog ADDR]
//	vigil search  [--server URL] [--token T] [--start T] [--end T] [--timezone Z] [--limit N] QUERY
//	vigil demo    [--server URL] [--data DIR] [--lists DIR] [--seed N]
//	vigil journal cat [--data DIR] [--from SEQ] [--count N] [--json]
//	vigil users list|add|passwd|delete [--data DIR | --server URL] [NAME]
//	vigil bouncers list|add|delete [--data DIR | --server URL] [NAME]
//	vigil parse [--format NAME] [--config FILE] [FILE...]
//	vigil rules test|lint|list ...
//	vigil config check [--config FILE]
//	vigil version
//
// Every command answers --help; flags may also follow the other arguments.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vigil-soc/vigil/internal/config"
)

const usage = `Vigil: a journal-first SOC log platform.

Usage:
  vigil serve   [--config FILE] [--data DIR] [--http ADDR] [--syslog ADDR]
  vigil search  [--server URL] [--token TOKEN] [--start T] [--end T] [--timezone ZONE] [--limit N] [--order desc|asc|none] QUERY
  vigil demo    [--server URL] [--token TOKEN] [--data DIR] [--lists DIR] [--seed N] [--rate N]
  vigil journal cat [--data DIR] [--from SEQ] [--count N] [--json]
  vigil users   list|add|passwd|delete [--role R] [--password-file F] [--data DIR | --server URL] [NAME]
  vigil bouncers list|add|delete [--data DIR | --server URL] [NAME]
  vigil decisions list|add|delete [--server URL] [--token TOKEN] [--duration D] [--reason TEXT] [SCOPE VALUE | ID]
  vigil parse   [--format NAME] [--config FILE] [FILE...]
  vigil rules test [--config FILE] [--rules PATH]... [--no-builtin] [--format NAME] [--in-order] FILE...
  vigil rules lint [--config FILE] [--no-builtin] [PATH...]
  vigil rules list [--config FILE] [--rules PATH]... [--no-builtin]
  vigil config check [--config FILE]
  vigil version

Run 'vigil help COMMAND' or 'vigil COMMAND --help' for a command's flags.
Flags may come before or after a command's other arguments; -- ends them.
Times are printed with their offset, in --timezone (default: display.timezone
of --config, else this machine's zone).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCmd(ctx, args[1:], stdout, stderr)
	case "search":
		err = searchCmd(ctx, args[1:], stdout, stderr)
	case "demo":
		err = demoCmd(ctx, args[1:], stdout, stderr)
	case "parse":
		err = parseCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "rules":
		err = rulesCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "journal":
		err = journalCmd(ctx, args[1:], stdout, stderr)
	case "users":
		err = usersCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "bouncers":
		err = bouncersCmd(ctx, args[1:], stdout, stderr)
	case "decisions":
		err = decisionsCmd(ctx, args[1:], stdout, stderr)
	case "config":
		err = configCmd(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		err = versionCmd(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[0] == "help" && args[1] != "help" {
			// vigil help CMD [SUB]: the command's own --help.
			return run(ctx, append(args[1:len(args):len(args)], "--help"), stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	if ps, ok := errors.AsType[config.Problems](err); ok {
		printProblems(stderr, ps)
		fmt.Fprintf(stderr, "vigil %s: %s in the configuration\n", args[0], plural(len(ps), "problem"))
		return 1
	}
	fmt.Fprintf(stderr, "vigil %s: %v\n", args[0], err)
	return 1
}

// errUsage reports bad command-line arguments; the flag set has already
// printed what is wrong.
var errUsage = errors.New("usage")

// newFlagSet returns a flag set that reports errors instead of exiting.
// Its usage message is the synopsis, what the command does (about) and the
// flags. Vigil never uses flag.CommandLine: the embedded store registers
// its own flags there.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(w, "\nFlags (before or after the other arguments; -- ends them):\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args, flags and other arguments in any order: the
// other arguments are fs.Args() afterwards, and everything after "--" is
// one of them. -h, -help or --help print the usage to stdout and return
// flag.ErrHelp; bad flags print the usage to fs's output and return
// errUsage.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if wantsHelp(args) {
		fs.SetOutput(stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if len(rest) > 0 {
				fmt.Fprintln(fs.Output(), "(An argument that starts with '-' but is no flag goes after --.)")
			}
			return errUsage
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if i := len(args) - len(left) - 1; i >= 0 && args[i] == "--" {
			rest = append(rest, left...) // the flags ended at --
			break
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
	return fs.Parse(append([]string{"--"}, rest...))
}

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// groupUsage handles a command with subcommands (rules, journal, config)
// called without a known one: help to stdout on request, else the usage to
// stderr and errUsage.
func groupUsage(args []string, text string, stdout, stderr io.Writer) error {
	if len(args) > 0 && wantsHelp(args[:1]) {
		fmt.Fprint(stdout, text)
		return flag.ErrHelp
	}
	fmt.Fprint(stderr, text)
	return errUsage
}

// printProblems prints one configuration problem per line.
func printProblems(w io.Writer, ps config.Problems) {
	for _, p := range ps {
		fmt.Fprintln(w, p)
	}
}

// plural returns "1 problem", "2 problems".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
