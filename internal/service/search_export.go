package service

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/eventjson"
	"github.com/vigil-soc/vigil/internal/store"
)

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// MaxExportColumns caps the columns of an export.
const MaxExportColumns = 200

// ExportRows returns the row cap of an export.
func (s *Searches) ExportRows() int { return s.opt.ExportRows }

// Export writes the newest events of req, at most the export row cap,
// to w as JSON lines or CSV, streaming, within the search limits (a
// search that passes http.search_max_bytes stops with its error).
// columns chooses the fields; none means all of them (for CSV, the
// fields the matched events have, found first). A query with pipes
// exports what its pipes make. With peers the rows of every node are
// merged, newest first, each with NodeField; failed, when not nil, is
// called before the first write with the peers that failed by then. It
// returns the rows written and the peers that failed later.
func (s *Searches) Export(ctx context.Context, a Actor, req SearchRequest, format string, columns []string, w io.Writer, failed func([]NodeFailure)) (int, []NodeFailure, error) {
	if err := a.Check(PermRead); err != nil {
		return 0, nil, err
	}
	if format != FormatJSONL && format != FormatCSV {
		return 0, nil, Invalidf("format: %q is not jsonl or csv", format)
	}
	if len(columns) > MaxExportColumns {
		return 0, nil, Invalidf("columns: at most %d", MaxExportColumns)
	}
	if format == FormatCSV && len(columns) == 0 {
		var err error
		if columns, err = s.fieldNames(ctx, req); err != nil {
			return 0, nil, err
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var write func(store.Row) error
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(bw)
		// bw keeps the header until rows follow: failed peers are
		// known by then.
		if err := cw.Write(columns); err != nil {
			return 0, nil, err
		}
		rec := make([]string, len(columns))
		write = func(r store.Row) error {
			for i, c := range columns {
				if c == "_time" && !r.Time.IsZero() {
					rec[i] = r.Time.UTC().Format(time.RFC3339Nano)
				} else {
					rec[i] = r.Get(c)
				}
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
			cw.Flush()
			return cw.Error()
		}
	default:
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		write = func(r store.Row) error {
			return enc.Encode(orderedRow{row: &r, columns: columns})
		}
	}
	n := 0
	q := req.query("", "", s.opt.ExportRows, store.Newest)
	late, err := s.mergeRows(ctx, q, failed, func(r store.Row) error {
		n++
		return write(r)
	})
	if err == nil || n > 0 {
		// An error before the first row leaves w untouched.
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
	}
	return n, late, explain(q.Text, err)
}

// fieldNames returns the names of the fields of the events req matches
// (at most MaxExportColumns), _time and _msg first.
func (s *Searches) fieldNames(ctx context.Context, req SearchRequest) ([]string, error) {
	if _, pipes := req.parts(); pipes != "" {
		return nil, Invalidf("columns: name them for a CSV export of a query with pipes")
	}
	names := []string{"_time", "_msg"}
	q := req.query("", "| field_names | sort by (name)", 0, store.Unordered)
	res, _, err := fanout(ctx, s, func(ctx context.Context, n node) ([]string, error) {
		var names []string
		err := n.st.Search(ctx, q, func(r store.Row) error {
			name := r.Get("name")
			if name == "" || name == "_time" || name == "_msg" || name == "_stream" || name == "_stream_id" || name == store.ShapeField {
				return nil
			}
			names = append(names, strings.Clone(name))
			return nil
		})
		return names, explain(q.Text, err)
	})
	if err != nil {
		return nil, err
	}
	var more []string
	for _, r := range res {
		more = append(more, r.val...)
	}
	if s.clustered() {
		more = append(more, NodeField)
	}
	slices.Sort(more)
	for _, name := range slices.Compact(more) {
		if len(names) >= MaxExportColumns {
			break
		}
		names = append(names, name)
	}
	return names, nil
}

// orderedRow marshals a row as a JSON object: _time first, then the
// chosen columns (or all fields) in order.
type orderedRow struct {
	row     *store.Row
	columns []string
}

func (o orderedRow) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	add := func(name, value string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(eventjson.AppendString(b, name), ':')
		b = eventjson.AppendString(b, value)
	}
	if !o.row.Time.IsZero() && (len(o.columns) == 0 || slices.Contains(o.columns, "_time")) {
		add("_time", o.row.Time.UTC().Format(time.RFC3339Nano))
	}
	if len(o.columns) == 0 {
		for _, f := range o.row.Fields {
			add(f.Name, f.Value)
		}
	} else {
		for _, c := range o.columns {
			if c != "_time" {
				add(c, o.row.Get(c))
			}
		}
	}
	return append(b, '}'), nil
}

// explain adds hints in words to a store's query error: what is most
// likely wrong with the query. Other errors pass unchanged.
func explain(query string, err error) error {
	if err == nil || !store.IsQueryError(err) {
		return err
	}
	var hints []string
	for _, h := range queryHints {
		if h.match(query) {
			hints = append(hints, h.hint)
		}
	}
	msg := err.Error()
	if len(hints) > 0 {
		msg += "\nhint: " + strings.Join(hints, "\nhint: ")
	}
	return &store.QueryError{Msg: msg}
}

var queryHints = []struct {
	match func(q string) bool
	hint  string
}{
	{func(q string) bool { return strings.Count(stripEscapes(q), `"`)%2 == 1 },
		`a double quote is not closed: values with spaces or special characters go in "quotes"`},
	{func(q string) bool { return strings.Count(stripEscapes(q), `'`)%2 == 1 },
		`a single quote is not closed`},
	{func(q string) bool { return strings.Count(q, "(") != strings.Count(q, ")") },
		`the parentheses do not pair up`},
	{reHint(`(^|[\s(])[A-Za-z_][\w.]*=[^=~]`),
		`a field is matched with a colon: field:value for a word, field:="value" for the exact value (not field=value)`},
	{reHint(`(^|[\s(])[A-Za-z_][\w.]*\s*==`),
		`exact match is field:="value" (not ==)`},
	{reHint(`\|\s*$`), `a pipe needs a name after the |: | stats count(), | sort by (_time), | fields ...`},
	{reHint(`(?i)\|\s*(select|where|group|count)\b`),
		`pipes are LogsQL, not SQL: | filter ..., | stats by (field) count(), | fields a, b`},
	{reHint(`(^|\s)(&&|\|\|)(\s|$)`), `combine filters with AND, OR and NOT (or a space for AND, - for NOT)`},
}

func reHint(expr string) func(string) bool {
	re := regexp.MustCompile(expr)
	return re.MatchString
}

// stripEscapes removes backslash escapes, so escaped quotes do not count.
func stripEscapes(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' {
			i++
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Example is a query to start from, for the mail service.
type Example struct {
	// Key names its description in the catalogs (search.example.<Key>).
	Key   string `json:"key"`
	Query string `json:"query"`
}

// Examples are queries for the mail service's events (docs/schema.md).
var Examples = []Example{
	{"failed_logins", `event.category:=authentication event.outcome:=failure`},
	{"failures_by_source", `event.outcome:=failure | stats by (source.ip) count() n | sort by (n desc) limit 10`},
	{"user", `user.name:="zhangwei"`},
	{"owa", `network.protocol:=owa event.outcome:=failure`},
	{"activesync_devices", `network.protocol:=activesync | stats by (user.name, device.id) count() n`},
	{"lockouts", `event.action:=account-locked`},
	{"admin_actions", `event.dataset:=exchange.admin_audit`},
	{"parse_errors", `vigil.parse_error:*`},
	{"zh_word", `登录失败`},
}
