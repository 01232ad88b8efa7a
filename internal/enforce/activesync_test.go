package enforce

import (
	"encoding/base64"
	"net/url"
	"testing"
)

// asBase64 builds a base64-form ActiveSync query ([MS-ASHTTP] 2.2.1.1.1.1).
func asBase64(dev []byte, policy []byte, typ string, params ...any) string {
	b := []byte{141, 0, 0x09, 0x04} // version 14.1, Sync, locale en-US
	b = append(b, byte(len(dev)))
	b = append(b, dev...)
	b = append(b, byte(len(policy)))
	b = append(b, policy...)
	b = append(b, byte(len(typ)))
	b = append(b, typ...)
	for i := 0; i+1 < len(params); i += 2 {
		v := params[i+1].(string)
		b = append(b, byte(params[i].(int)), byte(len(v)))
		b = append(b, v...)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestParseActiveSync(t *testing.T) {
	guid := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	withUser := asBase64([]byte("ApplF17XK1ABCDEF"), []byte{1, 2, 3, 4}, "iPhone", 7, "x", tagUser, "alice")
	tests := []struct {
		name, q string
		want    ActiveSync
		ok      bool
	}{
		{"plain", "Cmd=Sync&User=alice&DeviceId=ABC123&DeviceType=iPhone", ActiveSync{User: "alice", Device: "ABC123", Type: "iPhone", Cmd: "Sync"}, true},
		{"plain names any case", "cmd=Ping&user=CORP%5Cbob&deviceid=X1&devicetype=Android", ActiveSync{User: `CORP\bob`, Device: "X1", Type: "Android", Cmd: "Ping"}, true},
		{"plain first value wins", "DeviceId=A&DeviceId=B&User=u", ActiveSync{User: "u", Device: "A"}, true},
		{"plain one parameter", "Cmd=Options", ActiveSync{Cmd: "Options"}, true},
		{"base64 text id", asBase64([]byte("ApplF17XK1ABCDEF"), nil, "iPhone"), ActiveSync{Device: "ApplF17XK1ABCDEF", Type: "iPhone", Base64: true}, true},
		{"base64 binary id", asBase64(guid, []byte{1, 2, 3, 4}, "WindowsOutlook15"), ActiveSync{Device: "0123456789ABCDEFFEDCBA9876543210", Type: "WindowsOutlook15", Base64: true}, true},
		{"base64 user parameter", withUser, ActiveSync{User: "alice", Device: "ApplF17XK1ABCDEF", Type: "iPhone", Base64: true}, true},
		{"base64 percent-escaped", url.QueryEscape(withUser), ActiveSync{User: "alice", Device: "ApplF17XK1ABCDEF", Type: "iPhone", Base64: true}, true},
		{"base64 truncated", withUser[:8], ActiveSync{}, false},
		{"base64 device length past end", base64.StdEncoding.EncodeToString([]byte{141, 0, 9, 4, 40, 'a'}), ActiveSync{}, false},
		{"empty", "", ActiveSync{}, false},
		{"garbage", "%zz", ActiveSync{}, false},
		{"no known parameter", "a=b&c=d", ActiveSync{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseActiveSync(tt.q)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("ParseActiveSync(%q) = %+v, %v; want %+v, %v", tt.q, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestIsActiveSync(t *testing.T) {
	for path, want := range map[string]bool{
		"/Microsoft-Server-ActiveSync":             true,
		"/microsoft-server-activesync/default.eas": true,
		"/Microsoft-Server-ActiveSyncX":            false,
		"/owa/auth.owa":                            false,
		"":                                         false,
	} {
		if got := IsActiveSync(path); got != want {
			t.Errorf("IsActiveSync(%q) = %v, want %v", path, got, want)
		}
	}
}

func FuzzParseActiveSync(f *testing.F) {
	f.Add("Cmd=Sync&User=alice&DeviceId=ABC123&DeviceType=iPhone")
	f.Add(asBase64([]byte("dev"), []byte{1, 2, 3, 4}, "iPhone", tagUser, "bob"))
	f.Fuzz(func(t *testing.T, q string) {
		ParseActiveSync(q)
	})
}
