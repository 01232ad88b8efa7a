package nginx_test

import (
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/nginx"
	"github.com/vigil-soc/vigil/internal/parse/parsetest"
	"github.com/vigil-soc/vigil/internal/store"
)

// received is the receive time of every fixture line.
var received = parsetest.Received

// newParser builds the parser the way the server does, with this package's
// formats only.
func newParser() *parse.Parser {
	return parse.New(parse.Options{
		Location: time.UTC,
		Texts:    []format.Text{nginx.Combined(), nginx.Error(), nginx.ApacheError()},
		JSONs:    []format.JSON{nginx.JSON()},
		Users:    &format.Users{Domains: map[string]string{"CORP": "corp.example", "corp.example": "corp.example"}},
	})
}

func parseLine(p *parse.Parser, line string) store.Row { return parsetest.ParseLine(p, line) }

// normalized are names a format must set at most once.
var normalized = []string{
	format.FieldDataset, format.FieldSourceIP, format.FieldSourcePort, format.FieldUserName, format.FieldUserDomain,
	format.FieldUserOriginal, format.FieldMethod, format.FieldStatus, format.FieldURLPath, format.FieldURLQuery,
	format.FieldOutcome, format.FieldCategory, format.FieldBytes, format.FieldDuration, format.FieldReferrer,
	format.FieldUserAgent, format.FieldHostName, format.FieldForwardedFor, "source.nat.ip", "http.version",
	format.FieldAction, format.FieldType, nginx.FieldLogLevel, nginx.FieldErrorMessage, nginx.FieldProcessPID, format.FieldURLDomain,
}

func runFixtures(t *testing.T, path string) {
	parsetest.RunFixtures(t, path, newParser(), normalized)
}
