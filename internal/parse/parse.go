// Package parse turns a journal record into a store row: it reads the
// syslog header, then the payload, and names every field the way
// docs/schema.md says.
//
// Payload formats are tried in order; today a JSON object (nginx/Openresty
// `escape=json` access logs, or any JSON) becomes fields, and anything else
// stays the message text. The mail-service formats plug in as further
// payload parsers without changing the header handling.
//
// Nothing is dropped: a record that cannot be parsed keeps its text in _msg
// and says why in vigil.parse_error.
package parse

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/internal/syslog"
)

// Field names set by the parser (see docs/schema.md).
const (
	FieldMsg        = "_msg"
	FieldSeq        = "vigil.seq"
	FieldEventID    = "event.id"
	FieldInput      = "vigil.input"
	FieldReceived   = "vigil.received"
	FieldParseError = "vigil.parse_error"
	FieldTruncated  = "vigil.truncated"
	FieldRawBase64  = "vigil.raw_base64"
	FieldTimeError  = "vigil.time_error"
	FieldClockSkew  = "vigil.clock_skew"
	FieldPeer       = "log.source.address"
	FieldFormat     = "log.syslog.format"
	FieldPriority   = "log.syslog.priority"
	FieldFacility   = "log.syslog.facility.name"
	FieldSeverity   = "log.syslog.severity.name"
	FieldHostname   = "host.hostname"
	FieldAppName    = "log.syslog.appname"
	FieldProcID     = "log.syslog.procid"
	FieldMsgID      = "log.syslog.msgid"
	// The place of source.ip (Options.Geo).
	FieldGeoCountry = "source.geo.country_iso_code"
	FieldGeoRegion  = "source.geo.region_name"
	FieldGeoCity    = "source.geo.city_name"
	FieldASOrg      = "source.as.organization.name"
	// FieldSDPrefix starts the name of each RFC5424 structured-data
	// parameter: log.syslog.sd.<SD-ID>.<PARAM-NAME>.
	FieldSDPrefix = "log.syslog.sd."
	// JSONConflictPrefix is put before a JSON key that would otherwise
	// clash with a name the parser sets itself.
	JSONConflictPrefix = "json."
)

// FieldPriorityAssumed is "true" on a line of a log file that had no
// <PRI> (see Options.FileInputs): its log.syslog.priority is rsyslog's
// default, 13 (user.notice).
const FieldPriorityAssumed = "vigil.priority_assumed"

// Options configure a Parser.
type Options struct {
	// Location is the timezone of timestamps without an offset.
	Location *time.Location
	// Locations overrides Location per input name (vigil.input), for
	// inputs whose senders log in another zone.
	Locations map[string]*time.Location
	// MaxFields caps the fields taken from one payload (default 500).
	MaxFields int
	// FutureLimit: an event time further than this ahead of its receive
	// time is replaced by the receive time (default 24h).
	FutureLimit time.Duration
	// MaxClockSkew: an event time further than this ahead of its receive
	// time (but within FutureLimit) is kept and labelled vigil.clock_skew,
	// the lead as a duration ("+30m0s"). The detection engine must use the
	// same value (detect.Options.MaxClockSkew). Default
	// DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// KeepJSONText keeps a JSON payload's text in _msg next to its fields.
	// By default _msg gets a short summary instead (see summary), which
	// halves the store's CPU and disk per event; the exact bytes stay in
	// the journal under vigil.seq either way.
	KeepJSONText bool
	// Charsets names the character set of inputs whose senders do not
	// write UTF-8 (inputs.*.charset). Their records are decoded to UTF-8
	// before anything else is read from them; invalid bytes become U+FFFD
	// and the record keeps its exact bytes in vigil.raw_base64.
	Charsets charset.Inputs
	// Formats names the format of each input ("" or "auto": detect per
	// message). Names are those of Texts and JSONs.
	Formats map[string]string
	// Texts and JSONs are the formats to detect, in order; nil means
	// DefaultFormats.
	Texts []format.Text
	JSONs []format.JSON
	// Users normalizes user names (domain mapping).
	Users *format.Users
	// KeepSourceKeys keeps the JSON keys a format mapped onto normalized
	// fields, next to them (for searches written against the old names).
	KeepSourceKeys bool
	// JournalID is the id of the journal the records come from; with a
	// record's seq it makes the record's event.id (see AppendEventID).
	JournalID uint64
	// Geo places source.ip (nil: no database): the event gets
	// FieldGeoCountry, FieldGeoRegion, FieldGeoCity and FieldASOrg where
	// known.
	Geo *geoip.DB
	// FileInputs names the inputs whose records are lines of log files
	// (vigil parse, vigil rules test): a line without <PRI> that starts
	// with a date, as in /var/log/auth.log, is read as an RFC 3164 message
	// with rsyslog's default priority 13 (user.notice) and marked with
	// FieldPriorityAssumed. Other inputs keep such a message's text whole
	// with log.syslog.format "unknown" (see syslog.Parser.FileLines).
	FileInputs map[string]bool
	// OriginEventIDs sets event.id only for records with an origin (a
	// Kafka record's topic, partition and offset). The store needs no
	// other: there an event's id is the journal's id and its vigil.seq,
	// and storing it cost 5 bytes per event on disk (9%).
	OriginEventIDs bool
}

// Parser parses records. It reuses memory between calls and is not safe for
// concurrent use; use one per goroutine. Strings in the rows it fills stay
// valid until Reset.
type Parser struct {
	opts      Options
	sources   map[sourceKey]*format.Source
	hdr       syslog.Parser
	msg       syslog.Message
	json      fastjson.Parser
	arena     format.Arena
	copy      func([]byte) string // str, made once (a method value allocates)
	inputs    map[string]*inputOpts
	lastInput *inputOpts
	// lastSource is the Source of the last message, of lastSourceInput.
	lastSource      *format.Source
	lastSourceInput *inputOpts
	// matchMappers[i] is opts.JSONs[i] as a format.MatchMapper, or nil.
	matchMappers []format.MatchMapper
	ev           format.Event // the event being parsed, reused
	path         []byte
	literal      []byte   // a JSON number or literal's text, before it is copied
	empty        []string // reused for format.Event.Empty
	// recv is vigil.received of the last record, for recvAt, in the
	// arena since its last reset ("": none).
	recv   string
	recvAt time.Time
	// data is the last record as the parser read it: its own bytes, or
	// decoded holding their UTF-8 decoding.
	data, decoded []byte
	// badText: the last record held bytes invalid in its charset.
	badText bool
}

// New returns a Parser.
func New(opts Options) *Parser {
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.MaxFields <= 0 {
		opts.MaxFields = 500
	}
	if opts.FutureLimit <= 0 {
		opts.FutureLimit = 24 * time.Hour
	}
	if opts.MaxClockSkew <= 0 {
		opts.MaxClockSkew = DefaultMaxClockSkew
	}
	if opts.Texts == nil && opts.JSONs == nil {
		opts.Texts, opts.JSONs = DefaultFormats()
	}
	p := &Parser{opts: opts, hdr: syslog.Parser{Location: opts.Location}, sources: make(map[sourceKey]*format.Source),
		inputs: make(map[string]*inputOpts)}
	p.copy = p.str
	for _, j := range opts.JSONs {
		mm, _ := j.(format.MatchMapper)
		p.matchMappers = append(p.matchMappers, mm)
	}
	// The header's strings go to the arena with the rest of the row.
	p.hdr.Alloc = p.arena.Alloc
	return p
}

// CheckFormat reports whether name is a known format ("auto" and "" are).
func CheckFormat(name string) error {
	if name == "" || name == "auto" {
		return nil
	}
	texts, jsons := DefaultFormats()
	var names []string
	for _, t := range texts {
		if t.Name() == name {
			return nil
		}
		names = append(names, t.Name())
	}
	for _, j := range jsons {
		if j.Name() == name {
			return nil
		}
		names = append(names, j.Name())
	}
	return fmt.Errorf("unknown format %q (known: auto, %s)", name, strings.Join(names, ", "))
}

// sourceKey identifies one stream of messages for per-source state.
type sourceKey struct{ input, host, app string }

// maxSources bounds the per-source state kept; past it the state starts
// afresh (formats then fall back to their defaults until the next header).
const maxSources = 10000

// location is the time zone of the named input's timestamps.
func (p *Parser) location(input string) *time.Location {
	if l, ok := p.opts.Locations[input]; ok && l != nil {
		return l
	}
	return p.opts.Location
}

// inputOpts is what the options say about one input, looked up once.
type inputOpts struct {
	name      string // a copy of the input's name
	charset   charset.Charset
	location  *time.Location
	fileLines bool
	forced    string // the format forced on the input, "" for auto
}

// maxInputs bounds the inputs whose options are kept (they are the
// configured ones; the bound is a safeguard).
const maxInputs = 1000

// input returns the options of the named input.
func (p *Parser) input(name string) *inputOpts {
	if in := p.lastInput; in != nil && in.name == name {
		return in // records come in runs of one input
	}
	in := p.inputs[name]
	if in == nil {
		if len(p.inputs) >= maxInputs {
			clear(p.inputs)
		}
		forced := p.opts.Formats[name]
		if forced == "auto" {
			forced = ""
		}
		in = &inputOpts{name: strings.Clone(name), charset: p.opts.Charsets.Of(name), location: p.location(name),
			fileLines: p.opts.FileInputs[name], forced: forced}
		p.inputs[in.name] = in
	}
	p.lastInput = in
	return in
}

// source returns the Source for a message.
func (p *Parser) source(in *inputOpts, host, app string, received time.Time) *format.Source {
	src := p.lastSource
	if src == nil || p.lastSourceInput != in || src.Host != host || src.App != app {
		k := sourceKey{in.name, host, app}
		src = p.sources[k]
		if src == nil {
			if len(p.sources) >= maxSources {
				clear(p.sources)
			}
			// host and app live in the arena: the source keeps copies.
			k = sourceKey{in.name, strings.Clone(host), strings.Clone(app)}
			src = &format.Source{Location: in.location, Host: k.host, App: k.app, Users: p.opts.Users}
			p.sources[k] = src
		}
		// Records come in runs of one source.
		p.lastSource, p.lastSourceInput = src, in
	}
	src.Received = received
	return src
}

// Reset releases the strings handed out since the last Reset, and sizes
// the next arena for about size bytes of text. Call it after the rows
// were stored (or handed to their owner). Rows of the previous batch that
// callers kept stay valid: the arena starts a new buffer. One right-sized
// allocation per batch keeps the garbage collector's work and the heap small.
func (p *Parser) Reset(size int) { p.arena.Reset(size); p.recv = "" }

// ResetWith is Reset into a buffer an earlier Buffer returned, when it is
// large enough, instead of a new allocation. Every string handed out of
// buf must be out of use: they are overwritten. The indexer recycles its
// batches' buffers this way once the store and the detector are done.
func (p *Parser) ResetWith(buf []byte, size int) { p.arena.ResetWith(buf, size); p.recv = "" }

// Buffer returns the arena buffer the strings handed out since the last
// reset end in, for a later ResetWith.
func (p *Parser) Buffer() []byte { return p.arena.Buffer() }

// str copies b into the arena and returns it as a string.
func (p *Parser) str(b []byte) string { return p.arena.Copy(b) }

// Parse fills row from rec. row.Fields is reset first.
func (p *Parser) Parse(rec *journal.Record, row *store.Row) {
	row.Fields = row.Fields[:0]
	// A record in another charset is read as its UTF-8 decoding, the
	// syslog header too (a GBK character's second byte can be '[', ']' or
	// '\\'). UTF-8 records are read as they are.
	data, valid, textErr := rec.Data, true, ""
	in := p.input(rec.Input)
	if cs := in.charset; cs != charset.UTF8 {
		if cap(p.decoded) > 1<<20 && cap(p.decoded) > 4*len(rec.Data) {
			p.decoded = nil // one long message's buffer is not kept for ever
		}
		var bad int
		p.decoded, bad = cs.Decode(p.decoded[:0], rec.Data)
		data = p.decoded
		if p.badText = bad >= 0; p.badText {
			textErr = cs.Invalid(rec.Data, bad)
		}
	} else {
		valid = utf8.Valid(data)
		p.badText = !valid
		if !valid {
			textErr = invalidUTF8(data)
		}
	}
	p.data = data
	if p.badText {
		row.Fields = append(row.Fields, store.Field{Name: FieldRawBase64, Value: base64.StdEncoding.EncodeToString(rec.Data)})
	}
	m := &p.msg
	p.hdr.Location = in.location
	p.hdr.FileLines = in.fileLines
	p.hdr.Parse(data, rec.Time, m)

	var errs []string
	if m.Err != "" {
		errs = append(errs, m.Err)
	}
	if textErr != "" {
		errs = append(errs, textErr)
	}

	// Senders that frame with octet counting may still end the message
	// with the newline of their line template (rsyslog does); receivers
	// strip it. The journal keeps the exact bytes.
	payload := trimNewline(m.Message)
	msgIdx := len(row.Fields)
	row.Fields = append(row.Fields,
		store.Field{Name: FieldMsg, Value: p.text(payload, valid)},
		store.Field{Name: FieldSeq, Value: p.decimal(rec.Seq)},
		store.Field{Name: FieldInput, Value: rec.Input},
		store.Field{Name: FieldReceived, Value: p.received(rec.Time)},
	)
	if len(rec.Origin) > 0 || !p.opts.OriginEventIDs {
		row.Fields = append(row.Fields, store.Field{Name: FieldEventID, Value: p.eventID(rec)})
	}
	if rec.Peer != "" {
		row.Fields = append(row.Fields, store.Field{Name: FieldPeer, Value: rec.Peer})
	}
	if rec.Flags&journal.FlagTruncated != 0 {
		row.Fields = append(row.Fields, store.Field{Name: FieldTruncated, Value: "true"})
		errs = append(errs, "message was longer than the input's max_message_size and was truncated")
	}
	p.header(m, row, valid)

	forced := in.forced
	src := p.source(in, m.Hostname, m.AppName, rec.Time)
	ev := &p.ev
	*ev = format.Event{Copy: p.copy, KeepKeys: p.opts.KeepSourceKeys}
	if body, ok := jsonPayload(payload); ok && (forced == "" || !p.isText(forced)) {
		// A complete parse replaces the JSON text in _msg by its summary;
		// after any problem _msg keeps the text, the only complete copy.
		payloadStart := len(row.Fields)
		summary, err := p.parseJSON(body, row, valid, ev)
		if err != "" {
			errs = append(errs, err)
		} else {
			if !p.opts.KeepJSONText {
				row.Fields[msgIdx].Value = summary
			}
			ev.Fields = row.Fields
			ev.PayloadStart = payloadStart
			if err := p.mapJSON(forced, src, ev); err != "" {
				errs = append(errs, err)
			}
			row.Fields = ev.Fields
		}
	} else if valid {
		ev.Fields = row.Fields
		if err := p.parseText(forced, payload, src, ev); err != "" {
			errs = append(errs, err)
		}
		row.Fields = ev.Fields
	}
	// Event time: the payload's own, else the syslog header's, else the
	// receive time; a time too far ahead is a clock error, one ahead by
	// more than MaxClockSkew a sender's clock running ahead (measured from
	// the receive time as vigil.received has it, in milliseconds, as the
	// detection engine measures it).
	t := ev.Time
	if t.IsZero() {
		t = m.Timestamp
	}
	row.Time = rec.Time
	switch {
	case t.IsZero():
	case t.Sub(rec.Time) > p.opts.FutureLimit:
		row.Fields = append(row.Fields, store.Field{Name: FieldTimeError,
			Value: "event time " + t.Format(time.RFC3339Nano) + " is too far ahead of the receive time; receive time used"})
	default:
		row.Time = t
		if skew := t.Sub(rec.Time.Truncate(time.Millisecond)); skew > p.opts.MaxClockSkew {
			row.Fields = append(row.Fields, store.Field{Name: FieldClockSkew, Value: FormatSkew(skew)})
		}
	}
	if ev.Message != "" && !p.opts.KeepJSONText {
		row.Fields[msgIdx].Value = ev.Message
	}
	if p.opts.Geo != nil {
		p.placeSource(row)
	}
	if len(errs) > 0 {
		row.Fields = append(row.Fields, store.Field{Name: FieldParseError, Value: strings.Join(errs, "; ")})
	}
	*ev = format.Event{} // keeps no row alive
}

// Text returns the last record Parse read as the parser read it: decoded
// to UTF-8 for an input with a charset, else the record's own bytes. It
// is valid until the next Parse, and no longer than the record's data.
func (p *Parser) Text() []byte { return p.data }

// InvalidText reports whether the last record Parse read held bytes that
// are invalid in its input's charset (UTF-8 by default). Such a record is
// parsed with U+FFFD in their place and keeps its exact bytes in
// vigil.raw_base64.
func (p *Parser) InvalidText() bool { return p.badText }

// isText reports whether name is a text format.
func (p *Parser) isText(name string) bool {
	for _, t := range p.opts.Texts {
		if t.Name() == name {
			return true
		}
	}
	return false
}

// mapJSON runs the JSON format that matches ev (or the forced one) and
// returns a parse error or "".
func (p *Parser) mapJSON(forced string, src *format.Source, ev *format.Event) string {
	for i, j := range p.opts.JSONs {
		n := len(ev.Fields)
		var err error
		switch mm := p.matchMappers[i]; {
		case forced != "":
			if j.Name() != forced {
				continue
			}
			err = j.Map(ev, src)
		case mm != nil:
			var matched bool
			if matched, err = mm.MatchMap(ev, src); !matched {
				continue
			}
		default:
			if !j.Match(ev) {
				continue
			}
			err = j.Map(ev, src)
		}
		if err != nil {
			ev.Fields = ev.Fields[:n]
			return j.Name() + ": " + err.Error()
		}
		return ""
	}
	return ""
}

// parseText runs the text format that detects msg (or the forced one) and
// returns a parse error or "".
func (p *Parser) parseText(forced string, msg []byte, src *format.Source, ev *format.Event) string {
	for _, t := range p.opts.Texts {
		if forced != "" && t.Name() != forced || forced == "" && !t.Detect(msg, src) {
			continue
		}
		n := len(ev.Fields)
		err := t.Parse(msg, src, ev)
		switch {
		case err == nil:
		case errors.Is(err, format.ErrSkip):
			ev.Add(format.FieldKind, "state")
		default:
			ev.Fields = ev.Fields[:n]
			ev.Time, ev.Message = time.Time{}, ""
			return t.Name() + ": " + err.Error()
		}
		return ""
	}
	return ""
}

// DefaultMaxClockSkew is how far ahead of its receive time an event's
// time may be before it counts as a sender's clock running ahead: five
// minutes, the tolerance Kerberos allows between clocks.
const DefaultMaxClockSkew = 5 * time.Minute

// FormatSkew formats how far an event time lies ahead of its receive time
// for vigil.clock_skew: whole seconds with a sign, "+30m0s", "+8h0m0s".
func FormatSkew(d time.Duration) string {
	return "+" + d.Truncate(time.Second).String()
}

// ReceivedLayout formats vigil.received: UTC with milliseconds, the form
// the store keeps as a compact timestamp rather than as text.
const ReceivedLayout = "2006-01-02T15:04:05.000Z"

// eventID returns rec's event id, in the arena.
func (p *Parser) eventID(rec *journal.Record) string {
	var b [EventIDLen]byte
	return p.arena.Copy(AppendEventID(b[:0], p.opts.JournalID, rec))
}

// decimal formats n in decimal, in the arena (vigil.seq, the priority).
func (p *Parser) decimal(n uint64) string {
	var b [20]byte
	return p.arena.Copy(strconv.AppendUint(b[:0], n, 10))
}

// received formats t in ReceivedLayout, in the arena.
func (p *Parser) received(t time.Time) string {
	if !t.Equal(p.recvAt) || p.recv == "" {
		// Records of one input batch share their receive time.
		var buf [32]byte
		p.recvAt, p.recv = t, p.str(t.UTC().AppendFormat(buf[:0], ReceivedLayout))
	}
	return p.recv
}

// text returns b as a string, replacing invalid UTF-8.
func (p *Parser) text(b []byte, valid bool) string {
	if valid {
		return p.str(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (p *Parser) header(m *syslog.Message, row *store.Row, valid bool) {
	add := func(name, v string) {
		if v != "" {
			if !valid {
				v = strings.ToValidUTF8(v, "\uFFFD")
			}
			row.Fields = append(row.Fields, store.Field{Name: name, Value: v})
		}
	}
	row.Fields = append(row.Fields, store.Field{Name: FieldFormat, Value: m.Format.String()})
	if m.Priority >= 0 {
		add(FieldPriority, p.decimal(uint64(m.Priority)))
		add(FieldFacility, syslog.FacilityName(m.Facility))
		add(FieldSeverity, syslog.SeverityName(m.Severity))
		if m.PriorityAssumed {
			add(FieldPriorityAssumed, "true")
		}
	}
	add(FieldHostname, m.Hostname)
	add(FieldAppName, m.AppName)
	add(FieldProcID, m.ProcID)
	add(FieldMsgID, m.MsgID)
	for _, e := range m.StructuredData {
		for _, prm := range e.Params {
			add(FieldSDPrefix+e.ID+"."+prm.Name, prm.Value)
		}
	}
}

// jsonPayload returns the JSON object in a payload: the payload itself, or
// what follows a CEE cookie ("@cee:").
func jsonPayload(b []byte) ([]byte, bool) {
	b = trimSpace(b)
	if len(b) > 5 && string(b[:5]) == "@cee:" {
		b = trimSpace(b[5:])
	}
	return b, len(b) > 0 && b[0] == '{'
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// parseJSON adds the object's keys as fields; nested objects are flattened
// with dots, arrays are kept as JSON text. It returns the object's summary
// for _msg, or a parse error.
func (p *Parser) parseJSON(b []byte, row *store.Row, valid bool, ev *format.Event) (summary, errMsg string) {
	v, err := p.json.ParseBytes(b)
	if err != nil {
		return "", "invalid JSON: " + err.Error()
	}
	o, err := v.Object()
	if err != nil {
		return "", "invalid JSON: " + err.Error()
	}
	w := jsonWalker{p: p, row: row, valid: valid, budget: p.opts.MaxFields, empty: p.empty[:0]}
	p.path = p.path[:0]
	w.object(o, 0)
	if w.over {
		return "", "JSON payload has more than " + strconv.Itoa(p.opts.MaxFields) + " fields; the rest are only in _msg"
	}
	ev.Empty, p.empty = w.empty, w.empty // valid until the next Parse
	return p.summary(&w.top), ""
}

// topKeys holds the values of well-known top-level keys of a JSON payload.
type topKeys struct {
	message, method, uri, status string
}

// note records v if name is a well-known top-level key.
func (t *topKeys) note(name, v string) {
	switch name {
	case "message", "msg", "short_message", "log", "json._msg":
		if t.message == "" {
			t.message = v
		}
	case "request_method", "method":
		t.method = v
	case "request_uri", "uri", "request", "url", "path":
		if t.uri == "" {
			t.uri = v
		}
	case "status", "statuscode", "status_code":
		t.status = v
	}
}

// summary is what _msg says for a fully parsed JSON payload: its own
// message (message, msg, short_message or log key); else for an HTTP access
// log "[METHOD ]URI[ STATUS]", so that word searches find the request; else
// nothing, and the fields speak for themselves.
func (p *Parser) summary(t *topKeys) string {
	switch {
	case t.message != "":
		return t.message
	case t.uri != "":
		p.path = p.path[:0]
		if t.method != "" && !strings.Contains(t.uri, " ") {
			p.path = append(append(p.path, t.method...), ' ')
		}
		uri := t.uri
		if i := strings.IndexByte(uri, '?'); i >= 0 && !strings.Contains(uri, " ") {
			uri = uri[:i] // the query is in its own field
		}
		p.path = append(p.path, uri...)
		if t.status != "" {
			p.path = append(append(p.path, ' '), t.status...)
		}
		return p.str(p.path)
	}
	return ""
}

type jsonWalker struct {
	p      *Parser
	row    *store.Row
	valid  bool
	budget int
	over   bool
	top    topKeys
	empty  []string // top-level keys with empty values (format.Event.Empty)
}

// maxEmpty bounds the empty keys a walker remembers.
const maxEmpty = 8

const maxDepth = 16

func (w *jsonWalker) object(o *fastjson.Object, depth int) {
	o.Visit(func(k []byte, v *fastjson.Value) {
		if w.over {
			return
		}
		p := w.p
		n := len(p.path)
		if n > 0 {
			p.path = append(p.path, '.')
		}
		p.path = append(p.path, k...)
		switch v.Type() {
		case fastjson.TypeObject:
			if depth < maxDepth {
				inner, _ := v.Object()
				w.object(inner, depth+1)
			} else {
				w.add(v.MarshalTo(nil), depth)
			}
		case fastjson.TypeString:
			w.add(v.GetStringBytes(), depth)
		case fastjson.TypeNull:
		default:
			// Numbers keep their literal text; true/false and arrays are
			// kept as JSON.
			p.literal = v.MarshalTo(p.literal[:0])
			w.add(p.literal, depth)
		}
		p.path = p.path[:n]
	})
}

func (w *jsonWalker) add(value []byte, depth int) {
	if len(value) == 0 {
		if depth == 0 && len(w.empty) < maxEmpty && w.valid && utf8.Valid(w.p.path) {
			w.empty = append(w.empty, w.p.str(w.p.path))
		}
		return
	}
	if w.budget == 0 {
		w.over = true
		return
	}
	w.budget--
	p := w.p
	name := p.path
	if reserved(name) {
		name = append([]byte(JSONConflictPrefix), name...)
	}
	var v string
	if w.valid {
		v = p.str(value)
	} else {
		v = strings.ToValidUTF8(string(value), "\uFFFD")
	}
	var nm string
	if w.valid && utf8.Valid(name) {
		nm = p.str(name)
	} else {
		nm = strings.ToValidUTF8(string(name), "\uFFFD")
	}
	if nm == "" {
		nm = "json.empty_key"
	}
	w.row.Fields = append(w.row.Fields, store.Field{Name: nm, Value: v})
	if depth == 0 {
		w.top.note(nm, v)
	}
}

// reserved reports whether a JSON key would clash with a parser-set name.
func reserved(name []byte) bool {
	s := unsafe.String(unsafe.SliceData(name), len(name))
	switch {
	case len(s) == 0:
		return false
	case s[0] == '_':
		return true
	case strings.IndexByte(s, '.') < 0:
		return false // every other reserved name has a dot: most keys stop here
	}
	return strings.HasPrefix(s, "vigil.") || strings.HasPrefix(s, "log.syslog.") ||
		s == FieldHostname || s == FieldPeer || format.IsNormalized(s)
}

func invalidUTF8(b []byte) string {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return "invalid UTF-8 at byte " + strconv.Itoa(i) + "; text shows U+FFFD, vigil.raw_base64 holds the exact bytes"
		}
		i += size
	}
	return "invalid UTF-8"
}
