package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/service"
)

// timeHelp is the help text of the time flags (--start, --end).
const timeHelp = "RFC 3339 (2026-12-05T08:00:00+08:00), a date (2026-12-05) or date and time (2026-12-05 08:00) in the --timezone, Unix seconds, 'now' or a duration back from now (1h, 7d)"

// zoneFlags adds --timezone, the zone of the times a command prints and
// reads, and returns it.
func zoneFlags(fs *flag.FlagSet) *string {
	return fs.String("timezone", "", "IANA time zone (Asia/Shanghai, UTC) of the times printed, always with their offset, and of dates and times given without one (default: display.timezone of --config, else this machine's zone)")
}

// configZoneFlags adds --config, read only for its display.timezone, and
// --timezone, for commands that otherwise read no configuration.
func configZoneFlags(fs *flag.FlagSet) (cfgFile, zone *string) {
	cfgFile = fs.String("config", "", "configuration file whose display.timezone is the default --timezone")
	return cfgFile, zoneFlags(fs)
}

// displayZone returns the zone a command shows times in: name (the
// --timezone flag), else the display zone of the configuration d, else
// this machine's zone.
func displayZone(name string, d config.Display) (*time.Location, error) {
	if name == "" {
		loc, err := d.Location()
		if err != nil {
			return nil, fmt.Errorf("display.timezone %q: %w", d.Timezone, err)
		}
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, fmt.Errorf("--timezone %q: not an IANA time zone name like Asia/Shanghai or UTC", name)
	}
	return loc, nil
}

// fileZone is displayZone for a command that reads the configuration
// file only for display.timezone: none named means the machine's zone.
func fileZone(name, cfgFile string) (*time.Location, error) {
	var d config.Display
	if name == "" && cfgFile != "" {
		cfg, err := config.Load(cfgFile)
		if err != nil {
			return nil, err
		}
		d = cfg.Display
	}
	return displayZone(name, d)
}

// timeBound reads the time flag named flagName (start or end) with dates
// and times without an offset in loc, and returns what to send to the
// server: a time relative to now as it is (the server's clock resolves
// it, as before), anything else as the RFC 3339 time it means, so that
// the server's zone plays no part.
func timeBound(flagName, s string, now time.Time, loc *time.Location) (string, error) {
	parse := service.ParseStart
	if flagName == "end" {
		parse = service.ParseEnd
	}
	t, err := parse(s, now, loc)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flagName, err)
	}
	if _, ago := service.ParseAgo(strings.TrimSpace(s)); ago || strings.TrimSpace(s) == "now" {
		return strings.TrimSpace(s), nil
	}
	return t.Format(time.RFC3339Nano), nil
}

// timeFields are the fields of the JSON lines the commands print that
// hold times (events, journal records, alerts).
var timeFields = map[string]bool{"_time": true, "vigil.received": true, "received": true, "alert.first": true, "alert.last": true}

// sameFraction returns the RFC 3339 layout that writes as many digits of
// the second's fraction as the time v has, so that a time moved into
// another zone keeps its text otherwise ("…14.620Z" stays "…14.620", not
// "…14.62" as RFC3339Nano would trim it).
func sameFraction(v string) string {
	const layout = "2006-01-02T15:04:05.000000000Z07:00"
	if len(v) < 20 || v[19] != '.' {
		return time.RFC3339
	}
	n := 0
	for i := 20; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		n++
	}
	if n == 0 || n > 9 {
		return time.RFC3339Nano
	}
	return layout[:20+n] + "Z07:00"
}

// localizeJSON appends the JSON object line to dst with the times of its
// timeFields in loc (RFC 3339 with their offset); anything else, and a
// line that is not a JSON object, is copied as it is.
func localizeJSON(dst, line []byte, loc *time.Location) []byte {
	start := len(dst)
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return append(dst, line...)
	}
	dst = append(dst, '{')
	var raw json.RawMessage
	for n := 0; dec.More(); n++ {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok || dec.Decode(&raw) != nil {
			return append(dst[:start], line...)
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(eventjson.AppendString(dst, key), ':')
		var v string
		if timeFields[key] && json.Unmarshal(raw, &v) == nil {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				dst = append(append(append(dst, '"'), t.In(loc).Format(sameFraction(v))...), '"')
				continue
			}
		}
		dst = append(dst, raw...)
	}
	return append(dst, '}')
}
