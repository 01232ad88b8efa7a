// Command vigil is a journal-first log platform for mail-service SOCs: a
// syslog server, an indexed search store and (later) a detection engine in
// one binary.
//
//	vigil serve   [--config FILE] [--data DIR] [--http ADDR] [--syslog ADDR]
//	vigil search  [--server URL] [--token T] [--start T] [--end T] [--limit N] QUERY
//	vigil journal cat [--data DIR] [--from SEQ] [--count N] [--json]
//	vigil parse [--format NAME] [--config FILE] [FILE...]
//	vigil version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Vigil: a journal-first SOC log platform.

Usage:
  vigil serve   [--config FILE] [--data DIR] [--http ADDR] [--syslog ADDR]
  vigil search  [--server URL] [--token TOKEN] [--start T] [--end T] [--limit N] [--order desc|asc|none] QUERY
  vigil journal cat [--data DIR] [--from SEQ] [--count N] [--json]
  vigil parse   [--format NAME] [--config FILE] [FILE...]
  vigil rules test [--config FILE] [--rules PATH]... [--no-builtin] FILE...
  vigil rules lint [--config FILE] [--no-builtin] [PATH...]
  vigil rules list [--config FILE] [--rules PATH]... [--no-builtin]
  vigil version

Run 'vigil COMMAND --help' for a command's flags.
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
		err = serveCmd(ctx, args[1:], stderr)
	case "search":
		err = searchCmd(ctx, args[1:], stdout, stderr)
	case "parse":
		err = parseCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "rules":
		err = rulesCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "journal":
		err = journalCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
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
	default:
		fmt.Fprintf(stderr, "vigil %s: %v\n", args[0], err)
		return 1
	}
}

// errUsage reports bad command-line arguments; the flag set has already
// printed what is wrong.
var errUsage = errors.New("usage")

// newFlagSet returns a flag set that reports errors instead of exiting.
// Vigil never uses flag.CommandLine: the embedded store registers its own
// flags there.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps flag errors to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}
