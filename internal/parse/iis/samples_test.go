package iis

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
)

// TestSamplesIIS checks that every line of the real IIS samples parses
// without error and gives the fields an analyst expects.
func TestSamplesIIS(t *testing.T) {
	specific := map[string]map[int]map[string]string{
		"test.log": {
			16: {"url.query": "redirect:${%23req%3d%23context.get('com.opensymphony.xwork2.dispatcher.HttpServletRequest'),%23webroot%3d%23req.getSession().getServletContext().getRealPath('/'),%23resp.println(%23webroot),%23resp.flush(),%23resp.close()}",
				"source.ip": "10.50.6.188", "http.response.status_code": "401"},
			17: {"url.path": "/${#context['xwork.MethodAccessor.denyMethodExecution']=!(#_memberAccess['allowStaticMethodAccess']=true),(@java.lang.Runtime@getRuntime()).exec('ipconfig').waitFor()}.action",
				"iis.win32_status": "2"},
		},
		"test-iis-7.5.log": {
			5: {"destination.ip": "10.100.220.70", "source.ip": "10.100.118.31", "event.duration": "792000000"},
			8: {"source.ip": "2001:cdba::3257:9652"},
		},
		"test-iis10-access.log": {
			1: {"url.domain": "apcvwp00049.corp.acxiom.net"},
			3: {"url.domain": "itweb.acx.co", "http.request.referrer": ""},
			4: {"host.name": "exchange01", "user.name": "user01", "user.domain": "example", "network.protocol": "ews",
				"source.ip": "10.10.10.7", "source.nat.ip": "10.119.1.75", "source.nat.port": "59050", "event.outcome": "success"},
			5: {"destination.ip": "fe80::d9e3:e981:da2d:427b", "destination.port": "444", "user.name": "",
				"source.ip": "10.0.61.69", "network.protocol": "mapi"},
			6: {"user.name": "user02", "network.protocol": "autodiscover"},
			8: {"http.response.bytes": "862954", "http.request.bytes": "907", "event.duration": "12000000",
				"http.request.referrer": "https://example.org/website/Login.css", "source.ip": "10.0.0.2"},
		},
	}
	dir := formattest.Samples(t, "iis")
	for _, name := range []string{"test.log", "test-iis-7.5.log", "test-iis10-access.log"} {
		t.Run(name, func(t *testing.T) {
			lines := formattest.ReadLines(t, filepath.Join(dir, name), false)
			for i, r := range run(Text(), lines) {
				want := specific[name][i+1]
				if want == nil {
					want = map[string]string{}
				}
				if strings.HasPrefix(r.text, "#") {
					want["_skip"] = "true"
				} else {
					want["event.dataset"] = "iis.access"
				}
				t.Run(itoa(i+1), func(t *testing.T) {
					check(t, r, want)
					if r.err != nil {
						return
					}
					if r.ev.Time.IsZero() {
						t.Error("no event time")
					}
					for _, f := range []string{"http.request.method", "url.path", "http.response.status_code", "destination.port", "event.category"} {
						if !r.ev.Has(f) {
							t.Errorf("%s missing", f)
						}
					}
					if !r.ev.Has("source.ip") {
						t.Error("source.ip missing")
					}
				})
			}
		})
	}
}

// TestSamplesHTTPProxy checks the real HttpProxy sample line.
func TestSamplesHTTPProxy(t *testing.T) {
	lines := formattest.ReadLines(t, formattest.Samples(t, "exchange", "test-httpproxy.log"), false)
	res := run(HTTPProxy(), lines)
	check(t, res[0], map[string]string{
		"_time": "2024-01-24T15:26:47.957Z", "event.dataset": "exchange.httpproxy",
		"http.request.id": "3422ea93-768f-4cd4-8b0c-578038deb0b2", "network.protocol": "mapi",
		"url.domain": "mail.domain.tld", "url.path": "/mapi/emsmdb/",
		"url.query":                    "MailboxId=0e36a769-e2a9-4d1d-98df-80be2753326c@domain.tld",
		"exchange.authentication_type": "Negotiate", "user.name": "user", "user.domain": "domain",
		"user.original": `DOMAIN\user`, "exchange.anchor_mailbox": "MailboxGuid~0aa89cf8-aa07-4103-8a1d-ca9e619f223e",
		"user_agent.original": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.16731; Pro)",
		"source.ip":           "10.12.13.14", "host.name": "Host123", "http.response.status_code": "200",
		"http.request.method": "POST", "destination.domain": "Host456.domain.tld", "http.request.bytes": "70",
		"http.response.bytes": "132", "event.duration": "10000000", "event.category": "authentication",
		"event.outcome": "success", "event.reason": "",
	})
	for _, r := range res[1:] {
		check(t, r, map[string]string{"event.dataset": "exchange.httpproxy"})
	}
}
