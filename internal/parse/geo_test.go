package parse

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/geoip/geoiptest"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/store"
)

// TestPlaceSource: with a database, an event's source.ip gets its place
// where known; private and unknown addresses, events without an address
// and events that carry their own place get nothing.
func TestPlaceSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ip2region.db")
	if err := geoiptest.WriteDB(path, []geoiptest.Segment{
		geoiptest.Seg("58.250.0.0", "58.251.255.255", "中国|0|广东省|深圳市|联通"),
		geoiptest.Seg("61.128.0.0", "61.128.255.255", "中国|0|重庆|0|0"),
		geoiptest.Seg("8.8.8.0", "8.8.8.255", "美国|0|0|0|Level3"),
	}); err != nil {
		t.Fatal(err)
	}
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const nginx = `<190>Nov 27 23:39:14 vm nginx: 58.251.30.115 - zhangwei [27/Nov/2026:23:39:14 +0000] "GET /owa/ HTTP/1.1" 200 153 "-" "Mozilla/5.0"`
	tests := []struct {
		name, data string
		want       map[string]string // "" means absent
	}{
		{"nginx", nginx, map[string]string{
			FieldGeoCountry: "CN", FieldGeoRegion: "广东", FieldGeoCity: "深圳", FieldASOrg: "联通"}},
		{"some fields unknown", `<190>Nov 27 23:39:14 vm app: src=61.128.1.1 user=lisi action=login`, map[string]string{
			"source.ip": "61.128.1.1", FieldGeoCountry: "CN", FieldGeoRegion: "重庆", FieldGeoCity: "", FieldASOrg: ""}},
		{"abroad", `<190>Nov 27 23:39:14 vm app: src=8.8.8.8 user=lisi`, map[string]string{
			FieldGeoCountry: "US", FieldGeoRegion: "", FieldASOrg: "Level3"}},
		{"private", `<190>Nov 27 23:39:14 vm app: src=10.1.2.3 user=lisi`, map[string]string{
			"source.ip": "10.1.2.3", FieldGeoCountry: "", FieldGeoRegion: "", FieldGeoCity: "", FieldASOrg: ""}},
		{"not in the database", `<190>Nov 27 23:39:14 vm app: src=9.9.9.9 user=lisi`, map[string]string{
			"source.ip": "9.9.9.9", FieldGeoCountry: ""}},
		{"no address", `<190>Nov 27 23:39:14 vm app: hello`, map[string]string{FieldGeoCountry: ""}},
		{"placed by its sender", `<190>Nov 27 23:39:14 vm app: {"source.ip":"58.251.30.115","source.geo.country_iso_code":"XX"}`, map[string]string{
			FieldGeoCountry: "XX", FieldGeoRegion: "", FieldASOrg: ""}},
	}
	p := New(Options{Geo: db})
	plain := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := parseLine(t, p, tt.data, 0)
			for k, want := range tt.want {
				if got := fieldOf(row, k); got != want {
					t.Errorf("%s = %q, want %q (fields %v)", k, got, want, row.Fields)
				}
			}
			seen := map[string]bool{}
			for _, f := range row.Fields {
				if seen[f.Name] {
					t.Errorf("%s twice", f.Name)
				}
				seen[f.Name] = true
			}
			if got := fieldOf(parseLine(t, plain, tt.data, 0), FieldGeoRegion); got != "" && tt.name != "placed by its sender" {
				t.Errorf("without a database: region %q", got)
			}
		})
	}
}

func fieldOf(row store.Row, name string) string {
	for _, f := range row.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// BenchmarkParseGeo parses nginx JSON lines from 4096 public addresses
// without and with the ip2region test database
// (scripts/fetch-ip2region-testdb.sh): what placing source.ip costs.
func BenchmarkParseGeo(b *testing.B) {
	path := os.Getenv("VIGIL_IP2REGION_TESTDB")
	if path == "" {
		path = "/var/cache/vigil-test/ip2region.db"
	}
	db, err := geoip.Open(path)
	if err != nil {
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			b.Fatal(err)
		}
		b.Skip(err)
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(1, 2))
	recs := make([]journal.Record, 4096)
	for i := range recs {
		ip := fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(222), r.IntN(256), r.IntN(256), 1+r.IntN(254))
		data := `<190>Nov 27 23:39:14 vm nginx: {"source":"192.168.0.8", "ip":"` + ip + `","user":"-","time_local":"27/Nov/2026:23:39:14 +0000","statuscode":401,"bytes_sent":153,"http_referer":"https://mail.corp.example/owa/","http_user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36","request_uri":"/owa/auth.owa","request_time":0.004,"gzip_ration":"-","query_string":"-"}`
		recs[i] = journal.Record{Seq: 1, Time: received, Input: "syslog", Peer: "127.0.0.1:1", Data: []byte(data)}
	}
	for _, tc := range []struct {
		name string
		geo  *geoip.DB
	}{{"off", nil}, {"ip2region", db}} {
		b.Run(tc.name, func(b *testing.B) {
			p := New(Options{Location: time.UTC, Geo: tc.geo})
			var row store.Row
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p.Parse(&recs[i%len(recs)], &row)
				if i%1024 == 0 {
					p.Reset(0)
				}
			}
		})
	}
}
