package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/journal"
)

func zoneOf(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestLocalizeJSON: the time fields of a JSON line are rewritten in the
// zone with their offset, everything else is kept byte for byte.
func TestLocalizeJSON(t *testing.T) {
	shanghai, newYork := zoneOf(t, "Asia/Shanghai"), zoneOf(t, "America/New_York")
	for _, tt := range []struct {
		loc      *time.Location
		in, want string
	}{
		{shanghai, `{"_time":"2026-12-05T17:30:00Z","_msg":"a \"b\"\u0001 上海","vigil.received":"2026-12-05T17:30:00.412Z"}`,
			`{"_time":"2026-12-06T01:30:00+08:00","_msg":"a \"b\"\u0001 上海","vigil.received":"2026-12-06T01:30:00.412+08:00"}`},
		{newYork, `{"_time":"2026-07-01T12:00:00Z","alert.count":3,"alert.first":"2026-07-01T11:00:00Z","alert.payloads":["x"],"alert.follow_up":false}`,
			`{"_time":"2026-07-01T08:00:00-04:00","alert.count":3,"alert.first":"2026-07-01T07:00:00-04:00","alert.payloads":["x"],"alert.follow_up":false}`},
		{time.UTC, `{"_time":"2026-12-05T17:30:00Z"}`, `{"_time":"2026-12-05T17:30:00Z"}`},
		// The fraction keeps its digits, trailing zeros included (the API's
		// millisecond times and the store's nanosecond ones).
		{time.UTC, `{"vigil.received":"2026-12-06T08:37:14.620Z","_time":"2026-12-06T08:37:14.618226300Z"}`,
			`{"vigil.received":"2026-12-06T08:37:14.620Z","_time":"2026-12-06T08:37:14.618226300Z"}`},
		{shanghai, `{"_time":"2026-12-05T17:30:00.000Z","alert.first":"2026-12-05T17:30:00.5+00:00"}`,
			`{"_time":"2026-12-06T01:30:00.000+08:00","alert.first":"2026-12-06T01:30:00.5+08:00"}`},
		// Not a time, not an object, or broken: as it is.
		{shanghai, `{"_time":"soon","n":"2026-12-05T17:30:00Z"}`, `{"_time":"soon","n":"2026-12-05T17:30:00Z"}`},
		{shanghai, `{"error":"bad query"}`, `{"error":"bad query"}`},
		{shanghai, `["_time"]`, `["_time"]`},
		{shanghai, `{"_time":"2026-12-05T17:30:00Z",`, `{"_time":"2026-12-05T17:30:00Z",`},
		{shanghai, `{}`, `{}`},
	} {
		if got := string(localizeJSON([]byte("x"), []byte(tt.in), tt.loc)); got != "x"+tt.want {
			t.Errorf("localizeJSON(%s, %v) = %s, want %s", tt.in, tt.loc, got[1:], tt.want)
		}
	}
}

// TestTimeBound: what vigil search sends for --start and --end: local
// forms as RFC 3339 times, relative ones as they are.
func TestTimeBound(t *testing.T) {
	now := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	shanghai, newYork := zoneOf(t, "Asia/Shanghai"), zoneOf(t, "America/New_York")
	for _, tt := range []struct {
		flag, in string
		loc      *time.Location
		want     string
	}{
		{"start", "2026-12-05", shanghai, "2026-12-05T00:00:00+08:00"},
		{"end", "2026-12-05", shanghai, "2026-12-05T23:59:59.999999999+08:00"},
		{"start", "2026-12-05 08:00", shanghai, "2026-12-05T08:00:00+08:00"},
		{"start", "2026-12-05T08:00", newYork, "2026-12-05T08:00:00-05:00"},
		{"end", "2026-11-01", newYork, "2026-11-01T23:59:59.999999999-05:00"},
		{"start", "2026-12-05T08:00:00+01:00", shanghai, "2026-12-05T08:00:00+01:00"},
		{"start", "1h", shanghai, "1h"},
		{"end", "now", shanghai, "now"},
		{"start", " 7d ", shanghai, "7d"},
	} {
		got, err := timeBound(tt.flag, tt.in, now, tt.loc)
		if err != nil || got != tt.want {
			t.Errorf("timeBound(%s, %q, %v) = %q, %v; want %q", tt.flag, tt.in, tt.loc, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ flag, in, want string }{
		{"start", "yesterday", `--start: "yesterday" is not RFC 3339`},
		{"end", "2026-03-08 02:30", `--end: "2026-03-08 02:30" does not exist in America/New_York`},
	} {
		if _, err := timeBound(tt.flag, tt.in, now, newYork); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("timeBound(%s, %q): error %v, want %q", tt.flag, tt.in, err, tt.want)
		}
	}
}

// TestDisplayZone: --timezone, else display.timezone, else the machine's
// zone; bad names are clear errors.
func TestDisplayZone(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(file, []byte("display:\n  timezone: Asia/Shanghai\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ flag, file, want string }{
		{"", "", "Local"},
		{"", file, "Asia/Shanghai"},
		{"America/New_York", file, "America/New_York"},
		{"UTC", "", "UTC"},
	} {
		loc, err := fileZone(tt.flag, tt.file)
		if err != nil || loc.String() != tt.want {
			t.Errorf("fileZone(%q, %q) = %v, %v; want %s", tt.flag, tt.file, loc, err, tt.want)
		}
	}
	for _, name := range []string{"Mars/Olympus", "Local"} {
		if _, err := displayZone(name, config.Display{}); err == nil || !strings.Contains(err.Error(), "--timezone") {
			t.Errorf("displayZone(%q): error %v", name, err)
		}
	}
}

// TestParseTimezone: vigil parse prints the times of the events in
// --timezone, else in display.timezone of --config.
func TestParseTimezone(t *testing.T) {
	line := "<134>1 2026-12-05T17:30:00Z web01 app - - - hello\n"
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(file, []byte("display:\n  timezone: America/New_York\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--timezone", "Asia/Shanghai"}, `"_time":"2026-12-06T01:30:00+08:00"`},
		{[]string{"--config", file}, `"_time":"2026-12-05T12:30:00-05:00"`},
		{[]string{"--config", file, "--timezone", "UTC"}, `"_time":"2026-12-05T17:30:00Z"`},
	} {
		var stdout, stderr bytes.Buffer
		err := parseCmd(context.Background(), tt.args, strings.NewReader(line), &stdout, &stderr)
		if err != nil || !strings.Contains(stdout.String(), tt.want) {
			t.Errorf("vigil parse %q: %v, stdout %s, stderr %s; want %s", tt.args, err, stdout.String(), stderr.String(), tt.want)
		}
	}
}

// TestJournalCatTimezone: journal cat --json prints the receive time in
// --timezone with its offset.
func TestJournalCatTimezone(t *testing.T) {
	data := t.TempDir()
	j, err := journal.Open(filepath.Join(data, "journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 5, 17, 30, 0, 0, time.UTC)
	if err := j.Append([]journal.Record{{Time: at, Input: "syslog", Data: []byte("hello")}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := journalCmd(context.Background(), []string{"cat", "--data", data, "--json", "--timezone", "Asia/Shanghai"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"received":"2026-12-06T01:30:00+08:00"`) {
		t.Errorf("journal cat --json: %s", stdout.String())
	}
}
