package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/store"
)

const (
	parseSynopsis = "vigil parse [--format NAME] [--charset NAME] [--config FILE] [--timezone ZONE] [FILE...]"
	parseAbout    = `Parses log lines (the files, or standard input; - is standard input) as the
server would and prints one normalized event per line as JSON, in input
order. Lines that do not parse are printed with vigil.parse_error. A line
without a syslog <PRI> that starts with a date, as in /var/log/auth.log,
is read as a BSD syslog message with rsyslog's default priority 13
(user.notice) and marked vigil.priority_assumed. Times
are printed in RFC 3339 with their offset, in --timezone (default:
display.timezone of --config, else this machine's zone); times in the
lines without an offset are read as the server reads them
(inputs.syslog[0].timezone).`
)

// maxParseLine bounds one input line, like the largest syslog message.
const maxParseLine = 16 << 20

// parseCmd prints one normalized event per input line, as JSON, in input
// order, with the parser the server uses. Lines that do not parse are
// printed with their text and vigil.parse_error, never skipped.
func parseCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("parse", parseSynopsis, parseAbout, stderr)
	formatName := fs.String("format", "auto", "format of every line (auto: detect per line); see docs/schema.md")
	cfgFile := fs.String("config", "", "configuration file for parse.* settings, the time zone and the charset of the lines (inputs.syslog[0].timezone, .charset), geoip.databases and display.timezone")
	charsetName := fs.String("charset", "", charsetUsage)
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
	opts, err := parseOptions(cfg)
	if err != nil {
		return err
	}
	loc, err := displayZone(*zoneName, cfg.Display)
	if err != nil {
		return err
	}
	if opts.Geo, err = openGeo(cfg); err != nil {
		return err
	}
	defer opts.Geo.Close()
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	opts.Formats = map[string]string{}
	for _, f := range files {
		opts.Formats[f] = *formatName
	}
	opts.Formats["stdin"] = *formatName
	opts.FileInputs = fileInputs(append(files, "stdin"))
	if err := setCharset(&opts, cfg, *charsetName, append(files, "stdin")); err != nil {
		return err
	}
	p := parse.New(opts)
	w := bufio.NewWriterSize(stdout, 256<<10)
	defer w.Flush()
	var seq uint64
	for _, name := range files {
		in := stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		input := name
		if name == "-" {
			input = "stdin"
		}
		if err := parseStream(ctx, p, input, in, w, &seq, loc); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// charsetUsage describes the --charset flag of parse and rules test.
const charsetUsage = "character set of the lines: utf-8, gbk, gb18030, big5 (default: inputs.syslog[0].charset of --config, else utf-8)"

// fileInputs marks the inputs (files, stdin) as lines of log files, whose
// lines have no <PRI> (parse.Options.FileInputs).
func fileInputs(inputs []string) map[string]bool {
	m := make(map[string]bool, len(inputs))
	for _, in := range inputs {
		m[in] = true
	}
	return m
}

// setCharset gives the inputs (files, stdin) the named charset, or the
// first syslog input's when name is "".
func setCharset(opts *parse.Options, cfg config.Config, name string, inputs []string) error {
	if name == "" && len(cfg.Inputs.Syslog) > 0 {
		name = cfg.Inputs.Syslog[0].Charset
	}
	cs, err := charset.Lookup(name)
	if err != nil {
		return fmt.Errorf("--charset: %w", err)
	}
	if opts.Charsets == nil {
		opts.Charsets = charset.Inputs{}
	}
	for _, in := range inputs {
		opts.Charsets[in] = cs
	}
	return nil
}

// parseStream parses each line of in as one record of the input name and
// prints it with its times in loc.
func parseStream(ctx context.Context, p *parse.Parser, name string, in io.Reader, w *bufio.Writer, seq *uint64, loc *time.Location) error {
	var (
		row   store.Row
		ev    []byte
		out   []byte
		since int // bytes parsed since the arena was reset
	)
	return readLines(ctx, in, func(data []byte, truncated bool) error {
		*seq++
		rec := journal.Record{Seq: *seq, Time: time.Now(), Input: name, Data: data}
		if truncated {
			rec.Flags |= journal.FlagTruncated
		}
		p.Parse(&rec, &row)
		ev = eventjson.AppendRow(ev[:0], &row)
		out = append(localizeJSON(out[:0], ev, loc), '\n')
		if _, err := w.Write(out); err != nil {
			return err
		}
		// The row is printed: its strings may go. A fresh arena every few
		// MiB, not per line (an arena is at least 64 KiB).
		if since += len(data); since > 4<<20 {
			p.Reset(8 << 20)
			since = 0
		}
		return nil
	})
}

// readLines calls fn for each line of in (without its line ending; valid
// only during the call). A line longer than maxParseLine is cut there and
// reported as truncated; the rest of it is skipped.
func readLines(ctx context.Context, in io.Reader, fn func(data []byte, truncated bool) error) error {
	r := bufio.NewReaderSize(in, 1<<20)
	var line []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) && len(line) < maxParseLine {
			continue
		}
		if len(line) > 0 {
			truncated := false
			if errors.Is(err, bufio.ErrBufferFull) {
				truncated = true
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = r.ReadSlice('\n')
				}
			}
			data := line
			if n := len(data); n > 0 && data[n-1] == '\n' {
				data = data[:n-1]
				if n := len(data); n > 0 && data[n-1] == '\r' {
					data = data[:n-1]
				}
			}
			if ferr := fn(data, truncated); ferr != nil {
				return ferr
			}
			line = line[:0]
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
