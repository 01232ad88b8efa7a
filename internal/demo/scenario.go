package demo

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Alert is an alert the demo expects: the rule and the group the rule
// forms (the alert's alert.group, "user.name=zhangwei").
type Alert struct {
	Episode string `json:"episode"`
	Rule    string `json:"rule.id"`
	Group   string `json:"alert.group"`
}

// Episode is one attack or incident of the day.
type Episode struct {
	// Name is a short id; Title says what happens.
	Name, Title string
	// At is when it starts, after the day's start.
	At time.Duration
	// Rules are the rules of the built-in pack it is meant to trip.
	Rules []string
	// Expect are the alerts it raises (first alerts; a rule's follow-up
	// alerts for the same group may come after them).
	Expect []Alert

	run func(b *builder, at time.Time, c *cast) []Alert
}

// silentAt is when proxy2's log shipping stops, after the day's start.
const silentAt = 20 * time.Hour

// episodes is the scenario: every attack and incident of the day, when
// it starts and the rules it trips. docs/demo.md describes them.
var episodes = []Episode{
	{Name: "lost-phone", Title: "a phone reported lost and revoked in the device registry keeps syncing a mailbox",
		At: 0, Rules: []string{"activesync-unregistered-device"}, run: (*builder).lostPhone},
	{Name: "owa-brute-force", Title: "one address guesses passwords on the OWA logon form, 30 tries in 7 minutes",
		At: 3*time.Hour + 10*time.Minute, Rules: []string{"brute-force-source"}, run: (*builder).owaBruteForce},
	{Name: "slow-guessing", Title: "twelve addresses of a botnet guess one account's password over IMAP, two or three tries each over four hours",
		At: 4 * time.Hour, Rules: []string{"brute-force-account-sources"}, run: (*builder).slowGuessing},
	{Name: "imap-spraying", Title: "one address tries one password against 40 accounts over IMAP, one every 40 seconds",
		At: 8*time.Hour + 30*time.Minute, Rules: []string{"password-spraying"}, run: (*builder).imapSpraying},
	{Name: "activesync-spraying", Title: "a spraying tool with a fixed ActiveSync DeviceId tries 30 accounts, one every 45 seconds",
		At: 9*time.Hour + 20*time.Minute, Rules: []string{"password-spraying", "activesync-unregistered-device-failures"}, run: (*builder).activeSyncSpraying},
	{Name: "lockout", Title: "a user changed his password; his phone keeps the old one until the domain controller locks the account (4740)",
		At: 10*time.Hour + 15*time.Minute, Rules: []string{"account-locked-out", "account-administration"}, run: (*builder).lockout},
	{Name: "guessed-password", Title: "eleven failed IMAP logins for one account from one address, then a successful one",
		At: 13*time.Hour + 5*time.Minute, Rules: []string{"login-after-failures"}, run: (*builder).guessedPassword},
	{Name: "new-country", Title: "a stolen password is used over EWS from Germany while the owner's phone syncs in China",
		At: 14*time.Hour + 40*time.Minute, Rules: []string{"login-new-country", "impossible-travel"}, run: (*builder).newCountry},
	{Name: "mailbox-export", Title: "an IT account that is not on the admins list looks up the CEO's mailbox and exports it to a PST file",
		At: 16*time.Hour + 20*time.Minute, Rules: []string{"exchange-admin-not-listed", "exchange-sensitive-cmdlet"}, run: (*builder).mailboxExport},
	{Name: "request-flood", Title: "one address floods the OWA front end with 2,400 requests in three minutes; nginx answers 503",
		At: 18 * time.Hour, Rules: []string{"request-flood-source", "request-flood"}, run: (*builder).requestFlood},
	{Name: "proxy-silent", Title: "proxy2's log shipping stops: the proxy keeps serving, its access log no longer arrives",
		At: silentAt, Rules: []string{"log-source-silent"}, run: (*builder).proxySilent},
}

// Episodes returns the scenario's episodes without their alerts (those
// depend on the generated people and addresses: see Scenario.Episodes).
func Episodes() []Episode {
	out := make([]Episode, len(episodes))
	for i, e := range episodes {
		e.run = nil
		out[i] = e
	}
	return out
}

// cast are the users the episodes happen to.
type cast struct {
	slowVictim, lockedOut, guessed, traveller, lostPhone, insider *User
	sprayed                                                       []*User
}

// cast picks the episodes' users: distinct, each with what its episode
// needs (a phone, IMAP at home), and 40 other users to spray.
func (b *builder) cast() *cast {
	taken := map[*User]bool{}
	pick := func(ok func(*User) bool) *User {
		for {
			u := b.users[b.r.IntN(len(b.users))]
			if !taken[u] && ok(u) {
				taken[u] = true
				return u
			}
		}
	}
	any := func(*User) bool { return true }
	hasPhone := func(u *User) bool { return u.Phone != nil }
	c := &cast{
		slowVictim: pick(any),
		lockedOut:  pick(hasPhone),
		guessed:    pick(any),
		// The traveller has a history (IMAP at home) and a phone that
		// syncs from China around the stolen password's use.
		traveller: pick(func(u *User) bool { return u.IMAP && u.Phone != nil }),
		lostPhone: pick(hasPhone),
		insider:   pick(any),
	}
	for range 40 {
		c.sprayed = append(c.sprayed, pick(any))
	}
	return c
}

// group formats a rule's group key as the engine does: field=value pairs,
// values with spaces, '=' or quotes Go-quoted.
func group(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if strings.ContainsAny(v, " =\"\\") {
			v = strconv.Quote(v)
		}
		parts = append(parts, kv[i]+"="+v)
	}
	return strings.Join(parts, " ")
}

// Attackers' addresses. Those that only fail are documentation addresses
// (RFC 5737); those that log in must sit in a stable country of the GeoIP
// database: Alibaba Cloud in China, a Tor exit in Germany.
var (
	owaAttacker    = netip.MustParseAddr("198.51.100.23")
	imapSprayer    = netip.MustParseAddr("203.0.113.77")
	easSprayer     = netip.MustParseAddr("198.51.100.140")
	flooder        = netip.MustParseAddr("198.51.100.200")
	guesser        = netip.MustParseAddr("47.92.13.58")
	foreignLogin   = netip.MustParseAddr("185.220.101.47")
	foreignCountry = "DE"
	sprayDevice    = &Device{ID: "3C5F9E11B0A2D4C7E8F60A1B2C3D4E5F", Type: "Android", UA: "Android/8.0.0-EAS-2.0"}
	botnet         = []netip.Prefix{mustPrefix("192.0.2.0/24"), mustPrefix("198.51.100.0/24"), mustPrefix("203.0.113.0/24")}
)

func (b *builder) lostPhone(at time.Time, c *cast) []Alert {
	// The phone syncs as every day (background); the registry revokes it.
	u := c.lostPhone
	return []Alert{{Rule: "activesync-unregistered-device", Group: group("user.name", u.Name, "device.id", u.Phone.ID)}}
}

func (b *builder) owaBruteForce(at time.Time, c *cast) []Alert {
	r := request{method: "POST", path: "/owa/auth.owa", client: owaAttacker, status: 302, location: owaFailed,
		ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0", bytes: 700, ms: 60}
	for i := range 30 {
		b.web(at.Add(time.Duration(i)*15*time.Second), 0, servers[i%2].name, r, false)
	}
	return []Alert{{Rule: "brute-force-source", Group: group("source.ip", owaAttacker.String())}}
}

func (b *builder) slowGuessing(at time.Time, c *cast) []Alert {
	u := c.slowVictim
	for i := range 12 {
		ip := botnet[i%len(botnet)].Addr().As4()
		ip[3] = byte(10 + 20*i + b.r.IntN(20))
		addr := netip.AddrFrom4(ip)
		for range 2 + b.r.IntN(2) {
			t := at.Add(b.jitter(4 * time.Hour))
			b.imap(t, u.Server, addr, u.Name+"@corp.example", false)
		}
	}
	return []Alert{{Rule: "brute-force-account-sources", Group: group("user.name", u.Name)}}
}

func (b *builder) imapSpraying(at time.Time, c *cast) []Alert {
	for i, u := range c.sprayed {
		b.imap(at.Add(time.Duration(i)*40*time.Second), u.Server, imapSprayer, u.Name+"@corp.example", false)
	}
	return []Alert{{Rule: "password-spraying", Group: group("source.ip", imapSprayer.String())}}
}

func (b *builder) activeSyncSpraying(at time.Time, c *cast) []Alert {
	for i, u := range c.sprayed[:30] {
		r := activeSync(u, sprayDevice, easSprayer, "FolderSync", 401)
		b.web(at.Add(time.Duration(i)*45*time.Second), -1, u.Server, r, false)
	}
	return []Alert{
		{Rule: "password-spraying", Group: group("source.ip", easSprayer.String())},
		{Rule: "activesync-unregistered-device-failures", Group: group("device.id", sprayDevice.ID)},
	}
}

func (b *builder) lockout(at time.Time, c *cast) []Alert {
	u := c.lockedOut
	back := at.Add(2 * time.Hour) // the help desk sorted it out
	b.reserve(u, at, back)
	t := at
	for i := range 13 {
		r := activeSync(u, u.Phone, u.Carrier, "Ping", 401)
		if i >= 10 {
			r.win32 = 1909 // the account is locked out
		}
		b.web(t, -1, u.Server, r, false)
		if i == 9 {
			b.add(t.Add(2*time.Second), KindWindows, lockoutEvent(t.Add(2*time.Second), u.Name, "EXCH01"))
		}
		t = t.Add(90 * time.Second)
	}
	b.add(back.Add(-20*time.Minute), KindWindows, unlockEvent(back.Add(-20*time.Minute), u.Name, "helpdesk01"))
	b.web(back, -1, u.Server, activeSync(u, u.Phone, u.Carrier, "Sync", 200), false)
	return []Alert{
		{Rule: "account-locked-out", Group: group("user.name", u.Name)},
		// The unlock is account administration by another account (low).
		{Rule: "account-administration", Group: group("user.name", "helpdesk01")},
	}
}

func (b *builder) guessedPassword(at time.Time, c *cast) []Alert {
	u := c.guessed
	for i := range 11 {
		b.imap(at.Add(time.Duration(i)*25*time.Second), u.Server, guesser, u.Name+"@corp.example", false)
	}
	b.imap(at.Add(5*time.Minute), u.Server, guesser, u.Name+"@corp.example", true)
	return []Alert{{Rule: "login-after-failures", Group: group("user.name", u.Name, "source.ip", guesser.String())}}
}

func (b *builder) newCountry(at time.Time, c *cast) []Alert {
	u := c.traveller
	r := request{method: "POST", path: "/EWS/Exchange.asmx", user: u.Name + "@corp.example", client: foreignLogin,
		ua: "ExchangeServicesClient/15.00.0913.015", status: 200, bytes: 48000, ms: 350}
	for i := range 20 {
		b.web(at.Add(time.Duration(i)*30*time.Second), -1, u.Server, r, false)
	}
	return []Alert{
		{Rule: "login-new-country", Group: group("user.name", u.Name)},
		{Rule: "impossible-travel", Group: group("user.name", u.Name)},
	}
}

func (b *builder) mailboxExport(at time.Time, c *cast) []Alert {
	u := c.insider
	srv := servers[0]
	const pst = `"\\fs01\pst$\ceo.pst"`
	b.add(at, KindAudit, auditEvent(at, srv, u.Name, "Get-Mailbox", `-Identity "ceo"`))
	t := at.Add(7 * time.Minute)
	b.add(t, KindAudit, auditEvent(t, srv, u.Name, "New-MailboxExportRequest", `-Mailbox "ceo" -FilePath `+pst))
	t = at.Add(40 * time.Minute)
	b.add(t, KindAudit, auditEvent(t, srv, u.Name, "Get-MailboxExportRequest", `-Mailbox "ceo"`))
	return []Alert{
		{Rule: "exchange-admin-not-listed", Group: group("user.name", u.Name)},
		{Rule: "exchange-sensitive-cmdlet", Group: group("user.name", u.Name, "exchange.cmdlet", "New-MailboxExportRequest", "exchange.object", "ceo")},
	}
}

func (b *builder) requestFlood(at time.Time, c *cast) []Alert {
	r := request{method: "GET", path: "/owa/", client: flooder, ua: "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
		status: 503, bytes: 197, ms: 0}
	const n = 2400
	for i := range n {
		b.web(at.Add(time.Duration(i)*3*time.Minute/n), 0, "", r, true)
	}
	return []Alert{
		{Rule: "request-flood-source", Group: group("source.ip", flooder.String())},
		{Rule: "request-flood", Group: group("event.dataset", "nginx.access")},
	}
}

func (b *builder) proxySilent(at time.Time, c *cast) []Alert {
	// web() drops proxy2's lines from b.proxy2Silent on.
	return []Alert{{Rule: "log-source-silent", Group: group("host", proxies[1].name, "event.dataset", "nginx.access")}}
}

// String returns the rule and the group, aligned for the summary.
func (a Alert) String() string {
	return fmt.Sprintf("%-40s %s", a.Rule, a.Group)
}
