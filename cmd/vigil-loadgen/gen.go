package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// The log_format of the deployment Vigil grew out of (nginx, escape=json;
// note "gzip_ration" and the space after the first comma):
//
//	{"source":"192.168.0.8", "ip":"$remote_addr","user":"$remote_user","time_local":"$time_local","statuscode":$status,"bytes_sent":$bytes_sent,"http_referer":"$http_referer","http_user_agent":"$http_user_agent","request_uri":"$request_uri","request_time":$request_time,"gzip_ration":"$gzip_ratio","query_string":"$query_string"}
const (
	domain   = "corp.example"
	netbios  = `CORP\\` // a backslash, JSON-escaped as nginx's escape=json does
	mailHost = "https://mail.corp.example"
)

var (
	firstNames = []string{"anna", "ben", "carla", "david", "elena", "felix", "greta", "hugo", "ines", "jonas",
		"katrin", "lukas", "maria", "nils", "olga", "paul", "quentin", "rosa", "stefan", "tanja",
		"ulrich", "vera", "walter", "xenia", "yusuf", "zoe", "ahmed", "birgit", "chen", "dragan"}
	lastNames = []string{"mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker",
		"schulz", "hoffmann", "koch", "richter", "klein", "wolf", "neumann", "schwarz", "braun", "zimmermann",
		"krueger", "hartmann", "lange", "werner", "krause", "lehmann", "koehler", "maier", "huber", "kaiser",
		"fuchs", "peters", "scholz", "moeller", "weiss", "jung", "hahn", "vogel", "friedrich", "keller",
		"guenther", "frank", "berger", "winkler", "roth", "beck", "lorenz", "baumann", "franke", "albrecht",
		"schuster", "simon", "ludwig", "boehm", "winter", "kraus", "martin", "schumacher", "kraemer", "vogt",
		"stein", "jaeger", "otto", "sommer", "gross", "seidel", "heinrich", "brandt", "haas", "schreiber",
		"graf", "schulte", "dietrich", "ziegler", "kuhn", "kuehn", "pohl", "engel", "horn", "busch",
		"bergmann", "thomas", "voigt", "sauer", "arnold", "wolff", "pfeiffer"}

	phones = []struct{ ua, devType string }{
		{"Apple-iPhone15C2/2103.10", "iPhone"},
		{"Apple-iPhone14C5/2008.10", "iPhone"},
		{"Apple-iPhone16C1/2108.97", "iPhone"},
		{"Apple-iPad13C1/2006.24", "iPad"},
		{"Outlook-iOS-Android/1.0", "Outlook"},
		{"Android-SAMSUNG-SM-G991B/101.10004", "SAMSUNGSMG991B"},
		{"Android-SAMSUNG-SM-S918B/101.40003", "SAMSUNGSMS918B"},
		{"Android/13-EAS-2.0", "Android"},
		{"MOTOROLA-motorola_edge_30/101.1", "Android"},
	}
	desktops = []string{
		"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17231; Pro)",
		"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.16827; Pro)",
		"Microsoft Office/16.0 (Windows NT 10.0.22631; Microsoft Outlook 16.0.17328; Pro)",
		"MacOutlook/16.80.23121017 (Intelx64 Mac OS X 14.2.1 (Build 23C71))",
		"ExchangeServicesClient/15.00.0913.015",
	}
	browsers = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
	}
	asCommands = []struct {
		cmd    string
		weight int
	}{{"Sync", 40}, {"Ping", 25}, {"FolderSync", 8}, {"GetItemEstimate", 6}, {"ItemOperations", 5},
		{"SendMail", 4}, {"MoveItems", 3}, {"Settings", 3}, {"SmartReply", 2}, {"Provision", 2}, {"Search", 2}}
	owaActions = []string{"GetItem", "FindItem", "FindConversation", "GetConversationItems", "CreateItem",
		"UpdateItem", "GetOwaUserConfiguration", "GetPeopleFilters", "SubscribeToNotification", "GetCalendarFolders"}
)

type user struct {
	name   string // "anna.mueller"
	ip     int    // index of the usual client address
	device string // ActiveSync DeviceId
	guid   string // mailbox GUID
	phone  int    // index into phones
	agent  int    // index into browsers
	client int    // index into desktops
}

// generator makes access-log lines; the same seed gives the same lines.
type generator struct {
	r     *rand.Rand
	ips   []string
	users []user
	asCum []int
}

func newGenerator(seed uint64) *generator {
	g := &generator{r: rand.New(rand.NewPCG(seed, 0x766967696c))}
	for range 3000 {
		g.ips = append(g.ips, g.publicIP())
	}
	const alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
	seen := map[string]bool{}
	for len(g.users) < 4000 {
		name := firstNames[g.r.IntN(len(firstNames))] + "." + lastNames[g.r.IntN(len(lastNames))]
		if seen[name] {
			name += strconv.Itoa(g.r.IntN(90) + 10)
			if seen[name] {
				continue
			}
		}
		seen[name] = true
		phone := g.r.IntN(len(phones))
		var device string
		switch ua := phones[phone].ua; {
		case strings.HasPrefix(ua, "Apple"):
			b := []byte("Appl")
			for range 11 {
				b = append(b, alnum[g.r.IntN(len(alnum))])
			}
			device = string(b)
		case strings.HasPrefix(ua, "Outlook"):
			device = fmt.Sprintf("%016X%016X", g.r.Uint64(), g.r.Uint64())
		default:
			device = fmt.Sprintf("androidc%010d", g.r.Int64N(1e10))
		}
		guid := fmt.Sprintf("%016x%016x", g.r.Uint64(), g.r.Uint64())
		g.users = append(g.users, user{
			name:   name,
			ip:     g.r.IntN(len(g.ips)),
			device: device,
			guid:   guid[:8] + "-" + guid[8:12] + "-" + guid[12:16] + "-" + guid[16:20] + "-" + guid[20:],
			phone:  phone,
			agent:  g.r.IntN(len(browsers)),
			client: g.r.IntN(len(desktops)),
		})
	}
	sum := 0
	for _, c := range asCommands {
		sum += c.weight
		g.asCum = append(g.asCum, sum)
	}
	return g
}

// publicIP returns a random address outside the private, loopback and
// multicast ranges. It is only text in the log lines.
func (g *generator) publicIP() string {
	for {
		a := 1 + g.r.IntN(223)
		if a == 10 || a == 127 || a == 100 || a == 169 || a == 172 || a == 192 {
			continue
		}
		return fmt.Sprintf("%d.%d.%d.%d", a, g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
	}
}

// entry is one request.
type entry struct {
	ip, user, referer, agent, uri, query, gzip string
	status, bytes                              int
	reqTime                                    float64
}

// line appends one syslog line (without LF) for time t to b.
func (g *generator) line(b []byte, t time.Time) []byte {
	r := g.r
	// A few users are far busier than the rest.
	u := &g.users[min(int(r.ExpFloat64()*float64(len(g.users))/6), len(g.users)-1)]
	e := entry{ip: g.ips[u.ip]}
	if r.IntN(10) == 0 { // travelling, or the phone on the mobile network
		e.ip = g.ips[r.IntN(len(g.ips))]
	}
	switch k := r.IntN(100); {
	case k < 45:
		g.activeSync(&e, u)
	case k < 70:
		g.owa(&e, u)
	case k < 82:
		g.ews(&e, u)
	case k < 92:
		g.autodiscover(&e, u)
	default:
		g.mapi(&e, u)
	}
	if r.IntN(200) == 0 {
		e.status, e.bytes = 500, 1208+r.IntN(200)
	}

	host := "proxy1"
	if r.IntN(3) == 0 {
		host = "proxy2"
	}
	b = append(b, "<190>"...)
	b = t.AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	b = append(b, host...)
	b = append(b, ` nginx: {"source":"192.168.0.8", "ip":"`...)
	b = append(b, e.ip...)
	b = append(b, `","user":"`...)
	b = append(b, e.user...)
	b = append(b, `","time_local":"`...)
	b = t.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `","statuscode":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, int64(e.bytes), 10)
	b = append(b, `,"http_referer":"`...)
	b = append(b, e.referer...)
	b = append(b, `","http_user_agent":"`...)
	b = append(b, e.agent...)
	b = append(b, `","request_uri":"`...)
	b = append(b, e.uri...)
	if e.query != "" {
		b = append(b, '?')
		b = append(b, e.query...)
	}
	b = append(b, `","request_time":`...)
	b = strconv.AppendFloat(b, e.reqTime, 'f', 3, 64)
	b = append(b, `,"gzip_ration":"`...)
	b = append(b, e.gzip...)
	b = append(b, `","query_string":"`...)
	b = append(b, e.query...)
	b = append(b, `"}`...)
	return b
}

// seconds returns a response time between lo and hi seconds, skewed low.
func (g *generator) seconds(lo, hi float64) float64 {
	f := g.r.Float64()
	return lo + f*f*f*(hi-lo)
}

func (g *generator) activeSync(e *entry, u *user) {
	r := g.r
	ph := phones[u.phone]
	i := r.IntN(g.asCum[len(g.asCum)-1])
	cmd := asCommands[0].cmd
	for j, c := range g.asCum {
		if i < c {
			cmd = asCommands[j].cmd
			break
		}
	}
	login := u.name + "@" + domain
	qUser := u.name + "%40" + domain
	if r.IntN(3) == 0 {
		login, qUser = netbios+u.name, "CORP%5C"+u.name
	}
	e.agent = ph.ua
	e.uri = "/Microsoft-Server-ActiveSync"
	e.query = "User=" + qUser + "&DeviceId=" + u.device + "&DeviceType=" + ph.devType + "&Cmd=" + cmd
	e.user = login
	switch k := r.IntN(100); {
	case k < 8: // the challenge before credentials are sent
		e.user, e.status, e.bytes, e.reqTime = "", 401, 328, g.seconds(0, 0.01)
	case k < 10: // wrong or expired password
		e.status, e.bytes, e.reqTime = 401, 328, g.seconds(0.01, 0.3)
	default:
		e.status = 200
		switch cmd {
		case "Ping":
			e.bytes, e.reqTime = 274+r.IntN(40), g.seconds(30, 900)
		case "Sync", "ItemOperations":
			e.bytes, e.reqTime = 300+r.IntN(60000), g.seconds(0.02, 2)
		default:
			e.bytes, e.reqTime = 280+r.IntN(3000), g.seconds(0.01, 0.8)
		}
	}
}

func (g *generator) owa(e *entry, u *user) {
	r := g.r
	e.agent = browsers[u.agent]
	e.referer = mailHost + "/owa/"
	switch k := r.IntN(100); {
	case k < 8:
		e.uri, e.status, e.bytes, e.referer = "/owa/", 302, 1012, ""
		e.reqTime = g.seconds(0, 0.02)
	case k < 14:
		e.uri = "/owa/auth/logon.aspx"
		e.query = "url=https%3a%2f%2fmail." + domain + "%2fowa%2f&reason=0"
		e.status, e.bytes, e.reqTime, e.gzip = 200, 8400+r.IntN(600), g.seconds(0.01, 0.2), "3.12"
	case k < 22:
		e.uri, e.referer = "/owa/auth.owa", mailHost+"/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2fmail."+domain+"%2fowa%2f"
		e.user, e.reqTime = netbios+u.name, g.seconds(0.05, 1.5)
		if r.IntN(5) == 0 { // bad password: the logon page again
			e.status, e.bytes = 302, 1180
			e.query = "reason=2"
		} else {
			e.status, e.bytes = 302, 1420
		}
	case k < 30:
		e.uri = "/owa/auth/15.2.1258/themes/resources/favicon.ico"
		e.status, e.bytes, e.reqTime = 200, 7882, g.seconds(0, 0.01)
	default:
		e.uri = "/owa/service.svc"
		e.query = "action=" + owaActions[r.IntN(len(owaActions))] + "&EP=1&ID=-" + strconv.Itoa(1+r.IntN(90)) + "&AC=1"
		e.user = u.name + "@" + domain
		if r.IntN(25) == 0 { // session expired
			e.status, e.bytes, e.reqTime = 440, 1204, g.seconds(0, 0.02)
		} else {
			e.status, e.bytes, e.reqTime = 200, 600+r.IntN(40000), g.seconds(0.02, 1.2)
			e.gzip = strconv.FormatFloat(1.5+4*r.Float64(), 'f', 2, 64)
		}
	}
}

func (g *generator) ews(e *entry, u *user) {
	r := g.r
	e.agent = desktops[u.client]
	e.uri = "/EWS/Exchange.asmx"
	if r.IntN(6) == 0 { // NTLM or Basic challenge
		e.status, e.bytes, e.reqTime = 401, 354, g.seconds(0, 0.01)
		return
	}
	e.user = u.name + "@" + domain
	e.status, e.bytes, e.reqTime = 200, 900+r.IntN(20000), g.seconds(0.02, 1.5)
}

func (g *generator) autodiscover(e *entry, u *user) {
	r := g.r
	if r.IntN(2) == 0 {
		e.agent = "iOS/17.2.1 (21C66) dataaccessd/1.0"
		e.uri = "/autodiscover/autodiscover.json/v1.0/" + u.name + "%40" + domain
		e.query = "Protocol=ActiveSync&RedirectCount=1"
		e.status, e.bytes, e.reqTime = 200, 530, g.seconds(0.01, 0.2)
		return
	}
	e.agent = desktops[u.client]
	e.uri = "/autodiscover/autodiscover.xml"
	if r.IntN(4) == 0 {
		e.status, e.bytes, e.reqTime = 401, 354, g.seconds(0, 0.01)
		return
	}
	e.user = u.name + "@" + domain
	e.status, e.bytes, e.reqTime = 200, 3200+r.IntN(900), g.seconds(0.02, 0.5)
}

func (g *generator) mapi(e *entry, u *user) {
	r := g.r
	e.agent = desktops[u.client%3] // only Outlook for Windows speaks MAPI/HTTP
	e.uri = "/mapi/emsmdb/"
	e.query = "MailboxId=" + u.guid + "@" + domain
	if r.IntN(8) == 0 {
		e.status, e.bytes, e.reqTime = 401, 354, g.seconds(0, 0.01)
		return
	}
	e.user = u.name + "@" + domain
	e.status, e.bytes, e.reqTime = 200, 400+r.IntN(30000), g.seconds(0.01, 1)
}

// attackLine appends the k-th line of the password-guessing runs: each run
// comes from a new address (a botnet's, 185.220.100.10 onwards) and tries
// 40 users over ActiveSync with Basic credentials, and each try is refused
// (401). New addresses all along the input raise new alerts all along it,
// so the alert delay is measured under the whole load, not only at its
// start.
func (g *generator) attackLine(b []byte, t time.Time, k int) []byte {
	run := k / 40
	ip := "185.220." + strconv.Itoa(100+run/240) + "." + strconv.Itoa(10+run%240)
	u := &g.users[(k*7919)%len(g.users)]
	b = append(b, "<190>"...)
	b = t.AppendFormat(b, time.Stamp)
	b = append(b, ` proxy1 nginx: {"source":"192.168.0.8", "ip":"`...)
	b = append(b, ip...)
	b = append(b, `","user":"`...)
	b = append(b, u.name...)
	b = append(b, `@`+domain+`","time_local":"`...)
	b = t.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `","statuscode":401,"bytes_sent":328,"http_referer":"","http_user_agent":"python-requests/2.31","request_uri":"/Microsoft-Server-ActiveSync?User=`...)
	b = append(b, u.name...)
	b = append(b, `%40`+domain+`&DeviceId=BRUTE`...)
	b = strconv.AppendInt(b, int64(run%20), 10)
	b = append(b, `&DeviceType=iPhone&Cmd=Sync","request_time":0.012,"gzip_ration":"","query_string":"User=`...)
	b = append(b, u.name...)
	b = append(b, `%40`+domain+`&DeviceId=BRUTE`...)
	b = strconv.AppendInt(b, int64(run%20), 10)
	b = append(b, `&DeviceType=iPhone&Cmd=Sync"}`...)
	return b
}
