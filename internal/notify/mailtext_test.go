package notify

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// TestMailLanguage: the default subject and body are in the channel's
// language (display.language), levels named as the console names them; a
// long Chinese subject is folded between its encoded words and reads back
// whole.
func TestMailLanguage(t *testing.T) {
	long := strings.Repeat("很长的规则标题", 40)
	tests := []struct {
		lang, title, subject string
		body, not            []string
	}{
		{"", "Brute force on mail logins", "[vigil] high Brute force on mail logins: source.ip=203.0.113.7",
			[]string{"Rule:     Brute force on mail logins (auth.bruteforce)", "Level:    high\r\n", "Source:   203.0.113.7:51234", "Alert ID: "}, []string{"规则"}},
		{"zh-CN", "单一来源暴力破解", "[vigil] 高 单一来源暴力破解：source.ip=203.0.113.7",
			[]string{"规则：    单一来源暴力破解（auth.bruteforce）", "级别：    高\r\n", "来源：    203.0.113.7:51234", "触发时间：2026-11-27 23:39:14 +00:00", "告警 ID： "}, []string{"Rule:", "Level:"}},
		{"zh-CN", long, string([]rune("[vigil] 高 " + long)[:maxSubject]), []string{"规则："}, nil},
	}
	for _, tc := range tests {
		s, err := newSMTPSender(SMTPConfig{Host: "mail.example.com", From: "vigil@example.com", To: []string{"soc@example.com"}, Language: tc.lang}, Config{}.fmtTime, nil)
		if err != nil {
			t.Fatal(err)
		}
		a := testAlert(1)
		a.RuleTitle = tc.title
		rcpt, _ := s.recipients(a)
		b, err := s.message(item{a: a, at: time.Now()}, rcpt)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(b), "\r\n") {
			if len(l) > 100 {
				t.Errorf("%s: line %d has %d bytes: %.100s...", tc.lang, i, len(l), l)
			}
		}
		m, err := mail.ReadMessage(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil || subject != tc.subject {
			t.Errorf("%s: subject %q (%v), want %q", tc.lang, subject, err, tc.subject)
		}
		body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
		for _, w := range tc.body {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s: body lacks %q:\n%s", tc.lang, w, body)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(string(body), n) {
				t.Errorf("%s: body has %q", tc.lang, n)
			}
		}
	}
}
