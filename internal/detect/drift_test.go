package detect

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/benchenv"
	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/geoip/geoiptest"
	"github.com/vigil-soc/vigil/internal/lists"
)

// The synthetic mail service of TestLoginNewRegionDrift: every user has a
// home province, a home broadband line and, mostly, a phone whose
// carrier's addresses are now and then placed in a neighbouring province;
// office workers log in through the office's egress or the VPN; a few
// users travel for a day; on each day after the learning period a few
// accounts are used by someone else: from abroad, from a data centre or
// over a carrier's network in another province. docs/rule-pack.md has the numbers of a full
// run (VIGIL_DRIFT_USERS=5000 VIGIL_DRIFT_DAYS=45).

var driftProvinces = strings.Fields(`北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南
	湖北 湖南 广东 海南 四川 贵州 云南 陕西 甘肃 青海 内蒙古 广西 西藏 宁夏 新疆`)

// Carriers and the one data-centre operator of the synthetic database:
// province i, operator j is 36.i.(16j).0/20.
var driftISPs = []string{"移动", "联通", "电信", "阿里云"}

const (
	ispMobile, ispUnicom, ispTelecom, ispCloud = 0, 1, 2, 3
)

// driftDB writes the synthetic database and the office list.
func driftDB(t testing.TB) (*geoip.DB, Lists) {
	t.Helper()
	dir := t.TempDir()
	var segs []geoiptest.Segment
	for i, p := range driftProvinces {
		for j, isp := range driftISPs {
			a := fmt.Sprintf("36.%d.%d.0", i, 16*j)
			b := fmt.Sprintf("36.%d.%d.255", i, 16*j+15)
			segs = append(segs, geoiptest.Seg(a, b, "中国|0|"+p+"|0|"+isp))
		}
	}
	segs = append(segs,
		geoiptest.Seg("36.200.0.0", "36.200.0.255", "中国|0|广东|广州|电信"), // office egress
		geoiptest.Seg("36.200.1.0", "36.200.1.255", "中国|0|北京|北京|联通"), // VPN egress
		geoiptest.Seg("77.88.0.0", "77.88.255.255", "俄罗斯|0|0|0|0"))
	path := filepath.Join(dir, "drift.db")
	if err := geoiptest.WriteDB(path, segs); err != nil {
		t.Fatal(err)
	}
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ld := filepath.Join(dir, "lists")
	if err := os.Mkdir(ld, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ld, "office.txt"), []byte("# kind: ip\n# role: plain\n36.200.0.0/24\n36.200.1.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ls, err := lists.Load(ld)
	if err != nil {
		t.Fatal(err)
	}
	return db, ListsOf(ls)
}

// driftUser is one account of the synthetic service.
type driftUser struct {
	name       string
	home       int // province
	broadband  int // ISP of the home line
	phone      int // carrier of the phone; -1: no phone
	office     bool
	drift      []int   // provinces the phone's addresses drift to
	driftRate  float64 // per phone login
	compromise int     // day an attacker logs in (0: never)
}

// driftEvent is one successful login, with what it is in the model.
type driftEvent struct {
	at   time.Time
	user string
	ip   string
	kind string // home, office, phone, drift, travel; attacks: abroad, cloud, carrier
}

func driftIP(r *rand.Rand, province, isp int) string {
	return fmt.Sprintf("36.%d.%d.%d", province, 16*isp+r.IntN(16), 1+r.IntN(254))
}

// driftDay generates the synthetic service's logins: users accounts over
// days days, the first learn of which the rule spends learning.
func driftDay(users, days, learnDays int) []driftEvent {
	r := rand.New(rand.NewPCG(13, 2026))
	weights := map[string]int{"广东": 4, "北京": 3, "上海": 3, "江苏": 3, "浙江": 3, "山东": 2, "四川": 2, "湖北": 2, "河南": 2}
	var pick []int
	for i, p := range driftProvinces {
		for range max(1, weights[p]) {
			pick = append(pick, i)
		}
	}
	neighbours := make([][]int, len(driftProvinces))
	for i, a := range driftProvinces {
		for j, b := range driftProvinces {
			if geoip.Adjacent(a, b) {
				neighbours[i] = append(neighbours[i], j)
			}
		}
	}
	far := func(home int) int {
		for {
			p := r.IntN(len(driftProvinces))
			if p != home && !geoip.Adjacent(driftProvinces[p], driftProvinces[home]) {
				return p
			}
		}
	}
	us := make([]driftUser, users)
	for i := range us {
		u := &us[i]
		u.name = fmt.Sprintf("user%05d", i)
		u.home = pick[r.IntN(len(pick))]
		u.broadband = []int{ispTelecom, ispTelecom, ispUnicom, ispUnicom, ispMobile}[r.IntN(5)]
		u.phone = -1
		if r.Float64() < 0.8 {
			u.phone = []int{ispMobile, ispMobile, ispMobile, ispUnicom, ispTelecom}[r.IntN(5)]
			if ns := neighbours[u.home]; len(ns) > 0 {
				u.drift = append(u.drift, ns[r.IntN(len(ns))])
				if r.Float64() < 0.5 {
					u.drift = append(u.drift, ns[r.IntN(len(ns))])
				}
				u.driftRate = 0.005
				if r.Float64() < 0.3 { // lives near a provincial border
					u.driftRate = 0.05
				}
			}
		}
		u.office = r.Float64() < 0.7
	}
	// A few compromised accounts a day once the rule has learned (it
	// learns from the first login, on day 1, for learnDays days).
	for d := learnDays + 2; d <= days; d++ {
		for range max(1, users/1000) {
			us[r.IntN(users)].compromise = d
		}
	}
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -days-1)
	var evs []driftEvent
	for d := 1; d <= days; d++ {
		day := start.AddDate(0, 0, d)
		weekday := day.Weekday() != time.Saturday && day.Weekday() != time.Sunday
		for i := range us {
			u := &us[i]
			at := func(fromHour, toHour int) time.Time {
				return day.Add(time.Duration(fromHour)*time.Hour + time.Duration(r.Int64N(int64(toHour-fromHour)*int64(time.Hour))))
			}
			travel := -1
			if r.Float64() < 0.003 {
				travel = far(u.home)
			}
			if u.office && weekday && travel < 0 {
				egress := "36.200.0." + strconv.Itoa(1+r.IntN(250))
				if r.Float64() < 0.2 {
					egress = "36.200.1." + strconv.Itoa(1+r.IntN(250))
				}
				for range 1 + r.IntN(3) {
					evs = append(evs, driftEvent{at(9, 18), u.name, egress, "office"})
				}
			}
			if travel < 0 && r.Float64() < 0.7 {
				evs = append(evs, driftEvent{at(19, 23), u.name, driftIP(r, u.home, u.broadband), "home"})
			}
			if u.phone >= 0 {
				for range 4 + r.IntN(9) {
					switch {
					case travel >= 0:
						evs = append(evs, driftEvent{at(7, 23), u.name, driftIP(r, travel, u.phone), "travel"})
					case len(u.drift) > 0 && r.Float64() < u.driftRate:
						p := u.drift[r.IntN(len(u.drift))]
						evs = append(evs, driftEvent{at(7, 23), u.name, driftIP(r, p, u.phone), "drift"})
					default:
						evs = append(evs, driftEvent{at(7, 23), u.name, driftIP(r, u.home, u.phone), "phone"})
					}
				}
			}
			if u.compromise == d {
				other := (u.home + 1 + r.IntN(len(driftProvinces)-1)) % len(driftProvinces)
				switch x := r.Float64(); {
				case x < 0.3:
					evs = append(evs, driftEvent{at(0, 24), u.name, "77.88." + strconv.Itoa(r.IntN(256)) + ".9", "abroad"})
				case x < 0.75:
					evs = append(evs, driftEvent{at(0, 24), u.name, driftIP(r, other, ispCloud), "cloud"})
				default:
					evs = append(evs, driftEvent{at(0, 24), u.name, driftIP(r, other, r.IntN(3)), "carrier"})
				}
			}
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	return evs
}

// attacks are the kinds of login of the model that are compromises.
var attacks = []string{"abroad", "cloud", "carrier"}

func isAttack(kind string) bool { return kind == "abroad" || kind == "cloud" || kind == "carrier" }

// driftResult counts one variant's alerts after the learning period.
type driftResult struct {
	firstDay  map[string]int // alerts by kind of login in the 24 hours after learning
	later     map[string]int // alerts by kind after them
	laterDays float64
	// caught and total count the compromised accounts, by kind of attack,
	// alerted by either rule; missed says what the missed attackers did.
	// An attack from a place the account used before is no new place for
	// any rule: such attacks count apart, in knownPlace.
	caught, total map[string]int
	missed        []string
	knownPlace    int
	followUps     int
}

// runDrift feeds the logins to login-new-region (changed by tune) and
// login-new-country.
func runDrift(t testing.TB, evs []driftEvent, db *geoip.DB, ls Lists, learnDays int, tune func(*Rule)) driftResult {
	t.Helper()
	rs, err := loadRuleFile(filepath.Join("..", "..", "rules", "login-new-region.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	region := rs[0]
	region.Learn = config.Duration(time.Duration(learnDays) * 24 * time.Hour)
	if tune != nil {
		tune(region)
	}
	cs, err := loadRuleFile(filepath.Join("..", "..", "rules", "login-new-country.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cs[0].Learn = region.Learn
	kind := map[string]driftEvent{} // by user, address and time
	key := func(user, ip string, at time.Time) string {
		return user + " " + ip + " " + strconv.FormatInt(at.UnixNano(), 10)
	}
	res := driftResult{firstDay: map[string]int{}, later: map[string]int{}, caught: map[string]int{}, total: map[string]int{}}
	learnEnd := evs[0].at.Add(time.Duration(region.Learn)) // the rules start learning with the first login
	caught := map[string]bool{}
	e, errs := New([]*Rule{region, cs[0]}, Options{Geo: db, Lists: ls, Emit: func(a *alert.Alert) {
		if a.FollowUp {
			res.followUps++
			return
		}
		k, ok := kind[key(a.User, a.SrcIP, a.TS)]
		if !ok {
			t.Fatalf("an alert for no login of the model: %s", a.Message)
		}
		if isAttack(k.kind) {
			caught[k.user] = true
		}
		switch {
		case a.TS.Before(learnEnd.Add(24 * time.Hour)):
			res.firstDay[k.kind]++
		default:
			res.later[k.kind]++
		}
	}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	places := map[string]map[string]bool{} // by user, outside the office
	placeOf := func(ip string) string {
		loc := db.Lookup(netip.MustParseAddr(ip))
		if loc.Country == "CN" {
			return loc.Region
		}
		return loc.Country
	}
	known := map[string]bool{} // attacks from a place the account used before, by user
	for i, de := range evs {
		seq := uint64(i + 1)
		kind[key(de.user, de.ip, de.at)] = de
		if de.kind != "office" {
			pl := placeOf(de.ip)
			if isAttack(de.kind) && places[de.user][pl] {
				known[de.user] = true
			}
			if places[de.user] == nil {
				places[de.user] = map[string]bool{}
			}
			places[de.user][pl] = true
		}
		proto := "activesync"
		if de.kind == "home" || de.kind == "office" {
			proto = "imap"
		}
		e.Process(ev(seq, de.at, "event.category", "authentication", "event.outcome", "success",
			"user.name", de.user, "source.ip", de.ip, "network.protocol", proto))
	}
	res.laterDays = evs[len(evs)-1].at.Sub(learnEnd.Add(24*time.Hour)).Hours() / 24
	for _, de := range evs {
		if !isAttack(de.kind) {
			continue
		}
		if known[de.user] {
			res.knownPlace++
			continue
		}
		res.total[de.kind]++
		if caught[de.user] {
			res.caught[de.kind]++
		} else {
			res.missed = append(res.missed, de.kind+" "+de.ip+" ("+db.Lookup(netip.MustParseAddr(de.ip)).Region+")")
		}
	}
	return res
}

// TestLoginNewRegionDrift measures login-new-region's alerts on the
// synthetic service with the knobs docs/rule-pack.md discusses: with the
// built-in rule the carriers' drift stays out of the queue and every
// compromise from abroad or from a data centre is alerted (by it or by
// login-new-country); without near the drift floods it. With -v it
// prints the table of docs/rule-pack.md for more variants.
func TestLoginNewRegionDrift(t *testing.T) {
	users, days := benchenv.Int(t, "VIGIL_DRIFT_USERS", 400), benchenv.Int(t, "VIGIL_DRIFT_DAYS", 17)
	db, ls := driftDB(t)
	type variant struct {
		name  string
		learn int
		tune  func(*Rule)
	}
	variants := []variant{
		{"built-in (near: adjacent over a carrier; learn 14d)", 14, nil},
		{"no near", 14, func(r *Rule) { r.Near = "" }},
		{"near: adjacent, any operator", 14, func(r *Rule) { r.Near = "any(known, {adjacent(#, value)})" }},
		{"no near, suppress 24h", 14, func(r *Rule) { r.Near, r.Suppress = "", config.Duration(24*time.Hour) }},
		{"built-in, learn 7d", 7, nil},
	}
	if !testing.Verbose() {
		variants = variants[:2]
	}
	var rows []string
	knownPlace := 0
	for _, v := range variants {
		if v.learn+2 > days {
			continue
		}
		res := runDrift(t, driftDay(users, days, v.learn), db, ls, v.learn, v.tune)
		if v.learn == 14 {
			knownPlace = res.knownPlace
		}
		perDay := func(n int) string {
			if res.laterDays <= 0 {
				return "-"
			}
			return strconv.FormatFloat(float64(n)/res.laterDays, 'f', 1, 64)
		}
		attacksFirst, attacksLater := 0, 0
		var caught []string
		for _, k := range attacks {
			attacksFirst += res.firstDay[k]
			attacksLater += res.later[k]
			caught = append(caught, fmt.Sprintf("%s %d/%d", k, res.caught[k], res.total[k]))
		}
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %d | %s | %s | %s | %d | %s |", v.name,
			res.firstDay["drift"], res.firstDay["travel"], attacksFirst,
			perDay(res.later["drift"]), perDay(res.later["travel"]), perDay(attacksLater), res.followUps, strings.Join(caught, ", ")))
		for _, k := range []string{"home", "office", "phone"} {
			if n := res.firstDay[k] + res.later[k]; n > 0 {
				t.Errorf("%s: %d alerts for %s logins", v.name, n, k)
			}
		}
		switch v.name {
		case variants[0].name:
			for _, k := range []string{"abroad", "cloud"} {
				if res.caught[k] != res.total[k] {
					t.Errorf("%s: %d of %d compromises of kind %s alerted; missed: %s", v.name, res.caught[k], res.total[k], k, strings.Join(res.missed, ", "))
				}
			}
			if noise := res.firstDay["drift"] + res.later["drift"]; noise > users/500 {
				t.Errorf("%s: %d alerts for carrier drift (%d users)", v.name, noise, users)
			}
		case variants[1].name:
			if res.firstDay["drift"] < users/200 {
				t.Errorf("without near only %d drift alerts in the first day: the model has no drift to measure", res.firstDay["drift"])
			}
		}
	}
	t.Logf("%d users, %d days: alerts by kind of login in the 24 hours after learning, then per day (compromises from a place the account had used: %d, not counted)", users, days, knownPlace)
	t.Logf("| variant | drift, first day | travel, first day | compromises, first day | drift/day | travel/day | compromises/day | follow-ups | compromised accounts alerted |")
	for _, r := range rows {
		t.Log(r)
	}
}
