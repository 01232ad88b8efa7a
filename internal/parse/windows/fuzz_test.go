package windows_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/windows"
	"github.com/vigil-soc/vigil/internal/store"
)

func seeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkRow holds for every parsed row, whatever the input.
func checkRow(t *testing.T, data []byte, row store.Row) {
	for _, fl := range row.Fields {
		if fl.Name == "" {
			t.Fatalf("empty field name in %q", data)
		}
		if utf8.Valid(data) && !utf8.ValidString(fl.Value) {
			t.Fatalf("field %s has invalid UTF-8 from valid input", fl.Name)
		}
	}
	if code := get(row, "event.code"); code != "" {
		if n, err := strconv.Atoi(code); err != nil || n < 0 || n > 65535 {
			t.Fatalf("event.code %q", code)
		}
	}
	switch o := get(row, "event.outcome"); o {
	case "", format.OutcomeSuccess, format.OutcomeFailure, format.OutcomeUnknown:
	default:
		t.Fatalf("event.outcome %q", o)
	}
}

// FuzzSnare feeds arbitrary lines to the Snare format, directly and
// through package parse.
func FuzzSnare(f *testing.F) {
	seeds(f, "snare/*.txt")
	f.Add([]byte("MSWinEventLog\t\t\t\t\t\t\t\t\t\t\t\t\t\t"))
	f.Add([]byte("h MSWinEventLog\t1\tSecurity\t1\tThu Nov 28 09:00:00 2026\t4625\tx\tN/A\tN/A\tFailure Audit\tDC\tLogon\t\tStatus: Sub Status:\t-"))
	f.Add([]byte("MSWinEventLog\t1\tSystem\t1\tThu Nov 28 09:00:00 2026\t104\tMicrosoft-Windows-Eventlog\tN/A\tUser\tInformation\tDC\t\t\tThe log file was cleared.\t1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := windows.Snare()
		ev := format.Event{}
		if s.Detect(data, nil) {
			if err := s.Parse(data, &format.Source{}, &ev); err == nil && ev.Get(format.FieldCode) == "" {
				t.Fatalf("no event.code without an error: %q", data)
			}
		}
		p := newParser()
		checkRow(t, data, parseData(p, "<14>Nov 28 09:00:00 dc01 "+string(data)))
	})
}

// FuzzJSON feeds arbitrary JSON payloads through package parse to the
// JSON format.
func FuzzJSON(f *testing.F) {
	seeds(f, "json/*.json")
	f.Add([]byte(`{"EventID":4740,"Channel":"Security","TargetUserName":"CN=\\","MemberName":"CN=a\\,b","IpAddress":"::ffff:","Keywords":"0x"}`))
	f.Add([]byte(`{"EventID":4625,"Channel":"Security","EventData":{"Status":"0xZZ","SubStatus":"0xc000006a","IpAddress":"fe80::1%4"}}`))
	f.Add([]byte(`{"EventID":104,"SourceName":"Microsoft-Windows-Eventlog","Channel":"System","Channel":"Application","Message":"The  log file was cleared.","UserData":{"LogFileCleared":{"Channel":""}}}`))
	f.Add([]byte(`{"EventID":4719,"Channel":"Security","CategoryId":"%%","SubcategoryGuid":"{","AuditPolicyChanges":"%%8448,,%%","Message":"Subject: Account Name: x Audit Policy Change: Changes:"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newParser()
		row := parseData(p, string(data))
		checkRow(t, data, row)
		if strings.HasPrefix(get(row, "vigil.parse_error"), "windows:") && get(row, "event.code") != "" {
			t.Fatalf("normalized fields kept after a mapping error: %q", data)
		}
	})
}
