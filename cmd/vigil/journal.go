package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"

	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/charset"
)

const (
	journalSynopsis = "vigil journal cat [--data DIR] [--config FILE] [--from SEQ] [--count N] [--json] [--text] [--timezone ZONE]"
	journalAbout    = `Prints the raw archive: each journaled message exactly as received, one per
line, or as JSON with its metadata (its receive time in RFC 3339 with the
offset of --timezone: default display.timezone of --config, else this
machine's zone). With --text, messages of inputs with a charset
(inputs.*.charset in --config) are printed decoded to UTF-8 instead. It
opens the journal itself, so it works only while no server uses the data
directory.`
)

// journalCmd reads the raw archive. It opens the journal itself, so it
// works only while no server uses the data directory.
func journalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "cat" {
		return groupUsage(args, "Usage: "+journalSynopsis+"\n\n"+journalAbout+"\n", stdout, stderr)
	}
	fs := newFlagSet("journal cat", journalSynopsis, journalAbout, stderr)
	data := fs.String("data", "vigil-data", "data directory")
	from := fs.Uint64("from", 0, "first sequence number to print (default: the oldest retained)")
	count := fs.Uint64("count", 0, "most records to print (0: all)")
	asJSON := fs.Bool("json", false, "print each record as JSON with its metadata instead of the raw message")
	cfgFile := fs.String("config", "", "configuration file: the inputs' charsets for --text, display.timezone (the default --timezone), and data_dir unless --data is given")
	zoneName := zoneFlags(fs)
	asText := fs.Bool("text", false, "print messages as UTF-8 text, decoded with their input's charset (invalid bytes as U+FFFD); with --json, add it as \"text\"")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	var charsets charset.Inputs
	var display config.Display
	if *cfgFile != "" {
		cfg, err := config.Load(*cfgFile)
		if err != nil {
			return err
		}
		charsets = cfg.Charsets()
		display = cfg.Display
		dataSet := false
		fs.Visit(func(f *flag.Flag) { dataSet = dataSet || f.Name == "data" })
		if !dataSet {
			*data = cfg.DataDir
		}
	}
	loc, err := displayZone(*zoneName, display)
	if err != nil {
		return err
	}
	j, err := journal.Open(filepath.Join(*data, "journal"), journal.Options{})
	if err != nil {
		return err
	}
	defer j.Close()
	r, err := j.ReaderAt(*from)
	if err != nil {
		return err
	}
	defer r.Close()
	end := j.NextSeq()
	// Nothing appends while this command holds the journal: a reader that
	// would wait for more is at the end (after a cut tail, the numbers up
	// to end can be a recorded gap with no record). A done context makes
	// Next return instead of waiting.
	atEnd, cancel := context.WithCancel(ctx)
	cancel()
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	var (
		recs    []journal.Record
		printed uint64
		rec     []byte
		line    []byte
	)
	for r.Position() < end && (*count == 0 || printed < *count) {
		if ctx.Err() != nil {
			return nil
		}
		recs, err = r.Next(atEnd, recs[:0], 1024)
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		for i := range recs {
			if *count != 0 && printed >= *count {
				break
			}
			r := &recs[i]
			switch {
			case *asJSON:
				rec = eventjson.AppendRecord(rec[:0], r)
				if *asText {
					rec = eventjson.AppendString(append(rec[:len(rec)-1], `,"text":`...), charsets.Text(r.Input, r.Data))
					rec = append(rec, '}')
				}
				line = localizeJSON(line[:0], rec, loc)
				w.Write(line)
			case *asText:
				line, _ = charsets.Of(r.Input).Decode(line[:0], r.Data)
				w.Write(line)
			default:
				w.Write(r.Data)
			}
			w.WriteByte('\n')
			printed++
		}
		if err != nil {
			return nil // at the end
		}
	}
	return nil
}
