package iis

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// HTTPProxy returns the Exchange HttpProxy log format, named
// "exchange-httpproxy": the front end's (CAFE's) CSV log of every request
// it proxies to a mailbox server, one folder per protocol under
// Logging\HttpProxy.
func HTTPProxy() format.Text { return httpProxy{} }

// httpProxy is the Exchange HttpProxy log format.
type httpProxy struct{}

// column is an HttpProxy column this package maps.
type column uint8

const (
	cOther column = iota
	cDateTime
	cRequestID
	cProtocol
	cURLHost
	cURLStem
	cProtocolAction
	cAuthType
	cIsAuthenticated
	cAuthUser
	cAnchorMailbox
	cUserAgent
	cClientIP
	cServerHostName
	cHTTPStatus
	cErrorCode
	cMethod
	cTargetServer
	cRequestBytes
	cResponseBytes
	cTotalRequestTime
	cURLQuery
	nColumns
)

// proxyNames maps an HttpProxy column name (lowercase) to its column.
var proxyNames = map[string]column{
	"datetime":           cDateTime,
	"requestid":          cRequestID,
	"protocol":           cProtocol,
	"urlhost":            cURLHost,
	"urlstem":            cURLStem,
	"protocolaction":     cProtocolAction,
	"authenticationtype": cAuthType,
	"isauthenticated":    cIsAuthenticated,
	"authenticateduser":  cAuthUser,
	"anchormailbox":      cAnchorMailbox,
	"useragent":          cUserAgent,
	"clientipaddress":    cClientIP,
	"serverhostname":     cServerHostName,
	"httpstatus":         cHTTPStatus,
	"errorcode":          cErrorCode,
	"method":             cMethod,
	"targetserver":       cTargetServer,
	"requestbytes":       cRequestBytes,
	"responsebytes":      cResponseBytes,
	"totalrequesttime":   cTotalRequestTime,
	"urlquery":           cURLQuery,
}

// defaultHeader is the column order of Exchange 2016/2019 HttpProxy logs
// (their "#Fields:" line); newer builds append columns, older ones have
// fewer at the end.
const defaultHeader = "DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,Protocol,UrlHost,UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,AnchorMailbox,UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,ErrorCode,Method,ProxyAction,TargetServer,TargetServerVersion,RoutingType,RoutingHint,BackEndCookie,ServerLocatorHost,ServerLocatorLatency,RequestBytes,ResponseBytes,TargetOutstandingRequests,AuthModulePerfContext,HttpPipelineLatency,CalculateTargetBackEndLatency,GlsLatencyBreakup,TotalGlsLatency,AccountForestLatencyBreakup,TotalAccountForestLatency,ResourceForestLatencyBreakup,TotalResourceForestLatency,ADLatency,SharedCacheLatencyBreakup,TotalSharedCacheLatency,ActivityContextLifeTime,ModuleToHandlerSwitchingLatency,ClientReqStreamLatency,BackendReqInitLatency,BackendReqStreamLatency,BackendProcessingLatency,BackendRespInitLatency,BackendRespStreamLatency,ClientRespStreamLatency,KerberosAuthHeaderLatency,HandlerCompletionLatency,RequestHandlerLatency,HandlerToModuleSwitchingLatency,ProxyTime,CoreLatency,RoutingLatency,HttpProxyOverhead,TotalRequestTime,RouteRefresherLatency,UrlQuery,BackEndGenericInfo,GenericInfo,GenericErrors,EdgeTraceId,DatabaseGuid,UserADObjectGuid,PartitionEndpointLookupLatency,RoutingStatus"

// minColumns is how many columns a line without a header must have: up to
// Method, the last column this format needs before the optional ones.
const minColumns = 23

// maxColumns bounds an HttpProxy "#Fields:" header (Exchange 2019 writes
// 74 columns).
const maxColumns = 256

// defaultColumns is defaultHeader parsed; it is never modified.
var defaultColumns = mustColumns(defaultHeader)

// proxyLayout is the column order of one stream, from its "#Fields:" line.
type proxyLayout struct {
	columns []column
}

func mustColumns(h string) *proxyLayout {
	l, err := parseProxyHeader([]byte(h))
	if err != nil {
		panic(err)
	}
	return l
}

// parseProxyHeader parses the column names after "#Fields:".
func parseProxyHeader(names []byte) (*proxyLayout, error) {
	var arr [96][]byte
	cols, _, err := splitCSV(arr[:0], bytes.TrimSpace(names), nil)
	if err != nil {
		return nil, fmt.Errorf("#Fields header: %w", err)
	}
	if len(cols) > maxColumns {
		return nil, fmt.Errorf("#Fields header has %d columns; at most %d are supported", len(cols), maxColumns)
	}
	l := &proxyLayout{columns: make([]column, len(cols))}
	date := false
	for i, name := range cols {
		var low [32]byte
		name = bytes.TrimSpace(name)
		if len(name) > len(low) {
			continue
		}
		for j, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			low[j] = c
		}
		l.columns[i] = proxyNames[transient(low[:len(name)])]
		date = date || l.columns[i] == cDateTime
	}
	if !date {
		return nil, errors.New("#Fields header has no DateTime column")
	}
	return l, nil
}

// Name implements format.Text.
func (httpProxy) Name() string { return NameHTTPProxy }

// Detect implements format.Text. It takes the "#Fields: DateTime,RequestId,"
// and "#Log-type: HttpProxy Logs" header lines, and lines that start with an
// ISO 8601 time, a request GUID and the server's major and minor version:
// `2024-01-24T15:26:47.957Z,3422ea93-768f-4cd4-8b0c-578038deb0b2,15,1,`.
// The other "#" lines (#Software, #Version, #Date) are the same in every
// Exchange log and are left to whichever format registered first.
func (httpProxy) Detect(msg []byte, _ *format.Source) bool {
	b := line(msg)
	if len(b) > 0 && b[0] == '#' {
		return hasPrefix(b, "#Fields: DateTime,RequestId,") || hasPrefix(b, "#Log-type: HttpProxy")
	}
	k := bytes.IndexByte(b, ',')
	if k < 19 || k > 35 || !isISOTime(b[:k]) {
		return false
	}
	b = b[k+1:]
	if len(b) < 37 || !isGUID(b[:36]) || b[36] != ',' {
		return false
	}
	b = b[37:]
	for i := 0; i < 2; i++ {
		k := bytes.IndexByte(b, ',')
		if k < 0 || !digits(b[:k], 5) {
			return false
		}
		b = b[k+1:]
	}
	return true
}

// isISOTime reports whether b starts like YYYY-MM-DDTHH:MM:SS.
func isISOTime(b []byte) bool {
	return len(b) >= 19 && isDate(b[:10]) && b[10] == 'T' && isClock(b[11:19])
}

// isGUID reports whether b is a GUID in 8-4-4-4-12 hex form.
func isGUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// proxyState is what the format keeps per source.
type proxyState struct {
	layout *proxyLayout // from the last #Fields header; nil before one
	csv    []byte       // unescaped quoted fields of the current line
	tmp    []byte       // reused for values built from pieces
}

// proxyStateOf returns src's state, creating it.
func proxyStateOf(src *format.Source) *proxyState {
	st, _ := src.State(NameHTTPProxy).(*proxyState)
	if st == nil {
		st = &proxyState{}
		src.SetState(NameHTTPProxy, st)
	}
	return st
}

// Parse implements format.Text.
func (httpProxy) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	if src == nil {
		src = &format.Source{}
	}
	st := proxyStateOf(src)
	b := line(msg)
	if len(b) == 0 {
		return errors.New("empty line")
	}
	if b[0] == '#' {
		if hasPrefix(b, "#Fields:") {
			l, err := parseProxyHeader(b[len("#Fields:"):])
			if err != nil {
				return err
			}
			st.layout = l
		}
		return format.ErrSkip
	}
	var arr [96][]byte
	cols, csv, err := splitCSV(arr[:0], b, st.csv[:0])
	st.csv = csv
	if err != nil {
		return err
	}
	l := defaultColumns
	if st.layout != nil {
		l = st.layout
		if len(cols) != len(l.columns) {
			return fmt.Errorf("line has %d columns, its #Fields header %d", len(cols), len(l.columns))
		}
	}
	if l == defaultColumns && len(cols) < minColumns {
		return fmt.Errorf("line has %d columns; an HttpProxy log line has at least %d", len(cols), minColumns)
	}
	var v [nColumns][]byte
	for i, c := range cols {
		if i < len(l.columns) && l.columns[i] != cOther {
			v[l.columns[i]] = bytes.TrimSpace(c)
		}
	}
	return addProxy(&v, src, ev, &st.tmp)
}

// addProxy adds the normalized fields of one HttpProxy line; buf is
// scratch.
func addProxy(v *[nColumns][]byte, src *format.Source, ev *format.Event, buf *[]byte) error {
	loc := time.UTC
	if src.Location != nil {
		loc = src.Location
	}
	t, err := isoTime(v[cDateTime], loc)
	if err != nil {
		return err
	}
	ev.Time = t
	status := 0
	if s := v[cHTTPStatus]; len(s) > 0 {
		n, ok := atoi(s)
		if !ok || n > 999 {
			return fmt.Errorf("HttpStatus %q is not an HTTP status", s)
		}
		status = int(n)
	}
	from := len(ev.Fields)
	ev.Add(format.FieldDataset, "exchange.httpproxy")
	ev.AddBytes(fieldRequestID, v[cRequestID])
	ev.AddBytes(format.FieldHostName, v[cServerHostName])
	addProxyClient(ev, v[cClientIP], buf)
	ev.AddBytes(fieldURLDomain, v[cURLHost])

	user := cp(ev, v[cAuthUser])
	query := v[cURLQuery]
	if len(query) > 0 && query[0] == '?' {
		query = query[1:]
	}
	format.AddHTTP(ev, src, format.HTTP{
		Method:    cp(ev, v[cMethod]),
		Path:      cp(ev, v[cURLStem]),
		Query:     cp(ev, query),
		Status:    status,
		User:      user,
		UserAgent: cp(ev, v[cUserAgent]),
	})
	proto := proxyProtocol(ev, v[cProtocol], buf)
	if proto != "" {
		setField(ev, from, format.FieldProtocol, proto)
	} else {
		proto = getField(ev, from, format.FieldProtocol)
	}
	if a := v[cProtocolAction]; len(a) > 0 && getField(ev, from, format.FieldAction) == "" {
		ev.AddBytes(format.FieldAction, a)
	}
	httpProxyAuth(ev, from, proto, bytes.EqualFold(v[cIsAuthenticated], []byte("true")), user, status)
	validUTF8(ev, from)
	if e := v[cErrorCode]; len(e) > 0 {
		if r := getField(ev, from, format.FieldReason); r != "" {
			setField(ev, from, format.FieldReason, r+" (ErrorCode "+string(e)+")")
		} else {
			ev.AddBytes(format.FieldReason, e)
		}
	}
	ev.AddBytes(fieldAuthType, v[cAuthType])
	ev.AddBytes(fieldAnchorMailbox, v[cAnchorMailbox])
	ev.AddBytes(fieldDestDomain, v[cTargetServer])
	addNumber(ev, fieldRequestBytes, v[cRequestBytes])
	addNumber(ev, format.FieldBytes, v[cResponseBytes])
	addDuration(ev, v[cTotalRequestTime], buf)
	return nil
}

// isoTime parses an HttpProxy DateTime, 2024-01-24T15:26:47.957Z; a time
// without a zone is in loc.
func isoTime(b []byte, loc *time.Location) (time.Time, error) {
	if !isISOTime(b) {
		return time.Time{}, fmt.Errorf("DateTime %q is not an ISO 8601 time", b)
	}
	end := 19
	if end < len(b) && b[end] == '.' {
		end++
		for end < len(b) && b[end] >= '0' && b[end] <= '9' {
			end++
		}
	}
	clock := b[11:end]
	if !isClock(clock) {
		return time.Time{}, fmt.Errorf("DateTime %q is not an ISO 8601 time", b)
	}
	zone := b[end:]
	switch {
	case len(zone) == 0:
	case len(zone) == 1 && (zone[0] == 'Z' || zone[0] == 'z'):
		loc = time.UTC
	case len(zone) == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' && num2(zone, 1) >= 0 && num2(zone, 4) >= 0:
		off := (num2(zone, 1)*60 + num2(zone, 4)) * 60
		if zone[0] == '-' {
			off = -off
		}
		if off == 0 {
			loc = time.UTC
		} else {
			loc = time.FixedZone("", off)
		}
	default:
		return time.Time{}, fmt.Errorf("DateTime %q has an invalid zone", b)
	}
	t, ok := civil(b[:10], clock, loc)
	if !ok {
		return time.Time{}, fmt.Errorf("DateTime %q is not a valid time", b)
	}
	return t.UTC(), nil
}

// proxyProtocols maps an HttpProxy Protocol (lowercase) to
// network.protocol.
var proxyProtocols = map[string]string{
	"eas":          "activesync",
	"ews":          "ews",
	"mapi":         "mapi",
	"owa":          "owa",
	"owacalendar":  "owa",
	"ecp":          "ecp",
	"autodiscover": "autodiscover",
	"rpchttp":      "rpc",
	"oab":          "oab",
	"powershell":   "powershell",
}

// proxyProtocol returns network.protocol for an HttpProxy Protocol: the
// names of format.Protocol for the endpoints it knows, else the protocol
// lowercased (e.g. pushnotifications, xrop).
func proxyProtocol(ev *format.Event, b []byte, buf *[]byte) string {
	if len(b) == 0 || len(b) > 32 {
		return ""
	}
	low := (*buf)[:0]
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low = append(low, c)
	}
	*buf = low
	if p, ok := proxyProtocols[transient(low)]; ok {
		return p
	}
	return cp(ev, low)
}

// addProxyClient adds source.ip from ClientIpAddress. The front end may
// write two addresses separated by blanks (Elastic's pipeline names them
// external and internal): the first is the client, and a different last
// one becomes source.nat.ip.
func addProxyClient(ev *format.Event, b []byte, buf *[]byte) {
	if len(b) == 0 {
		return
	}
	sep := func(c byte) bool { return c == ' ' || c == ',' || c == '\t' }
	i := 0
	for i < len(b) && !sep(b[i]) {
		i++
	}
	j := len(b)
	for j > i && !sep(b[j-1]) {
		j--
	}
	first, last := b[:i], b[j:]
	addIP(ev, format.FieldSourceIP, fieldSourceAddr, first, buf)
	if !bytes.Equal(first, last) {
		if a, ok := parseIP(last); ok {
			addAddr(ev, fieldSourceNATIP, a, last, buf)
		}
	}
}
