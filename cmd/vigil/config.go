package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/preflight"
)

const (
	configCheckSynopsis = "vigil config check [--config FILE]"
	configCheckAbout    = `Checks a configuration file (without --config: the built-in defaults) the way
vigil serve does before it starts: unknown keys, values, the ids in
detect.disable, the rule files in detect.rules_dir, the folders, databases,
certificates and keys it names. Prints every problem on its own line
(FILE:LINE: KEY: PROBLEM) and exits 1, or prints ok and exits 0.`
	configUsage = "Usage:\n  " + configCheckSynopsis + "\n\n" + configCheckAbout + "\n"
)

// configCmd dispatches the config subcommands.
func configCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && !wantsHelp(args[:1]) {
			fmt.Fprintf(stderr, "vigil config: unknown subcommand %q (want check)\n", args[0])
			return errUsage
		}
		return groupUsage(args, configUsage, stdout, stderr)
	}
	fs := newFlagSet("config check", configCheckSynopsis, configCheckAbout, stderr)
	file := fs.String("config", "", "configuration file (default: check the built-in defaults)")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	_, err := preflight.Load(*file, nil)
	name := *file
	if name == "" {
		name = "the built-in defaults"
	}
	if ps, ok := errors.AsType[config.Problems](err); ok {
		printProblems(stdout, ps)
		return fmt.Errorf("%s in %s", plural(len(ps), "problem"), name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s\n", name)
	return nil
}
