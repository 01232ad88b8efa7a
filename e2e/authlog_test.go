package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestAuthLogOverSyslog sends a Linux jump host's authentication log (sshd
// and PAM, as rsyslog forwards the authpriv facility) and a front end's
// nginx and Apache error logs over syslog TCP to a server with the
// built-in rule pack: an ssh brute force raises brute-force-source after
// exactly 20 attempts, each counted once although sshd and pam_unix both
// log it, and the error logs' fields are searchable.
func TestAuthLogOverSyslog(t *testing.T) {
	t.Parallel()
	v := startVigil(t, vigilOpts{})
	start := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	bsd := func(at time.Time, pri int, host, tag, msg string) string {
		return fmt.Sprintf("<%d>%s %s %s: %s", pri, at.Format(time.Stamp), host, tag, msg)
	}
	const attacker = "203.0.113.45"
	var lines []string
	for i := range 20 {
		at := start.Add(time.Duration(i) * 5 * time.Second)
		tag := fmt.Sprintf("sshd[%d]", 4000+i)
		lines = append(lines,
			bsd(at, 38, "jump1", tag, fmt.Sprintf("Failed password for root from %s port %d ssh2", attacker, 50000+i)),
			bsd(at, 85, "jump1", tag, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost="+attacker+"  user=root"))
	}
	later := start.Add(2 * time.Minute)
	lines = append(lines,
		bsd(later, 38, "jump1", "sshd-session[5000]", "Accepted publickey for lisi from 192.0.2.44 port 50322 ssh2: ED25519 SHA256:Zm9vYmFy"),
		bsd(later, 187, "fe1", "nginx", later.Format("2006/01/02 15:04:05")+` [error] 2201#2201: *90411 limiting requests, excess: 20.340 by zone "perip", client: 198.51.100.80, server: mail.corp.example, request: "POST /owa/auth.owa HTTP/1.1", host: "mail.corp.example"`),
		bsd(later, 139, "web1", "httpd", "["+later.Format("Mon Jan 02 15:04:05.000000 2006")+"] [core:error] [pid 1234:tid 5678] [client 198.51.100.81:50122] AH00126: Invalid URI in request GET /..%2f HTTP/1.1"),
	)
	sendLines(t, v.syslogAddr, lines)

	a := v.waitAlert(t, "rule.id:brute-force-source source.ip:"+attacker)
	checkFields(t, a, map[string]string{"alert.count": "20"})
	v.waitEvents(t, "event.dataset:pam source.ip:"+attacker, 20)
	if n, err := v.count("event.outcome:failure source.ip:" + attacker); err != nil || n != 20 {
		t.Errorf("failures from %s: %d (%v), want 20: sshd's line counts, pam_unix's does not", attacker, n, err)
	}
	ok := v.waitOne(t, "event.action:logged-in user.name:lisi")
	checkFields(t, ok, map[string]string{"event.dataset": "sshd", "process.name": "sshd", "ssh.method": "publickey", "source.ip": "192.0.2.44", "network.protocol": "ssh"})
	ng := v.waitOne(t, "event.dataset:nginx.error event.action:rate-limited")
	checkFields(t, ng, map[string]string{"source.ip": "198.51.100.80", "nginx.limit.zone": "perip", "url.path": "/owa/auth.owa", "log.level": "error"})
	ap := v.waitOne(t, "event.dataset:apache.error")
	checkFields(t, ap, map[string]string{"source.ip": "198.51.100.81", "error.code": "AH00126", "event.action": "invalid-request", "process.pid": "1234"})
}
