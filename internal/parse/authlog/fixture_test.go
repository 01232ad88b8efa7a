package authlog_test

import (
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/parsetest"
)

// newParser builds the parser the way the server does, with every built-in
// format, so that the fixtures also prove that no other format takes
// these lines.
func newParser() *parse.Parser {
	return parse.New(parse.Options{
		Location: time.UTC,
		Users:    &format.Users{Domains: map[string]string{"CORP": "corp.example", "corp.example": "corp.example"}},
	})
}

// once are names a format must set at most once.
var once = []string{
	format.FieldDataset, format.FieldAction, format.FieldCategory, format.FieldType, format.FieldOutcome,
	format.FieldReason, format.FieldSourceIP, format.FieldSourcePort, format.FieldSourceDomain, format.FieldUserName,
	format.FieldProtocol, format.FieldProcessName,
}

func TestFixtures(t *testing.T) {
	parsetest.RunFixtures(t, "testdata/authlog.txt", newParser(), once)
}
