package parse_test

import (
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/parsetest"
)

// headerOnly builds a parser without payload formats, so the fixtures test
// the syslog header alone.
func headerOnly(opts parse.Options) *parse.Parser {
	opts.Location = time.UTC
	opts.Texts, opts.JSONs = []format.Text{}, []format.JSON{}
	return parse.New(opts)
}

func TestHeaderFixtures(t *testing.T) {
	parsetest.RunFixtures(t, "testdata/header.txt", headerOnly(parse.Options{}), nil)
}

// TestHeaderFileFixtures reads the fixtures' input ("syslog") as a log
// file's, the way vigil parse and vigil rules test read theirs.
func TestHeaderFileFixtures(t *testing.T) {
	p := headerOnly(parse.Options{FileInputs: map[string]bool{"syslog": true}})
	parsetest.RunFixtures(t, "testdata/header-file.txt", p, nil)
}
