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
	"github.com/vigil-soc/vigil/internal/store"
)

const (
	parseSynopsis = "vigil parse [--format NAME] [--config FILE] [FILE...]"
	parseAbout    = `Parses log lines (the files, or standard input; - is standard input) as the
server would and prints one normalized event per line as JSON, in input
order. Lines that do not parse are printed with vigil.parse_error.`
)

// maxParseLine bounds one input line, like the largest syslog message.
const maxParseLine = 16 << 20

// parseCmd prints one normalized event per input line, as JSON, in input
// order, with the parser the server uses. Lines that do not parse are
// printed with their text and vigil.parse_error, never skipped.
func parseCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("parse", parseSynopsis, parseAbout, stderr)
	formatName := fs.String("format", "auto", "format of every line (auto: detect per line); see docs/schema.md")
	cfgFile := fs.String("config", "", "configuration file for parse.* settings, the time zone (inputs.syslog[0].timezone) and geoip.databases")
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
		if err := parseStream(ctx, p, input, in, w, &seq); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// parseStream parses each line of in as one record of the input name.
func parseStream(ctx context.Context, p *parse.Parser, name string, in io.Reader, w *bufio.Writer, seq *uint64) error {
	var (
		row   store.Row
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
		out = eventjson.AppendRow(out[:0], &row)
		out = append(out, '\n')
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
