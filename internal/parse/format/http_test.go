package format

import (
	"net/url"
	"strings"
	"testing"
)

// TestQueryParam: QueryParam answers what url.ParseQuery(q).Get(k) does.
func TestQueryParam(t *testing.T) {
	for _, tc := range []struct{ query, key, want string }{
		{"User=CORP%5Cana&DeviceId=ABC&DeviceType=iPhone&Cmd=Sync", "User", `CORP\ana`},
		{"User=CORP%5Cana&DeviceId=ABC&DeviceType=iPhone&Cmd=Sync", "Cmd", "Sync"},
		{"User=a&User=b", "User", "a"},
		{"reason=2", "reason", "2"},
		{"reason=", "reason", ""},
		{"reason", "reason", ""},
		{"a+b=c+d", "a b", "c d"},
		{"%55ser=x", "User", "x"},
		{"User=%zz&User=ok", "User", "ok"}, // a bad escape skips the pair
		{"%zz=1&User=ok", "User", "ok"},    // in the key too
		{"User=a;b&User=ok", "User", "ok"}, // so does a semicolon
		{"&&User=x&", "User", "x"},         // empty pairs
		{"User=x=y", "User", "x=y"},        // the first '=' splits
		{"user=x", "User", ""},             // keys are case-sensitive
		{"", "User", ""},
	} {
		if got := QueryParam(tc.query, tc.key); got != tc.want {
			t.Errorf("QueryParam(%q, %q) = %q, want %q", tc.query, tc.key, got, tc.want)
		}
		if q, _ := url.ParseQuery(tc.query); q.Get(tc.key) != tc.want {
			t.Errorf("url.ParseQuery(%q).Get(%q) = %q: the table is wrong", tc.query, tc.key, q.Get(tc.key))
		}
	}
}

func FuzzQueryParam(f *testing.F) {
	f.Add("User=CORP%5Cana&DeviceId=ABC&Cmd=Sync", "User")
	f.Add("a+b=c%20d&;x=1&%zz=2", "a b")
	f.Fuzz(func(t *testing.T, query, key string) {
		if strings.Count(query, "&") >= 1000 {
			return // url.ParseQuery gives up on more than 10000 parameters
		}
		q, _ := url.ParseQuery(query)
		if got, want := QueryParam(query, key), q.Get(key); got != want {
			t.Fatalf("QueryParam(%q, %q) = %q, url.ParseQuery gives %q", query, key, got, want)
		}
	})
}

func TestSetUserOriginal(t *testing.T) {
	src := &Source{Users: &Users{Domains: map[string]string{"corp": "corp.example"}}}
	for _, tc := range []struct{ raw, name, domain, original string }{
		{"zhangwei", "zhangwei", "", ""},
		{"zhangwei@corp.example", "zhangwei", "corp.example", ""}, // name@domain: derivable
		{"ZhangWei@corp.example", "zhangwei", "corp.example", "ZhangWei@corp.example"},
		{"zhangwei@corp", "zhangwei", "corp.example", "zhangwei@corp"}, // mapped domain
		{`CORP\zhangwei`, "zhangwei", "corp.example", `CORP\zhangwei`},
		{"ZhangWei", "zhangwei", "", "ZhangWei"},
	} {
		var e Event
		e.SetUser(src, tc.raw)
		if got := [3]string{e.Get(FieldUserName), e.Get(FieldUserDomain), e.Get(FieldUserOriginal)}; got != [3]string{tc.name, tc.domain, tc.original} {
			t.Errorf("SetUser(%q) = %q, want %q", tc.raw, got, [3]string{tc.name, tc.domain, tc.original})
		}
	}
}

// checkActiveSync checks that activeSync.read gives what QueryParam gives
// for each of its names.
func checkActiveSync(t *testing.T, query string) {
	t.Helper()
	names := [...]string{asUser: "User", asDeviceID: "DeviceId", asDeviceType: "DeviceType", asCmd: "Cmd"}
	for _, user := range []bool{true, false} {
		var p activeSync
		p.read(query, user)
		for i, name := range names {
			want := QueryParam(query, name)
			if i == asUser && !user {
				want = ""
			}
			if p[i] != want {
				t.Fatalf("read(%q, %v): %s = %q, QueryParam gives %q", query, user, name, p[i], want)
			}
		}
	}
}

// TestActiveSyncRead: one pass over the query reads what QueryParam reads
// for each name.
func TestActiveSyncRead(t *testing.T) {
	for _, q := range []string{
		"User=CORP%5Cana&DeviceId=ABC&DeviceType=iPhone&Cmd=Sync",
		"Cmd=Sync&Cmd=Ping&User=a&User=b",
		"User=%zz&User=ok&DeviceId=%zz&DeviceId=D",
		"%55ser=x&Device%49d=y&DeviceType=a+b&Cmd=",
		"User=a;b&User=ok&;Cmd=x&Cmd=y",
		"&&DeviceId=x&",
		"user=x&deviceid=y",
		"User",
		"",
	} {
		checkActiveSync(t, q)
	}
}

func FuzzActiveSyncRead(f *testing.F) {
	f.Add("User=CORP%5Cana&DeviceId=ABC&DeviceType=iPhone&Cmd=Sync")
	f.Add("Cmd=a&%43md=b&User=%zz&User=c;d&DeviceType=")
	f.Fuzz(checkActiveSync)
}

// TestProtocol: the first path segment is lowercased as strings.ToLower
// does, non-ASCII included.
func TestProtocol(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/owa/auth.owa", "owa"},
		{"/OWA/", "owa"},
		{"/Microsoft-Server-ActiveSync?Cmd=Sync", "activesync"},
		{"/EWS/Exchange.asmx", "ews"},
		{"ecp", "ecp"},
		{"/Autodiscover/Autodiscover.xml", "autodiscover"},
		{"/mapi/emsmdb/", "mapi"},
		{"/rpc/rpcproxy.dll", "rpc"},
		{"/OAB/x/oab.xml", "oab"},
		{"/PowerShell?x", "powershell"},
		{"/activesync", ""},
		{"/MAP\u0130/nspi", "mapi"}, // U+0130 lowercases to 'i'
		{"/owa\u00e9/", ""},
		{"/", ""},
		{"", ""},
		{"/" + strings.Repeat("a", 40), ""},
		{"/?owa", ""},
	} {
		if got := Protocol(tc.path); got != tc.want {
			t.Errorf("Protocol(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestReason401: the reason of a 401 names the protocol's endpoint.
func TestReason401(t *testing.T) {
	for _, proto := range []string{"owa", "ecp", "ews", "activesync", "autodiscover", "mapi", "rpc", "oab", "powershell"} {
		if got, want := reason401(proto), "HTTP 401 from the "+proto+" endpoint"; got != want {
			t.Errorf("reason401(%q) = %q, want %q", proto, got, want)
		}
	}
	if got := reason401("x"); got != "HTTP 401 from the x endpoint" {
		t.Errorf("reason401(x) = %q", got)
	}
}
