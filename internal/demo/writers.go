package demo

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The writers below produce each log as its shipper sends it over syslog
// (docs/formats.md): BSD syslog headers in UTC, newline-framed.

// Kind is the log a line belongs to; the summary counts lines by kind.
type Kind string

// Log kinds.
const (
	KindNginx   Kind = "nginx"       // nginx JSON access log (deploy/nginx plus method and Location)
	KindIIS     Kind = "iis"         // IIS W3C log of the Exchange servers, #Fields header included
	KindIMAP    Kind = "imap"        // Exchange IMAP4 protocol log
	KindWindows Kind = "windows"     // Windows Security events from nxlog (to_json)
	KindAudit   Kind = "admin-audit" // Exchange cmdlet audit events from nxlog (with EventXML)
)

// Kinds lists every kind, in summary order.
var Kinds = []Kind{KindNginx, KindIIS, KindIMAP, KindWindows, KindAudit}

// host is a machine of the simulated site.
type host struct {
	name string // syslog hostname
	ip   netip.Addr
}

var (
	proxies = []host{{"proxy1", netip.MustParseAddr("10.0.0.11")}, {"proxy2", netip.MustParseAddr("10.0.0.12")}}
	servers = []host{{"exch01", netip.MustParseAddr("10.0.0.21")}, {"exch02", netip.MustParseAddr("10.0.0.22")}}
	dc      = host{"dc01", netip.MustParseAddr("10.0.0.5")}
)

// serverIP returns the address of an Exchange server by name.
func serverIP(name string) netip.Addr {
	for _, s := range servers {
		if s.name == name {
			return s.ip
		}
	}
	return servers[0].ip
}

// cst is China Standard Time, the site's zone (nginx writes local time).
var cst = time.FixedZone("CST", 8*3600)

// bsd frames a message as RFC 3164 syslog.
func bsd(at time.Time, hostname, tag, msg string) string {
	return fmt.Sprintf("<134>%s %s %s: %s", at.UTC().Format(time.Stamp), hostname, tag, msg)
}

// marshal encodes v as JSON the way nginx (escape=json) and nxlog do:
// without escaping <, > and & for HTML.
func marshal(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // cannot fail: strings, numbers and maps of them
	return strings.TrimSuffix(b.String(), "\n")
}

// request is one HTTP request to the mail front end.
type request struct {
	method, path, query string
	user                string // Basic user as the client sent it ("CORP\zhangwei"), "" for none
	client              netip.Addr
	ua                  string
	status              int
	location            string // the redirect target (OWA forms logon)
	bytes               int
	ms                  int // time taken
	// IIS sub-status and Win32 status (401 1 1326: bad password).
	sub, win32 int
}

// nginxLine is an access log line of deploy/nginx/vigil-access-log.conf's
// JSON format with $request_method and $sent_http_location added.
func nginxLine(at time.Time, proxy host, r request) string {
	uri := r.path
	if r.query != "" {
		uri += "?" + r.query
	}
	m := struct {
		Source   string  `json:"source"`
		IP       string  `json:"ip"`
		User     string  `json:"user"`
		Time     string  `json:"time_local"`
		Method   string  `json:"request_method"`
		Status   int     `json:"statuscode"`
		Bytes    int     `json:"bytes_sent"`
		Referer  string  `json:"http_referer"`
		UA       string  `json:"http_user_agent"`
		URI      string  `json:"request_uri"`
		Took     float64 `json:"request_time"`
		Gzip     string  `json:"gzip_ration"`
		Query    string  `json:"query_string"`
		Location string  `json:"sent_http_location"`
	}{
		Source: proxy.ip.String(), IP: r.client.String(), User: r.user,
		Time: at.In(cst).Format("02/Jan/2006:15:04:05 -0700"), Method: r.method, Status: r.status,
		Bytes: r.bytes, UA: r.ua, URI: uri, Took: float64(r.ms) / 1000, Gzip: "-", Query: r.query,
		Location: r.location,
	}
	return bsd(at, proxy.name, "nginx", marshal(m))
}

// iisFields is the Exchange servers' IIS log header: Exchange's default
// fields plus X-Forwarded-For, which the proxies set.
const iisFields = "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For"

// iisHeader is the #Fields line an IIS log starts with.
func iisHeader(at time.Time, server host) string {
	return bsd(at, server.name, "IIS", iisFields)
}

// iisLine is one request in the IIS log of server; peer is the proxy that
// forwarded it (then the client goes to X-Forwarded-For), or the client.
func iisLine(at time.Time, server host, peer netip.Addr, r request) string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return strings.ReplaceAll(s, " ", "+")
	}
	xff := "-"
	if peer != r.client {
		xff = r.client.String()
	}
	// IIS does not log the redirect target (r.location).
	msg := fmt.Sprintf("%s %s %s %s %s 443 %s %s %s - %d %d %d %d %s",
		at.UTC().Format("2006-01-02 15:04:05"), server.ip, r.method, r.path, dash(r.query),
		dash(r.user), peer, dash(r.ua), r.status, r.sub, r.win32, r.ms, xff)
	return bsd(at, server.name, "IIS", msg)
}

// imapLine is an Exchange IMAP4 protocol log line for a LOGIN.
func imapLine(at time.Time, server host, session uint64, client netip.Addr, user string, ok bool) string {
	res := `"R=""a1 NO LOGIN failed."";ErrMsg=AuthFailed:LogonDenied"`
	if ok {
		res = "R=a1 OK"
	}
	msg := fmt.Sprintf("%s,%016X,3,%s:993,%s:%d,%s,%d,40,30,login,,%s",
		at.UTC().Format("2006-01-02T15:04:05.000Z"), session, server.ip, client, 50000+session%15000, user, 5+session%40, res)
	return bsd(at, server.name, "IMAP4", msg)
}

// windowsEvent is a Windows Security event as nxlog's im_msvistalog with
// to_json() sends it.
func windowsEvent(at time.Time, fields map[string]any) string {
	m := map[string]any{
		"EventTime":  at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"Hostname":   "DC01.corp.example",
		"SourceName": "Microsoft-Windows-Security-Auditing",
		"Channel":    "Security",
		"EventType":  "AUDIT_SUCCESS",
	}
	for k, v := range fields {
		m[k] = v
	}
	return bsd(at, dc.name, "nxlog", marshal(m)) // map keys are sorted: the bytes are stable
}

// lockoutEvent is event 4740: the domain controller locked user's
// account; caller is the computer the bad attempts reached.
func lockoutEvent(at time.Time, user, caller string) string {
	return windowsEvent(at, map[string]any{"EventID": 4740, "TargetUserName": user, "TargetDomainName": caller,
		"SubjectUserName": "DC01$", "SubjectDomainName": "CORP", "TargetSid": "S-1-5-21-1004336348-1177238915-682003330-" + fmt.Sprint(1100+len(user))})
}

// unlockEvent is event 4767: by unlocked user's account.
func unlockEvent(at time.Time, user, by string) string {
	return windowsEvent(at, map[string]any{"EventID": 4767, "TargetUserName": user, "TargetDomainName": "CORP",
		"SubjectUserName": by, "SubjectDomainName": "CORP"})
}

// auditEvent is an Exchange cmdlet audit event (MSExchange Management
// log, event 1) as nxlog sends it with CaptureEventXML, so that the
// caller is known.
func auditEvent(at time.Time, server host, caller, cmdlet, params string) string {
	esc := func(s string) string {
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
	}
	xml := "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='MSExchange CmdletLogs'/><EventID Qualifiers='16384'>1</EventID></System><EventData>" +
		"<Data>" + esc(cmdlet) + "</Data><Data>" + esc(params) + "</Data><Data>corp.example/Users/" + esc(caller) + "</Data>" +
		"<Data>S-1-5-21-1004336348-1177238915-682003330-1234</Data><Data>S-1-5-21-1004336348-1177238915-682003330-1234</Data>" +
		"<Data>Remote-PowerShell-Unknown</Data><Data>6540 w3wp#MSExchangePowerShellAppPool</Data><Data></Data><Data>00:00:00.1230000</Data></EventData></Event>"
	m := map[string]any{
		"EventTime":  at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"Hostname":   strings.ToUpper(server.name) + ".corp.example",
		"SourceName": "MSExchange CmdletLogs",
		"Channel":    "MSExchange Management",
		"EventID":    1,
		"EventType":  "INFO",
		"Message":    fmt.Sprintf("Cmdlet succeeded. Cmdlet %s, parameters %s.", cmdlet, params),
		"EventXML":   xml,
	}
	return bsd(at, server.name, "nxlog", marshal(m))
}
