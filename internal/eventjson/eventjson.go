// Package eventjson writes events and journal records as JSON objects of
// strings, the one shape of the API's results, the CLI's output and the
// outputs' payloads. It writes into a caller's buffer without reflection.
package eventjson

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/store"
)

// AppendRecord appends a journal record as one JSON object of strings,
// like search results: seq, received (receive time), input, peer,
// truncated, origin (a Kafka record's topic, partition, offset and
// timestamp; only when known), and data, the message as received.
// Data that is not valid UTF-8 is given as data_base64 instead, so the
// bytes survive exactly.
func AppendRecord(b []byte, rec *journal.Record) []byte {
	b = append(b, `{"seq":"`...)
	b = strconv.AppendUint(b, rec.Seq, 10)
	b = append(b, `","received":"`...)
	b = rec.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","input":`...)
	b = AppendString(b, rec.Input)
	b = append(b, `,"peer":`...)
	b = AppendString(b, rec.Peer)
	b = append(b, `,"truncated":"`...)
	b = strconv.AppendBool(b, rec.Flags&journal.FlagTruncated != 0)
	b = append(b, '"')
	if len(rec.Origin) > 0 {
		b = append(b, `,"origin":`...)
		b = AppendString(b, string(rec.Origin))
	}
	if utf8.Valid(rec.Data) {
		b = append(b, `,"data":`...)
		b = AppendString(b, string(rec.Data))
	} else {
		b = append(b, `,"data_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, rec.Data)
		b = append(b, '"')
	}
	return append(b, '}')
}

// AppendRow appends row as one JSON object: _time first (RFC3339Nano,
// UTC), then the fields in the store's order. All values are strings.
func AppendRow(b []byte, row *store.Row) []byte {
	b = append(b, '{')
	if !row.Time.IsZero() {
		b = append(b, `"_time":"`...)
		b = row.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	for i, f := range row.Fields {
		if i > 0 || !row.Time.IsZero() {
			b = append(b, ',')
		}
		b = AppendString(b, f.Name)
		b = append(b, ':')
		b = AppendString(b, f.Value)
	}
	return append(b, '}')
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
