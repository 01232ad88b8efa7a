// Package demo generates a realistic day of a mail service's logs with
// attack episodes in it, for `vigil demo`: a few hundred users with their
// phones, office hours, evenings at home and typos, and the episodes of
// scenario.go, each meant to trip one or more rules of the built-in pack.
// Everything is deterministic: the same seed and end time give the same
// bytes.
package demo

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultUsers = 300
	// MaxUsers bounds Options.Users: beyond it the phones' traffic at
	// the proxies is so high that the flood no longer stands out five
	// times above it (request-flood).
	MaxUsers = 2000
	// History is how far back the thin history before the day goes: the
	// evening IMAP logins of the users who read mail at home, so that
	// rules that learn for two weeks (login-new-country) have learned.
	History = 15 * 24 * time.Hour
	// Day is the length of the simulated day, which ends at Options.End.
	Day = 24 * time.Hour
)

// Options configure Generate.
type Options struct {
	// Seed picks the people, their habits and the attackers' addresses.
	Seed uint64
	// End is when the simulated day ends: the moment the demo starts, so
	// that every event is in the past and recent (the store keeps events
	// by the real clock).
	End time.Time
	// Users is the number of mailboxes; 0 means DefaultUsers. At least
	// 100 (the episodes need their cast and the spraying its victims), at
	// most MaxUsers.
	Users int
}

// Line is one syslog message.
type Line struct {
	At   time.Time
	Kind Kind
	Text string // without the newline
}

// Scenario is a generated day.
type Scenario struct {
	// Start and End bound the day; the history begins History before
	// Start.
	Start, End time.Time
	Users      []*User
	// Lines are the messages in time order (the order they are sent).
	Lines []Line
	// Episodes are the attacks and incidents of the day, with the alerts
	// each is expected to raise.
	Episodes []Episode
	// Devices is the ActiveSync device registry the demo expects (one
	// phone revoked), Admins the accounts on the admins list.
	Devices []DeviceEntry
	Admins  []string
}

// DeviceEntry is one entry of the device registry.
type DeviceEntry struct {
	User, Device, Note string
	Added              time.Time
	Expires            time.Time // zero: never
}

// Expected returns every alert the day should raise, episode by episode.
func (s *Scenario) Expected() []Alert {
	var out []Alert
	for _, e := range s.Episodes {
		out = append(out, e.Expect...)
	}
	return out
}

// Counts returns the number of lines of each kind.
func (s *Scenario) Counts() map[Kind]int {
	m := map[Kind]int{}
	for _, l := range s.Lines {
		m[l.Kind]++
	}
	return m
}

// WriteTo writes the lines, newline-framed, as they go over the wire.
func (s *Scenario) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, l := range s.Lines {
		k, err := io.WriteString(w, l.Text+"\n")
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Generate builds the day that ends at o.End.
func Generate(o Options) (*Scenario, error) {
	if o.Users == 0 {
		o.Users = DefaultUsers
	}
	if o.Users < 100 || o.Users > MaxUsers {
		return nil, fmt.Errorf("demo: %d users: want 100 to %d", o.Users, MaxUsers)
	}
	if o.End.IsZero() {
		return nil, fmt.Errorf("demo: no end time")
	}
	end := o.End.UTC().Truncate(time.Second)
	b := &builder{
		r:     rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed_d3a0_c0ffee)),
		start: end.Add(-Day),
		end:   end,
	}
	b.from = b.start.Add(-History)
	b.proxy2Silent = b.start.Add(silentAt)
	b.users = newUsers(b.r, o.Users)
	c := b.cast()
	s := &Scenario{Start: b.start, End: end, Users: b.users, Admins: []string{"administrator", "exadmin"}}
	// Episodes first: they reserve the time of their actors' phones.
	for _, e := range episodes {
		e.Expect = e.run(b, b.start.Add(e.At), c)
		for i := range e.Expect {
			e.Expect[i].Episode = e.Name
		}
		e.run = nil
		s.Episodes = append(s.Episodes, e)
	}
	b.background()
	s.Devices = b.registry(c)
	sort.SliceStable(b.lines, func(i, j int) bool { return b.lines[i].At.Before(b.lines[j].At) })
	s.Lines = b.lines
	return s, nil
}

// builder collects the lines of a day.
type builder struct {
	r                *rand.Rand
	from, start, end time.Time
	users            []*User
	lines            []Line
	session          uint64
	proxy2Silent     time.Time
	// quiet holds spans in which a user's phone does not sync normally
	// (an episode drives it).
	quiet map[*User][][2]time.Time
}

// add records a line; times are kept to the second (what most logs show)
// and must lie within the history and the day.
func (b *builder) add(at time.Time, k Kind, text string) {
	if at.Before(b.from) || at.After(b.end) {
		return
	}
	b.lines = append(b.lines, Line{At: at.Truncate(time.Second).UTC(), Kind: k, Text: text})
}

// jitter returns a random duration in [0, d).
func (b *builder) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(b.r.Int64N(int64(d)))
}

// web records one request through the load balancer: the proxy it went
// to logs it (unless that proxy's log shipping has stopped), then the
// Exchange server. proxy is 0 or 1, or -1 for the balancer's choice;
// proxyOnly is a request the proxy answered itself.
func (b *builder) web(at time.Time, proxy int, server string, r request, proxyOnly bool) {
	if proxy < 0 {
		proxy = b.r.IntN(len(proxies))
	}
	p := proxies[proxy]
	if p.name != "proxy2" || at.Before(b.proxy2Silent) {
		b.add(at, KindNginx, nginxLine(at, p, r))
	}
	if proxyOnly {
		return
	}
	ir := r
	if r.path == "/owa/auth.owa" || r.path == "/owa/" {
		ir.user = "" // forms logon: IIS sees no Basic user
	}
	srv := host{server, serverIP(server)}
	b.add(at, KindIIS, iisLine(at, srv, p.ip, ir))
}

// imap records an IMAP login.
func (b *builder) imap(at time.Time, server string, client netip.Addr, user string, ok bool) {
	b.session++
	b.add(at, KindIMAP, imapLine(at, host{server, serverIP(server)}, 0x8d0000000000+b.session*7919, client, user, ok))
}

// activeSync returns an ActiveSync request of user's device.
func activeSync(u *User, d *Device, client netip.Addr, cmd string, status int) request {
	r := request{method: "POST", path: "/Microsoft-Server-ActiveSync/default.eas",
		query: fmt.Sprintf("User=%s&DeviceId=%s&DeviceType=%s&Cmd=%s", u.Name, d.ID, d.Type, cmd),
		user:  `CORP\` + u.Name, client: client, ua: d.UA, status: status, bytes: 300, ms: 40}
	switch status {
	case 200:
		if cmd == "Ping" {
			r.ms = 480_000 + int(client.As4()[3])*1000 // a Ping waits for mail
		}
	case 401:
		r.sub, r.win32, r.bytes = 1, 1326, 58
	}
	return r
}

// isQuiet reports whether u's phone is driven by an episode at t.
func (b *builder) isQuiet(u *User, t time.Time) bool {
	for _, s := range b.quiet[u] {
		if !t.Before(s[0]) && t.Before(s[1]) {
			return true
		}
	}
	return false
}

// reserve keeps u's phone out of the background from start to end.
func (b *builder) reserve(u *User, start, end time.Time) {
	if b.quiet == nil {
		b.quiet = map[*User][][2]time.Time{}
	}
	b.quiet[u] = append(b.quiet[u], [2]time.Time{start, end})
}

// localDays returns the midnights (China time) of the days that overlap
// [from, to].
func localDays(from, to time.Time) []time.Time {
	f := from.In(cst)
	d := time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, cst)
	var out []time.Time
	for ; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}

const (
	outlookUA = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
	browserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
	owaURL    = "https://mail.corp.example/owa/"
	owaFailed = "https://mail.corp.example/owa/auth/logon.aspx?replaceCurrent=1&reason=2&url=https%3a%2f%2fmail.corp.example%2fowa%2f"
	// typoRate is the chance that a login at home starts with one
	// mistyped password.
	typoRate = 0.08
)

// background adds the ordinary traffic: the history's evening IMAP
// logins, then the day's office Outlook, phones syncing around the clock,
// evenings at home with their typos, and the administrators' routine.
func (b *builder) background() {
	for _, s := range servers {
		b.add(b.start, KindIIS, iisHeader(b.start, s))
	}
	for _, day := range localDays(b.from, b.end) {
		for _, u := range b.users {
			if day.Add(Day).After(b.start) {
				b.office(u, day)
			}
			b.evening(u, day)
		}
		b.admins(day)
	}
	for _, u := range b.users {
		if u.Phone != nil {
			b.phone(u)
		}
	}
}

// office adds a workday of Outlook (MAPI over HTTP, straight to the
// mailbox server from the workstation).
func (b *builder) office(u *User, day time.Time) {
	r := request{method: "POST", path: "/mapi/emsmdb/", query: "MailboxId=" + u.Name + "@corp.example",
		user: `CORP\` + u.Name, client: u.Workstation, ua: outlookUA, status: 200, bytes: 2400, ms: 120}
	leave := day.Add(u.Leave + b.jitter(30*time.Minute))
	for t := day.Add(u.Arrive + b.jitter(20*time.Minute)); t.Before(leave); t = t.Add(10*time.Minute + b.jitter(15*time.Minute)) {
		if !t.Before(b.start) {
			b.add(t, KindIIS, iisLine(t, host{u.Server, serverIP(u.Server)}, u.Workstation, r))
		}
	}
}

// evening adds the user's mail at home: IMAP (in the history too) or
// OWA, sometimes after one mistyped password.
func (b *builder) evening(u *User, day time.Time) {
	if u.IMAP {
		t := day.Add(19*time.Hour + 30*time.Minute + b.jitter(3*time.Hour))
		typo := b.r.Float64() < typoRate && !t.Before(b.start)
		if typo {
			b.imap(t.Add(-10*time.Second-b.jitter(30*time.Second)), u.Server, u.Home, u.Name+"@corp.example", false)
		}
		b.imap(t, u.Server, u.Home, u.Name+"@corp.example", true)
	}
	if u.OWA {
		t := day.Add(19*time.Hour + b.jitter(3*time.Hour))
		if t.Before(b.start) {
			return
		}
		logon := request{method: "POST", path: "/owa/auth.owa", client: u.Home, ua: browserUA, status: 302, bytes: 900, ms: 80}
		if b.r.Float64() < typoRate {
			bad := logon
			bad.location = owaFailed
			b.web(t.Add(-15*time.Second-b.jitter(30*time.Second)), -1, u.Server, bad, false)
		}
		logon.location = owaURL
		b.web(t, -1, u.Server, logon, false)
		page := request{method: "GET", path: "/owa/", client: u.Home, ua: browserUA, status: 200, bytes: 52000, ms: 300}
		for i := range 2 + b.r.IntN(4) {
			b.web(t.Add(time.Duration(i+1)*(20*time.Second+b.jitter(2*time.Minute))), -1, u.Server, page, false)
		}
	}
}

// phone adds a day of ActiveSync: a Ping every 8 to 25 minutes, from the
// mobile network in the daytime and the home Wi-Fi in the evening.
func (b *builder) phone(u *User) {
	for t := b.start.Add(b.jitter(20 * time.Minute)); !t.After(b.end); t = t.Add(8*time.Minute + b.jitter(17*time.Minute)) {
		if b.isQuiet(u, t) {
			continue
		}
		ip := u.Home
		if h := t.In(cst).Hour(); h >= 7 && h < 19 {
			ip = u.Carrier
		}
		cmd := "Ping"
		if b.r.IntN(4) == 0 {
			cmd = "Sync"
		}
		b.web(t, -1, u.Server, activeSync(u, u.Phone, ip, cmd, 200), false)
	}
}

// routine is what the Exchange administrators run on a normal day.
var routine = []struct{ cmdlet, params string }{
	{"Get-Mailbox", `-ResultSize "Unlimited"`},
	{"Get-MailboxDatabaseCopyStatus", `-Server "EXCH02"`},
	{"Get-MessageTrackingLog", `-Sender "%s@corp.example" -Start "%s"`},
	{"Get-MailboxStatistics", `-Identity "%s"`},
	{"Set-Mailbox", `-Identity "%s" -ProhibitSendQuota "9.5GB" -IssueWarningQuota "9GB"`},
	{"Get-ActiveSyncDevice", `-Mailbox "%s"`},
	{"Get-Queue", ""},
	{"Test-ServiceHealth", ""},
}

// admins adds the administrators' routine cmdlets of one workday.
func (b *builder) admins(day time.Time) {
	for range 6 + b.r.IntN(6) {
		t := day.Add(9*time.Hour + b.jitter(8*time.Hour))
		if t.Before(b.start) {
			continue
		}
		c := routine[b.r.IntN(len(routine))]
		params := c.params
		u := b.users[b.r.IntN(len(b.users))].Name
		switch strings.Count(params, "%s") {
		case 1:
			params = fmt.Sprintf(params, u)
		case 2:
			params = fmt.Sprintf(params, u, t.In(cst).Format("01/02/2006"))
		}
		who := "exadmin"
		if b.r.IntN(4) == 0 {
			who = "administrator"
		}
		b.add(t, KindAudit, auditEvent(t, servers[0], who, c.cmdlet, params))
	}
}

// registry returns the device registry: every user's phone, the lost
// phone revoked (expired) at the start of the day.
func (b *builder) registry(c *cast) []DeviceEntry {
	added := b.start.AddDate(0, -3, 0).Truncate(24 * time.Hour)
	var out []DeviceEntry
	for _, u := range b.users {
		if u.Phone == nil {
			continue
		}
		e := DeviceEntry{User: u.Name, Device: u.Phone.ID, Note: u.Phone.Type, Added: added}
		if u == c.lostPhone {
			e.Expires = b.start
			e.Note = u.Phone.Type + ", revoked: reported lost"
		}
		out = append(out, e)
	}
	return out
}
