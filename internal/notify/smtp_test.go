package notify

import (
	"bufio"
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/alert"
)

const (
	smtpUser = "vigil"
	smtpPass = "correct horse"
)

// skip skips the test for a missing test component, or fails it when
// VIGIL_TEST_STRICT is set (scripts/test.sh sets it: there the component
// was installed, so its absence is a bug, not a reason to skip).
func skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("VIGIL_TEST_STRICT") != "" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

// findPython returns a python3 that can import aiosmtpd: $VIGIL_PYTHON,
// python3 on PATH, or the system's /usr/bin/python3 (Debian's package
// installs there, which a pyenv python3 on PATH does not see).
func findPython(t *testing.T) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("VIGIL_PYTHON"); p != "" {
		cands = append(cands, p)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/python3")
	found := false
	for _, p := range cands {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		found = true
		if exec.Command(p, "-c", "import aiosmtpd").Run() == nil {
			return p
		}
	}
	if !found {
		skip(t, "python3 not found: the SMTP tests need python3 with aiosmtpd (scripts/install-test-deps.sh)")
	}
	skip(t, "aiosmtpd missing: apt-get install python3-aiosmtpd (scripts/install-test-deps.sh), or set VIGIL_PYTHON")
	return ""
}

// smtpd is a running testdata/smtpd.py.
type smtpd struct {
	host, port string
	outdir     string
}

// startSMTPD runs the aiosmtpd server with args and stops it at cleanup.
func startSMTPD(t *testing.T, args ...string) *smtpd {
	t.Helper()
	py := findPython(t)
	out := t.TempDir()
	cmd := exec.Command(py, append([]string{"testdata/smtpd.py", "--port", "0", "--outdir", out}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "smtpd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	var line string
	select {
	case line = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("smtpd.py did not get ready")
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if !ok {
		b, _ := os.ReadFile(logf.Name())
		t.Fatalf("smtpd.py: %q\n%s", line, b)
	}
	s := &smtpd{outdir: out}
	s.host, s.port, _ = strings.Cut(addr, ":")
	return s
}

func (s *smtpd) config(name string) SMTPConfig {
	var port int
	for _, c := range s.port {
		port = port*10 + int(c-'0')
	}
	return SMTPConfig{
		Name:     name,
		Host:     s.host,
		Port:     port,
		HELO:     "vigil.test",
		From:     "Vigil SOC <vigil@example.com>",
		To:       []string{"soc@example.com", "Help Desk <helpdesk@example.com>"},
		Delivery: fastRetry(100, 3),
	}
}

// received is a message as smtpd.py stores it.
type received struct {
	MailFrom string   `json:"mail_from"`
	RcptTos  []string `json:"rcpt_tos"`
	Data     string   `json:"data"`
	TLS      bool     `json:"tls"`
	AuthUser *string  `json:"auth_user"`
}

// messages waits for n stored messages and returns them in arrival order.
func (s *smtpd) messages(t *testing.T, n int) []received {
	t.Helper()
	var files []string
	waitFor(t, "mail files", func() bool {
		files, _ = filepath.Glob(filepath.Join(s.outdir, "msg-*.json"))
		return len(files) >= n
	})
	sort.Slice(files, func(i, j int) bool {
		return len(files[i]) < len(files[j]) || len(files[i]) == len(files[j]) && files[i] < files[j]
	})
	var out []received
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r received
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, r)
	}
	return out
}

func newSMTPNotifier(t *testing.T, mc SMTPConfig) *Notifier {
	t.Helper()
	return newNotifier(t, Config{SMTP: []SMTPConfig{mc}}, nil, 10*time.Second)
}

// mailAlert is an alert whose rule asks to mail the locked-out user.
func mailAlert(n int) *alert.Alert {
	a := testAlert(n)
	a.RuleTitle = "Compte verrouillé"
	a.Group = "user.name=alice@example.com"
	a.Notify = []string{"alice@example.com", "SOC@example.com"} // the second is a duplicate of To
	return a
}

func TestSMTPStartTLSAuth(t *testing.T) {
	p := newPKI(t)
	for _, mech := range []string{"", AuthPlain, AuthLogin} {
		t.Run("auth="+mech, func(t *testing.T) {
			srv := startSMTPD(t, "--cert", p.certFile, "--key", p.keyFile, "--require-starttls", "--user", smtpUser, "--password", smtpPass)
			mc := srv.config("mail")
			mc.Username, mc.Password, mc.Auth = smtpUser, smtpPass, mech
			mc.StartTLS = StartTLSRequired
			mc.TLS.CAFile = p.caFile
			n := newSMTPNotifier(t, mc)
			a := mailAlert(1)
			n.Send(a)
			msgs := srv.messages(t, 1)
			checkMail(t, msgs[0], a)
			if !msgs[0].TLS || msgs[0].AuthUser == nil || *msgs[0].AuthUser != smtpUser {
				t.Errorf("tls %v, auth user %v", msgs[0].TLS, msgs[0].AuthUser)
			}
			waitFor(t, "status", func() bool { return statusOf(t, n, "mail").Sent == 1 })
		})
	}
}

// checkMail checks envelope, headers and body of a mailed alert.
func checkMail(t *testing.T, r received, a *alert.Alert) {
	t.Helper()
	if r.MailFrom != "vigil@example.com" {
		t.Errorf("MAIL FROM %q", r.MailFrom)
	}
	wantRcpt := []string{"soc@example.com", "helpdesk@example.com", "alice@example.com"}
	if !slices.Equal(r.RcptTos, wantRcpt) {
		t.Errorf("recipients %v, want %v", r.RcptTos, wantRcpt)
	}
	m, err := mail.ReadMessage(strings.NewReader(r.Data))
	if err != nil {
		t.Fatalf("message: %v\n%s", err, r.Data)
	}
	h := m.Header
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<vigil."+a.ID+".") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Vigil SOC" || from[0].Address != "vigil@example.com" {
		t.Errorf("From %q: %v", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 3 || to[1].Name != "Help Desk" || to[2].Address != "alice@example.com" {
		t.Errorf("To %q: %v", h.Get("To"), err)
	}
	raw := h.Get("Subject")
	if !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("Subject %q not RFC 2047 encoded", raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(raw)
	if want := "[vigil] high Compte verrouillé: user.name=alice@example.com"; err != nil || subject != want {
		t.Errorf("Subject %q (%v), want %q", subject, err, want)
	}
	if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cte := h.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding %q", cte)
	}
	if h.Get("MIME-Version") != "1.0" || h.Get("Auto-Submitted") != "auto-generated" || h.Get("X-Vigil-Alert-Id") != a.ID {
		t.Errorf("headers %v", h)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, want := range []string{
		a.Message,
		"Rule:     Compte verrouillé (auth.bruteforce)",
		"Level:    high",
		"Count:    " + itoa(a.Count),
		"Fired:    2026-11-27 23:39:14 +00:00",
		"First:    2026-11-27 23:34:14 +00:00",
		"Source:   203.0.113.7:51234",
		"Dest:     198.51.100.10:443",
		"User:     alice@example.com",
		"Device:   android-1234",
		"Alert ID: " + a.ID,
		"  country: NL\r\n  distinct_users: 3",
		"Events (2 shown):",
		`  {"status":401,"user":"alice@example.com"}`,
		`  second "line" with ]`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q:\n%s", want, text)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestSMTPImplicitTLS(t *testing.T) {
	p := newPKI(t)
	srv := startSMTPD(t, "--cert", p.certFile, "--key", p.keyFile, "--implicit-tls", "--user", smtpUser, "--password", smtpPass)
	mc := srv.config("smtps")
	mc.Username, mc.Password, mc.ImplicitTLS = smtpUser, smtpPass, true
	mc.TLS.CAFile = p.caFile
	n := newSMTPNotifier(t, mc)
	// Several alerts in a row go over one session.
	for i := range 3 {
		n.Send(mailAlert(i))
	}
	msgs := srv.messages(t, 3)
	for i, m := range msgs {
		checkMail(t, m, mailAlert(i))
		if !m.TLS {
			t.Errorf("message %d not over TLS", i)
		}
	}
}

func TestSMTPWrongPassword(t *testing.T) {
	p := newPKI(t)
	srv := startSMTPD(t, "--cert", p.certFile, "--key", p.keyFile, "--user", smtpUser, "--password", smtpPass)
	mc := srv.config("mail")
	mc.Username, mc.Password = smtpUser, "wrong"
	mc.TLS.CAFile = p.caFile
	n := newSMTPNotifier(t, mc)
	n.Send(mailAlert(1))
	waitFor(t, "failure", func() bool { return statusOf(t, n, "mail").Failed == 1 })
	st := statusOf(t, n, "mail")
	if !strings.Contains(st.LastError, "535") || st.Errors != 1 || st.Sent != 0 {
		t.Errorf("status %+v: want one 535 error, not retried", st)
	}
	if strings.Contains(st.LastError, "wrong") {
		t.Errorf("last error shows the password: %q", st.LastError)
	}
	// The next alert opens a fresh session and fails the same way.
	n.Send(mailAlert(2))
	waitFor(t, "second failure", func() bool { return statusOf(t, n, "mail").Failed == 2 })
	if files, _ := filepath.Glob(filepath.Join(srv.outdir, "*.json")); len(files) != 0 {
		t.Errorf("messages delivered without authentication: %v", files)
	}
}

func TestSMTPNoTLS(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*SMTPConfig)
		wantErr string // "" = delivered
	}{
		// auto falls back to plain text when the server offers no STARTTLS.
		{name: "auto without auth", cfg: func(*SMTPConfig) {}},
		{name: "required", cfg: func(c *SMTPConfig) { c.StartTLS = StartTLSRequired }, wantErr: "does not offer STARTTLS"},
		{name: "auth refused in clear", cfg: func(c *SMTPConfig) { c.Username, c.Password = smtpUser, smtpPass }, wantErr: "refusing to send credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTPD(t)
			mc := srv.config("mail")
			tc.cfg(&mc)
			n := newSMTPNotifier(t, mc)
			a := mailAlert(1)
			n.Send(a)
			if tc.wantErr == "" {
				checkMail(t, srv.messages(t, 1)[0], a)
				return
			}
			waitFor(t, "failure", func() bool { return statusOf(t, n, "mail").Failed == 1 })
			if st := statusOf(t, n, "mail"); !strings.Contains(st.LastError, tc.wantErr) || st.Errors != 1 {
				t.Errorf("status %+v, want one %q", st, tc.wantErr)
			}
		})
	}
}

func TestSMTPRecipients(t *testing.T) {
	srv := startSMTPD(t)
	mc := srv.config("mail")
	mc.To = nil // only alerts whose rule names recipients
	n := newSMTPNotifier(t, mc)

	none := testAlert(1) // no Notify: not for this channel
	n.Send(none)
	partial := testAlert(2)
	partial.Notify = []string{"bob@example.com", "ghost@reject.invalid", "not an address", "Carol <carol@example.com>"}
	n.Send(partial)
	allBad := testAlert(3)
	allBad.Notify = []string{"ghost@reject.invalid"}
	n.Send(allBad)

	waitFor(t, "outcomes", func() bool {
		st := statusOf(t, n, "mail")
		return st.Sent+st.Failed == 2
	})
	st := statusOf(t, n, "mail")
	if st.Sent != 1 || st.Failed != 1 || !strings.Contains(st.LastError, "every recipient refused") || !strings.Contains(st.LastError, "550") {
		t.Errorf("status %+v", st)
	}
	msgs := srv.messages(t, 1)
	if len(msgs) != 1 || !slices.Equal(msgs[0].RcptTos, []string{"bob@example.com", "carol@example.com"}) {
		t.Errorf("messages %+v", msgs)
	}
}

// TestSMTPDisplayZone: the default body shows the alert's times in the
// display zone with their offset; a template of the user's own still has
// utc, and local too.
func TestSMTPDisplayZone(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	srv := startSMTPD(t)
	def := srv.config("default")
	own := srv.config("own")
	own.Subject = "{{.RuleTitle}} at {{local .TS}}"
	own.Body = "fired {{utc .TS}} / {{local .TS}}\n"
	n := newNotifier(t, Config{SMTP: []SMTPConfig{def, own}, Location: shanghai}, nil, 10*time.Second)
	a := testAlert(1) // fired 2026-11-27 23:39:14 UTC
	n.Send(a)
	msgs := srv.messages(t, 2)
	var texts []string
	for _, r := range msgs {
		m, err := mail.ReadMessage(strings.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
		texts = append(texts, subject+"\n"+string(body))
	}
	all := strings.Join(texts, "\n---\n")
	for _, want := range []string{
		"Fired:    2026-11-28 07:39:14 +08:00",
		"First:    2026-11-28 07:34:14 +08:00",
		"at 2026-11-28 07:39:14 +08:00",
		"fired 2026-11-27 23:39:14 UTC / 2026-11-28 07:39:14 +08:00",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("mails lack %q:\n%s", want, all)
		}
	}
}

func TestSMTPMessage(t *testing.T) {
	s, err := newSMTPSender(SMTPConfig{
		Host: "mail.example.com", From: "vigil@example.com", To: []string{"soc@example.com"},
		Subject: "{{.Message}}",
		Body:    "{{.Message}}\n{{range .Payloads}}{{.}}\n{{end}}",
	}, Config{}.fmtTime, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert(1)
	a.Message = "line one\r\nBcc: evil@example.com\n.\nünïcode"
	a.Payloads = []string{strings.Repeat("long ", 400), ".leading dot", "bad \xff byte"}
	rcpt, _ := s.recipients(a)
	b, err := s.message(item{a: a, at: time.Now()}, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(string(b), "\r\n\r\n")
	if strings.Contains(header, "\r\nBcc:") {
		t.Errorf("header injection:\n%s", header)
	}
	for i, l := range strings.Split(string(b), "\r\n") {
		if len(l) > 78 {
			t.Errorf("line %d has %d bytes", i, len(l))
		}
	}
	if strings.Contains(strings.ReplaceAll(string(b), "\r\n", ""), "\n") {
		t.Error("bare LF in message")
	}
	m, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if subject != "line one Bcc: evil@example.com . ünïcode" {
		t.Errorf("subject %q", subject)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	if !strings.Contains(string(body), "\r\n.leading dot\r\n") || !strings.Contains(string(body), "bad \uFFFD byte") ||
		!strings.Contains(string(body), strings.Repeat("long ", 399)) {
		t.Errorf("body %q", body)
	}
}
