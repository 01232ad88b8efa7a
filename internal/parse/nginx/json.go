package nginx

import (
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/store"
)

// JSON returns the format "nginx": access logs that nginx or OpenResty
// write with `log_format NAME escape=json '{...}'`, whatever the key names.
// A key is recognized by its name folded to lowercase without '_', '-',
// '.' and '@', so remote_addr, remoteAddr and {"remote":{"addr":...}} are
// one key; see keyKind for the names known. It matches events that have a
// numeric HTTP status key (status, statuscode, status_code) and a request
// key (request, request_uri, uri, url, path) or nginx's time key
// (time_local, time_iso8601, msec).
func JSON() format.JSON { return jsonFormat{} }

type jsonFormat struct{}

// Name implements format.JSON.
func (jsonFormat) Name() string { return "nginx" }

// Match implements format.JSON.
func (jsonFormat) Match(ev *format.Event) bool {
	payload := ev.Payload()
	var buf [64]key
	return matches(payload, kindsOf(payload, buf[:0]))
}

// Map implements format.JSON. The payload keys it understood are replaced
// by their normalized fields (one event, one name per meaning) unless
// ev.KeepKeys; keys it does not know stay under their own names, and the
// exact payload stays in the journal.
func (j jsonFormat) Map(ev *format.Event, src *format.Source) error {
	payload := ev.Payload()
	var buf [64]key
	return j.mapKinds(ev, src, payload, kindsOf(payload, buf[:0]))
}

// MatchMap implements format.MatchMapper: Match, then Map, reading each
// key's meaning once.
func (j jsonFormat) MatchMap(ev *format.Event, src *format.Source) (bool, error) {
	payload := ev.Payload()
	var buf [64]key
	kinds := kindsOf(payload, buf[:0])
	if !matches(payload, kinds) {
		return false, nil
	}
	return true, j.mapKinds(ev, src, payload, kinds)
}

// kindsOf appends the kinds of the payload's fields to kinds. (The
// parser's own fields before them would all be kNone.)
func kindsOf(payload []store.Field, kinds []key) []key {
	for i := range payload {
		kinds = append(kinds, keyKind(payload[i].Name))
	}
	return kinds
}

// matches reports whether the payload's fields, of the given kinds, are
// an access log's: a numeric HTTP status and a request or nginx time.
func matches(payload []store.Field, kinds []key) bool {
	var st, req bool
	for i, k := range kinds {
		switch k {
		case kStatus:
			st = st || status(payload[i].Value) != 0
		case kRequest, kRequestURI, kURI, kTimeStrict:
			req = true
		default:
			continue
		}
		if st && req {
			return true
		}
	}
	return false
}

// mapKinds is Map with the kinds of the payload's fields known.
func (j jsonFormat) mapKinds(ev *format.Event, src *format.Source, payload []store.Field, kinds []key) error {
	if err := j.mapFields(ev, src, payload, kinds); err != nil {
		return err
	}
	if ev.KeepKeys {
		return nil
	}
	start := ev.PayloadStart
	kept := ev.Fields[:start]
	for i, f := range ev.Fields[start:] {
		if i < len(kinds) && kinds[i] != kNone {
			continue
		}
		kept = append(kept, f)
	}
	ev.Fields = kept
	return nil
}

// mapFields reads the payload's fields, of the given kinds, into the
// normalized fields.
func (jsonFormat) mapFields(ev *format.Event, src *format.Source, payload []store.Field, kinds []key) error {
	var a access
	for _, k := range ev.Empty {
		if keyKind(k) == kUser {
			a.userLogged = true // "user":"" (escape=json writes no "-")
		}
	}
	for i, f := range payload {
		var dst *string
		switch kinds[i] {
		case kNone:
			continue
		case kPeer:
			dst = &a.peer
		case kPeerPort:
			dst = &a.peerPort
		case kRealIP:
			dst = &a.realIP
		case kXFF:
			dst = &a.xff
		case kUser:
			dst = &a.user
			a.userLogged = true
		case kTimeStrict:
			if a.timeVal == "" {
				a.timeKey = f.Name
			}
			dst = &a.timeVal
		case kTimeLoose:
			dst = &a.looseTime
		case kRequest:
			dst = &a.request
		case kMethod:
			dst = &a.method
		case kRequestURI:
			dst = &a.requestURI
		case kURI:
			dst = &a.uri
		case kArgs:
			dst = &a.args
		case kStatus:
			dst = &a.status
		case kBytes:
			dst = &a.bytes
		case kBodyBytes:
			dst = &a.bodyBytes
		case kReqBytes:
			dst = &a.reqBytes
		case kReqTime:
			dst = &a.reqTime
		case kReferrer:
			dst = &a.referrer
		case kUserAgent:
			dst = &a.userAgent
		case kServerName:
			dst = &a.serverName
		case kHost:
			dst = &a.host
		case kLocation:
			dst = &a.location
		case kUpLocation:
			dst = &a.upLocation
		case kServerAddr:
			dst = &a.serverAddr
		case kServerPort:
			dst = &a.serverPort
		case kReporter:
			dst = &a.reporter
		}
		if *dst == "" {
			*dst = f.Value
		}
	}
	return a.emit(ev, src)
}

// key is what a JSON key means.
type key uint8

const (
	kNone key = iota
	kPeer
	kPeerPort
	kRealIP
	kXFF
	kUser
	kTimeStrict
	kTimeLoose
	kRequest
	kMethod
	kRequestURI
	kURI
	kArgs
	kStatus
	kBytes
	kBodyBytes
	kReqBytes
	kReqTime
	kReferrer
	kUserAgent
	kServerName
	kHost
	kLocation
	kUpLocation
	kServerAddr
	kServerPort
	kReporter
)

// maxKey is the longest key name considered.
const maxKey = 40

// keyKind returns what a flattened JSON key means. Fields that package
// parse sets itself (_msg, vigil.*, log.*, host.hostname) and renamed
// clashing keys (json.*) mean nothing here.
func keyKind(name string) key {
	if name == "" || len(name) > maxKey {
		return kNone
	}
	switch name[0] { // the prefixes, tested only for names they may start
	case '_':
		return kNone
	case 'h':
		if name == "host.hostname" {
			return kNone
		}
	case 'v':
		if strings.HasPrefix(name, "vigil.") {
			return kNone
		}
	case 'l':
		if strings.HasPrefix(name, "log.") {
			return kNone
		}
	case 'j':
		if strings.HasPrefix(name, "json.") {
			return kNone
		}
	}
	var buf [maxKey]byte
	n := 0
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			buf[n] = c
			n++
		case 'A' <= c && c <= 'Z':
			buf[n] = c + 'a' - 'A'
			n++
		case c == '_', c == '-', c == '.', c == '@':
		default:
			return kNone
		}
	}
	switch string(buf[:n]) {
	case "ip", "remoteaddr", "remoteaddress", "remoteip", "clientip", "clientaddr", "clientaddress":
		return kPeer
	case "remoteport", "clientport":
		return kPeerPort
	case "realipremoteaddr":
		return kRealIP
	case "httpxforwardedfor", "xforwardedfor", "forwardedfor", "xff":
		return kXFF
	case "user", "remoteuser", "username":
		return kUser
	case "timelocal", "timeiso8601", "msec":
		return kTimeStrict
	case "time", "timestamp", "datetime":
		return kTimeLoose
	case "request", "requestline":
		return kRequest
	case "requestmethod", "method", "httpmethod":
		return kMethod
	case "requesturi", "requesturl", "url":
		return kRequestURI
	case "uri", "path", "urlpath", "requestpath":
		return kURI
	case "args", "querystring", "query":
		return kArgs
	case "status", "statuscode", "httpstatus", "httpstatuscode", "responsestatus", "responsecode":
		return kStatus
	case "bytessent", "bytes", "responsebytes":
		return kBytes
	case "bodybytessent", "bodybytes":
		return kBodyBytes
	case "requestlength", "requestbytes":
		return kReqBytes
	case "requesttime":
		return kReqTime
	case "httpreferer", "httpreferrer", "referer", "referrer":
		return kReferrer
	case "httpuseragent", "useragent":
		return kUserAgent
	case "servername", "vhost":
		return kServerName
	case "host", "httphost":
		return kHost
	case "senthttplocation", "location":
		return kLocation
	case "upstreamhttplocation":
		return kUpLocation
	case "serveraddr":
		return kServerAddr
	case "serverport":
		return kServerPort
	case "source":
		return kReporter
	}
	return kNone
}
