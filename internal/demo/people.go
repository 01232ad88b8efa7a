package demo

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"
)

// User is one mailbox owner of the simulated company.
type User struct {
	// Name is the account name (sAMAccountName): zhangwei, li.na,
	// david.chen; a second Zhang Wei is zhangwei2.
	Name string
	// Workstation is the office PC's address (private); Home and Carrier
	// are the public addresses (in China) of the home line and of the
	// phone's mobile network.
	Workstation, Home, Carrier netip.Addr
	// Server is the Exchange server holding the mailbox (exch01, exch02).
	Server string
	// Phone is the registered ActiveSync phone, nil for users without one.
	Phone *Device
	// IMAP and OWA say whether the user reads mail at home with an IMAP
	// client (Foxmail, Thunderbird) or in the browser.
	IMAP, OWA bool
	// Arrive and Leave are the usual office hours (local time of day).
	Arrive, Leave time.Duration
}

// Device is an ActiveSync phone.
type Device struct {
	ID, Type, UA string
}

var (
	surnames = []string{"wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou",
		"xu", "sun", "ma", "zhu", "hu", "guo", "he", "lin", "gao", "luo", "zheng", "liang", "xie", "song",
		"tang", "han", "feng", "deng", "cao", "peng", "zeng", "xiao", "tian", "dong", "pan", "yuan", "cai", "jiang"}
	givenNames = []string{"wei", "fang", "na", "min", "jing", "lei", "qiang", "jun", "yang", "yan", "jie",
		"tao", "ming", "chao", "xiuying", "hua", "ping", "gang", "hui", "xin", "yu", "ting", "hao", "bo",
		"kai", "li", "xiaoming", "jianguo", "haiyan", "yuxuan", "zihan", "yiming", "shuang", "lan", "peng"}
	englishNames = []string{"david", "amy", "kevin", "grace", "tony", "lily", "jack", "emma", "michael",
		"cindy", "eric", "helen", "jason", "vivian", "peter", "sophia", "frank", "iris", "leo", "nancy"}
)

// Address pools. The public ones are Chinese ISPs' networks, each placed
// in CN by the GeoIP test database (TestAddressCountries checks them).
var (
	homeNets    = []netip.Prefix{mustPrefix("116.228.0.0/16"), mustPrefix("221.216.0.0/16"), mustPrefix("124.64.0.0/16")}
	carrierNets = []netip.Prefix{mustPrefix("183.192.0.0/16"), mustPrefix("123.112.0.0/16")}
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// addrIn returns a random host address in p (an IPv4 /16), never .0 or .255.
func addrIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	b[2] = byte(r.IntN(256))
	b[3] = byte(1 + r.IntN(254))
	return netip.AddrFrom4(b)
}

// newUsers returns n users with unique names and addresses.
func newUsers(r *rand.Rand, n int) []*User {
	seen := map[string]int{}
	used := map[netip.Addr]bool{}
	uniqueAddr := func(nets []netip.Prefix) netip.Addr {
		for {
			a := addrIn(r, nets[r.IntN(len(nets))])
			if !used[a] {
				used[a] = true
				return a
			}
		}
	}
	users := make([]*User, 0, n)
	for i := range n {
		var name string
		sur := surnames[r.IntN(len(surnames))]
		switch k := r.IntN(10); {
		case k < 6:
			name = sur + givenNames[r.IntN(len(givenNames))]
		case k < 8:
			name = sur + "." + givenNames[r.IntN(len(givenNames))]
		default:
			name = englishNames[r.IntN(len(englishNames))] + "." + sur
		}
		if c := seen[name]; c > 0 {
			seen[name] = c + 1
			name = fmt.Sprintf("%s%d", name, c+1)
		} else {
			seen[name] = 1
		}
		u := &User{
			Name:        name,
			Workstation: netip.AddrFrom4([4]byte{10, 8, byte(i / 250), byte(1 + i%250)}),
			Home:        uniqueAddr(homeNets),
			Carrier:     uniqueAddr(carrierNets),
			Server:      servers[r.IntN(len(servers))].name,
			IMAP:        r.IntN(10) < 4,
			OWA:         r.IntN(10) < 2,
			Arrive:      8*time.Hour + 20*time.Minute + time.Duration(r.IntN(70))*time.Minute,
			Leave:       17*time.Hour + 30*time.Minute + time.Duration(r.IntN(100))*time.Minute,
		}
		if r.IntN(10) < 7 {
			u.Phone = newDevice(r)
		}
		users = append(users, u)
	}
	return users
}

// newDevice returns a phone as ActiveSync names it: iOS DeviceIds start
// with "Appl" and the serial number, Android ones are hex.
func newDevice(r *rand.Rand) *Device {
	const alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
	const hex = "0123456789abcdef"
	var b strings.Builder
	if r.IntN(2) == 0 {
		b.WriteString("Appl")
		for range 11 {
			b.WriteByte(alnum[r.IntN(len(alnum))])
		}
		models := []string{"iPhone14C2", "iPhone15C3", "iPhone16C1", "iPhone17C1"}
		return &Device{ID: b.String(), Type: "iPhone", UA: "Apple-" + models[r.IntN(len(models))] + "/2203.1"}
	}
	b.WriteString("android")
	for range 16 {
		b.WriteByte(hex[r.IntN(len(hex))])
	}
	models := []string{"SM-S9280", "23127PN0CC", "PJZ110", "ALN-AL00", "V2309A"}
	return &Device{ID: b.String(), Type: "Android", UA: "Android-" + models[r.IntN(len(models))] + "/14.0"}
}
