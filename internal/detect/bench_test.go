package detect

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/benchenv"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/rules"
)

// mixedLines returns n log lines of a mail service's day in the real shapes:
// mostly proxy access logs, some IMAP and ActiveSync logins (a tenth of them
// failing), Windows logon failures, and one brute force source.
func mixedLines(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([][]byte, 0, n+1)
	out = append(out, []byte("<134>Nov 28 09:00:00 exch01 IIS: #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"))
	at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	for i := range n {
		at = at.Add(time.Duration(r.IntN(20)) * time.Millisecond)
		ip := fmt.Sprintf("198.%d.%d.%d", 18+r.IntN(2), r.IntN(256), 1+r.IntN(254))
		user := fmt.Sprintf("user%04d", r.IntN(5000))
		if i%500 < 25 { // a brute force burst every 500 events
			ip, user = "203.0.113.66", fmt.Sprintf("victim%d", r.IntN(40))
		}
		stamp := at.Format(time.Stamp)
		var line string
		switch k := r.IntN(100); {
		case k < 70 || i%500 < 25 && k < 80:
			status := 200
			if r.IntN(10) == 0 || i%500 < 25 {
				status = 401
			}
			line = fmt.Sprintf(`<190>%s proxy1 nginx: {"source":"192.168.0.8", "ip":"%s","user":"%s","time_local":"%s","statuscode":%d,"bytes_sent":%d,"http_referer":"","http_user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","request_uri":"/owa/service.svc?action=GetItem&EP=1","request_time":0.05,"gzip_ration":"3.10","query_string":"action=GetItem&EP=1"}`,
				stamp, ip, user, at.Format("02/Jan/2006:15:04:05 -0700"), status, 500+r.IntN(9000))
		case k < 85:
			res := "R=OK"
			if r.IntN(10) == 0 || i%500 < 25 {
				res = `"R=""NO LOGIN failed."""`
			}
			line = fmt.Sprintf("<134>%s exch01 IMAP4: %s,0000000000ABC123,3,10.0.0.5:993,%s:51234,%s@corp.example,12,40,30,login,,%s",
				stamp, at.Format("2006-01-02T15:04:05.000Z"), ip, user, res)
		case k < 95:
			status, sub, win := 200, 0, 0
			if r.IntN(10) == 0 {
				status, sub, win = 401, 1, 1326
			}
			line = fmt.Sprintf("<134>%s exch01 IIS: %s 10.0.0.5 POST /Microsoft-Server-ActiveSync/default.eas User=%s&DeviceId=DEV%d&DeviceType=iPhone&Cmd=Sync 443 CORP\\%s %s Apple-iPhone14C2/2006.100 - %d %d %d 15",
				stamp, at.Format("2006-01-02 15:04:05"), user, r.IntN(3), user, ip, status, sub, win)
		default:
			line = fmt.Sprintf(`<134>%s dc01 nxlog: {"EventTime":"%s","Hostname":"DC01.corp.example","EventID":4625,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","EventType":"AUDIT_FAILURE","TargetUserName":"%s","TargetDomainName":"CORP","Status":"0xc000006d","SubStatus":"0xc000006a","LogonType":"3","IpAddress":"%s","IpPort":"51234"}`,
				stamp, at.Format("2006-01-02T15:04:05.000Z"), user, ip)
		}
		out = append(out, []byte(line))
	}
	return out
}

func packRules(tb testing.TB) []*Rule {
	tb.Helper()
	rs, errs := LoadRules(rules.FS, ".")
	if len(errs) > 0 {
		tb.Fatal(errs)
	}
	return rs
}

// BenchmarkPack measures the built-in rule pack on a realistic mix of
// parsed events (parsing is not timed): ns/op is the cost per event.
func BenchmarkPack(b *testing.B) {
	lines := mixedLines(200_000, 1)
	// Received after the last lap's events (the laps move event time on
	// by about 35 minutes each): every sender is in step, as most are.
	off := NewOffline(parse.New(parse.Options{}), Records("bench", lines, 1, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)))
	evs := off.Events()
	alerts := 0
	eng, errs := New(packRules(b), Options{Emit: func(*alert.Alert) { alerts++ }})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%len(evs) == 0 {
			// Next lap: move event time on so windows keep working.
			shift := evs[len(evs)-1].Time.Sub(evs[0].Time) + time.Minute
			for _, e := range evs {
				e.Time = e.Time.Add(shift)
			}
		}
		eng.Process(evs[i%len(evs)])
	}
	b.ReportMetric(float64(alerts)/float64(b.N)*1e6, "alerts/Mevents")
}

// TestGroupMemory measures the memory held per tracked group: 100k
// brute-force sources in a threshold rule. Run with -v to see the number
// (docs/benchmarks.md records it); the test fails only if a group costs
// more than 2 KiB, which would mean a leak of event memory into the state.
func TestGroupMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100k groups")
	}
	rs := mustRules(t, "id: a\ntitle: A\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 20\nsuppress: 1h\n")
	eng, _ := New(rs, Options{})
	const groups = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range groups {
		for k := range 3 {
			eng.Process(ev(uint64(i*3+k), t0.Add(time.Duration(i)*time.Millisecond), "event.outcome", "failure",
				"source.ip", fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := eng.rules[0].groups.len(); n != groups {
		t.Fatalf("%d groups tracked, want %d", n, groups)
	}
	per := float64(after.HeapAlloc-before.HeapAlloc) / groups
	t.Logf("%d tracked groups (threshold rule, 3 events each): %.0f bytes per group, %.1f MiB in all", groups, per, per*groups/(1<<20))
	if per > 2048 {
		t.Errorf("%.0f bytes per group", per)
	}
	runtime.KeepAlive(eng)
}

// BenchmarkPackInput measures the built-in pack on the first 300k lines of
// a file (VIGIL_BENCH_INPUT, e.g. `vigil-loadgen -gen 300000 -o FILE
// -attack 100`): each pass over them starts with a new engine, so its
// condition caches and groups are as cold as on fresh traffic, unlike
// BenchmarkPack's repeated laps. Parsing is not timed; ns/op is the cost
// per event.
func BenchmarkPackInput(b *testing.B) {
	path := os.Getenv("VIGIL_BENCH_INPUT")
	if path == "" {
		b.Skip("VIGIL_BENCH_INPUT is not set")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	for l := range bytes.Lines(data) {
		if len(lines) == 300_000 {
			break
		}
		lines = append(lines, bytes.TrimRight(l, "\n"))
	}
	evs := NewOffline(parse.New(parse.Options{}), Records("syslog", lines, 1, time.Now())).Events()
	rs := packRules(b)
	var eng *Engine
	b.ReportAllocs()
	cpu0 := benchenv.CPUTime()
	b.ResetTimer()
	for i := range b.N {
		if i%len(evs) == 0 {
			b.StopTimer()
			eng, _ = New(rs, Options{})
			b.StartTimer()
		}
		eng.Process(evs[i%len(evs)])
	}
	b.StopTimer()
	// The process's CPU time (GC included) per event: steadier than
	// ns/op when other processes share the cores.
	b.ReportMetric(float64(benchenv.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
