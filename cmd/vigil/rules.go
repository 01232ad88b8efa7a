package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/detect"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/lists"
	"github.com/vigil-soc/vigil/internal/locale"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/rules"
)

const (
	rulesTestSynopsis = "vigil rules test [--config FILE] [--rules PATH]... [--no-builtin] [--format NAME] [--charset NAME] [--in-order] [--language LANG] [--timezone ZONE] FILE..."
	rulesLintSynopsis = "vigil rules lint [--config FILE] [--no-builtin] [PATH...]"
	rulesListSynopsis = "vigil rules list [--config FILE] [--rules PATH]... [--no-builtin] [--language LANG]"
	rulesTestAbout    = `Runs log files (or standard input) through the server's parsers and the
rules, offline and in event time, and prints the alerts as JSON lines (their
titles and messages in display.language, or --language). Their times (and
the times in their messages) are in --timezone, with their offset (default:
display.timezone of --config, else this machine's zone). Lines are read as
vigil parse reads them (a line without <PRI> that starts with a date as BSD
syslog with rsyslog's default priority).`
	rulesLintAbout = `Checks rule files (the built-in pack, detect.rules_dir and the PATHs, files
or folders): YAML keys, values, expressions, templates and unique ids.`
	rulesListAbout = `Lists the rules that would run: id, type, level and title (in
display.language, or --language).`
	rulesUsage = "Usage:\n  " + rulesTestSynopsis + "\n  " + rulesLintSynopsis + "\n  " + rulesListSynopsis +
		"\n\nRun 'vigil rules COMMAND --help' for a command's flags.\n"
)

// rulesCmd dispatches the rules subcommands.
func rulesCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || wantsHelp(args[:1]) {
		return groupUsage(args, rulesUsage, stdout, stderr)
	}
	switch args[0] {
	case "test":
		return rulesTest(ctx, args[1:], stdin, stdout, stderr)
	case "lint":
		return rulesLint(args[1:], stdout, stderr)
	case "list":
		return rulesList(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "vigil rules: unknown subcommand %q (want test, lint or list)\n", args[0])
	return errUsage
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// loadRuleSet reads the built-in pack (unless off), the configured rule
// folder and the extra paths (files or folders), later ones overriding
// earlier ones by id, without the disabled ids: the detector's loader
// (detect.Loader), so lint reports what the server would.
func loadRuleSet(cfg config.Config, builtin bool, paths []string) ([]*detect.Rule, []error) {
	var l detect.Loader
	if builtin && cfg.Detect.BuiltinOn() {
		l.Builtin = rules.FS
	}
	if cfg.Detect.RulesDir != "" {
		paths = append([]string{cfg.Detect.RulesDir}, paths...)
	}
	l.Paths = paths
	all, errs := l.Load()
	return detect.Without(all, cfg.Detect.Disable), errs
}

// rulesTest runs log files through the server's parsers and the rules,
// offline and in event time, and prints the alerts as JSON lines.
func rulesTest(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("rules test", rulesTestSynopsis, rulesTestAbout, stderr)
	cfgFile := fs.String("config", "", "configuration file (parse.*, geoip.*, detect.* settings)")
	var extra stringsFlag
	fs.Var(&extra, "rules", "rule file or folder to add (repeatable; overrides a built-in rule with the same id)")
	noBuiltin := fs.Bool("no-builtin", false, "do not load the built-in rule pack")
	formatName := fs.String("format", "auto", "format of every line (auto: detect per line)")
	charsetName := fs.String("charset", "", charsetUsage)
	inOrder := fs.Bool("in-order", false, "feed events in input order instead of sorting them by event time")
	lang := fs.String("language", "", "language of the alerts' titles and messages: "+strings.Join(locale.Languages, " or ")+" (default: display.language)")
	zoneName := zoneFlags(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := parse.CheckFormat(*formatName); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		return err
	}
	language, err := displayLanguage(cfg, *lang)
	if err != nil {
		return err
	}
	loc, err := displayZone(*zoneName, cfg.Display)
	if err != nil {
		return err
	}
	ruleSet, errs := loadRuleSet(cfg, !*noBuiltin, extra)
	if len(errs) > 0 {
		return fmt.Errorf("rules do not load:\n  %w", joinLines(errs))
	}
	if len(ruleSet) == 0 {
		return errors.New("no rules to run")
	}
	popts, err := parseOptions(cfg)
	if err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, f := range append(files, "stdin") {
		popts.Formats[f] = *formatName
	}
	popts.FileInputs = fileInputs(append(files, "stdin"))
	if err := setCharset(&popts, cfg, *charsetName, append(files, "stdin")); err != nil {
		return err
	}
	var recs []journal.Record
	now := time.Now()
	for _, name := range files {
		in, input := stdin, "stdin"
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			in, input = f, name
		}
		err := readLines(ctx, in, func(data []byte, truncated bool) error {
			rec := journal.Record{Seq: uint64(len(recs) + 1), Time: now, Input: input, Data: append([]byte(nil), data...)}
			if truncated {
				rec.Flags |= journal.FlagTruncated
			}
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	eopts := detect.Options{Lateness: cfg.Detect.Lateness.D(), MaxClockSkew: cfg.Detect.MaxClockSkew.D(), Language: language, Location: loc}
	if cfg.Detect.ListsDir != "" {
		ls, err := lists.Load(cfg.Detect.ListsDir)
		if ls == nil {
			return fmt.Errorf("detect.lists_dir: %w", err)
		}
		if err != nil {
			fmt.Fprintf(stderr, "vigil rules test: lists: %v\n", err)
		}
		eopts.Lists = detect.ListsOf(ls)
	}
	if eopts.Geo, err = openGeo(cfg); err != nil {
		return err
	}
	defer eopts.Geo.Close()
	popts.Geo = eopts.Geo
	off := detect.NewOffline(parse.New(popts), recs)
	if !*inOrder {
		off.SortByTime()
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	n := 0
	var (
		encErr error
		out    []byte
	)
	eopts.Payloads = off.Payloads
	eopts.Emit = func(a *alert.Alert) {
		n++
		buf.Reset()
		if err := enc.Encode(a); err != nil {
			if encErr == nil {
				encErr = err
			}
			return
		}
		out = append(localizeJSON(out[:0], bytes.TrimSpace(buf.Bytes()), loc), '\n')
		w.Write(out)
	}
	eng, errs := detect.New(ruleSet, eopts)
	if len(errs) > 0 {
		return fmt.Errorf("rules do not compile:\n  %w", joinLines(errs))
	}
	off.Run(eng)
	fmt.Fprintf(stderr, "vigil rules test: %s, %s, %s\n", plural(len(off.Events()), "event"), plural(len(eng.Rules()), "rule"), plural(n, "alert"))
	return encErr
}

// rulesLint checks rule files: YAML keys, values, expressions, templates
// and unique ids.
func rulesLint(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rules lint", rulesLintSynopsis, rulesLintAbout, stderr)
	cfgFile := fs.String("config", "", "configuration file (detect.rules_dir is linted too)")
	noBuiltin := fs.Bool("no-builtin", false, "do not lint the built-in rule pack")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		return err
	}
	ruleSet, errs := loadRuleSet(cfg, !*noBuiltin, fs.Args())
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(stdout, err)
		}
		return fmt.Errorf("%s in rule files", plural(len(errs), "problem"))
	}
	fmt.Fprintf(stdout, "ok: %s\n", plural(len(ruleSet), "rule"))
	return nil
}

// rulesList prints the rules that would run.
func rulesList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rules list", rulesListSynopsis, rulesListAbout, stderr)
	cfgFile := fs.String("config", "", "configuration file")
	var extra stringsFlag
	fs.Var(&extra, "rules", "rule file or folder to add (repeatable)")
	noBuiltin := fs.Bool("no-builtin", false, "leave out the built-in rule pack")
	lang := fs.String("language", "", "language of the titles: "+strings.Join(locale.Languages, " or ")+" (default: display.language)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		return err
	}
	language, err := displayLanguage(cfg, *lang)
	if err != nil {
		return err
	}
	ruleSet, errs := loadRuleSet(cfg, !*noBuiltin, extra)
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for _, r := range ruleSet {
		state := ""
		if r.Disabled {
			state = " (disabled)"
		}
		fmt.Fprintf(w, "%-40s %-12s %-9s %s%s\n", r.ID, r.Type, r.Level, r.In(language).Title, state)
	}
	if len(errs) > 0 {
		return fmt.Errorf("rules do not load:\n  %w", joinLines(errs))
	}
	return nil
}

// displayLanguage returns the language a --language flag names, else the
// configuration's display.language.
func displayLanguage(cfg config.Config, flag string) (string, error) {
	if flag == "" {
		return cfg.Display.Language, nil
	}
	if l := locale.Supported(flag); l != "" {
		return l, nil
	}
	return "", fmt.Errorf("--language %q: want %s", flag, strings.Join(locale.Languages, " or "))
}

// joinLines joins errors one per line.
func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}
