// Package outputtest holds helpers for the tests of the outputs that run
// in more than one package: internal/output's and the end-to-end tests.
package outputtest

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// Query is one SQL statement of the documentation.
type Query struct {
	Name string // its "-- " comment line
	SQL  string // the statement, without the final semicolon
}

// DocSQL returns the statements of the ```sql blocks of the Markdown file
// at path (docs/outputs.md: the example analyses of the ClickHouse tables),
// so the tests run what the documentation shows rather than a copy. Each
// statement must follow a "-- name" comment line and end with ";".
func DocSQL(tb testing.TB, path string) []Query {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("documentation SQL: %v", err)
	}
	defer f.Close()
	var (
		qs      []Query
		in      bool
		name    string
		stmt    []string
		lineNum int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNum++
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in:
			in = line == "```sql"
		case line == "```":
			if len(stmt) > 0 {
				tb.Fatalf("%s:%d: statement %q does not end with ;", path, lineNum, name)
			}
			in = false
		case line == "":
		case strings.HasPrefix(line, "--"):
			if len(stmt) == 0 && name == "" {
				name = strings.TrimSpace(strings.TrimPrefix(line, "--"))
			}
		default:
			if name == "" {
				tb.Fatalf("%s:%d: a statement without a -- name line before it", path, lineNum)
			}
			stmt = append(stmt, line)
			if strings.HasSuffix(line, ";") {
				sql := strings.TrimSuffix(strings.Join(stmt, "\n"), ";")
				qs = append(qs, Query{Name: name, SQL: sql})
				name, stmt = "", nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("documentation SQL: %s: %v", path, err)
	}
	if len(qs) == 0 {
		tb.Fatalf("documentation SQL: no ```sql block in %s", path)
	}
	return qs
}
