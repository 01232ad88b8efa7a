package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-soc/vigil/internal/units"
)

// DefaultWebhookTimeout bounds one webhook request.
const DefaultWebhookTimeout = 10 * time.Second

// WebhookConfig posts each alert to a URL: its JSON, or the message of a
// chat robot (Format).
type WebhookConfig struct {
	// Name identifies the channel in metrics and status (default webhookN).
	Name string `yaml:"name"`
	// URL is the http or https endpoint. It is never shown in status or
	// logs beyond its scheme and host, as its path often holds a secret.
	URL string `yaml:"url"`
	// Headers are added to every request, e.g. Authorization.
	// Content-Type defaults to application/json.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one request, response included (default 10s).
	Timeout units.Duration `yaml:"timeout"`
	// MinLevel is the lowest alert level posted (default: all).
	MinLevel string `yaml:"min_level"`
	// Format is json (default: the alert JSON), or dingtalk, wecom or
	// feishu: the markdown message of that platform's group robot, in the
	// display language and zone, checked against the robot's answer.
	Format string `yaml:"format"`
	// Secret (or SecretFile, whose content is trimmed) signs the requests
	// of a dingtalk or feishu robot whose security setting is signing
	// (加签, 签名校验). SecretFile must not be readable by other users.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// TLS configures https.
	TLS      TLSConfig `yaml:"tls"`
	Delivery `yaml:",inline"`
}

// Validate checks the configuration.
func (c WebhookConfig) Validate() error {
	if c.URL == "" {
		return errors.New("url: required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url: scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("url: host missing")
	}
	for k, v := range c.Headers {
		if !validHeaderName(k) {
			return fmt.Errorf("headers: invalid header name %q", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("headers: %s: value must not contain CR, LF or NUL", k)
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout %s: must not be negative", c.Timeout)
	}
	if err := validLevel(c.MinLevel); err != nil {
		return err
	}
	if err := c.validateFormat(); err != nil {
		return err
	}
	if u.Scheme == "https" {
		if err := c.TLS.validate(); err != nil {
			return err
		}
	} else if c.TLS != (TLSConfig{}) {
		return errors.New("tls: applies to https URLs only")
	}
	return c.Delivery.validate()
}

func (c WebhookConfig) validateFormat() error {
	switch c.Format {
	case "", FormatJSON, FormatDingTalk, FormatWeCom, FormatFeishu:
	default:
		return fmt.Errorf("format %q: want json, dingtalk, wecom or feishu", c.Format)
	}
	if c.Secret == "" && c.SecretFile == "" {
		return nil
	}
	switch {
	case c.Secret != "" && c.SecretFile != "":
		return errors.New("secret and secret_file: set one, not both")
	case c.Format != FormatDingTalk && c.Format != FormatFeishu:
		return fmt.Errorf("secret: only dingtalk and feishu robots sign their requests, not format %q", c.formatName())
	case c.SecretFile != "":
		_, err := readSecretFile(c.SecretFile)
		return err
	}
	return nil
}

func (c WebhookConfig) formatName() string {
	if c.Format == "" {
		return FormatJSON
	}
	return c.Format
}

// secret returns the signing secret, read from SecretFile if set.
func (c WebhookConfig) secret() (string, error) {
	if c.SecretFile != "" {
		return readSecretFile(c.SecretFile)
	}
	return c.Secret, nil
}

// readSecretFile reads a secret from a file that other users cannot
// read, trimmed of surrounding white space.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secret_file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("secret_file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("secret_file %s: mode %#o lets other users read the secret; chmod 600 (or 640 for a group) %s", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("secret_file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret_file %s: empty", path)
	}
	return s, nil
}

// validHeaderName reports whether k is an HTTP token (RFC 9110 5.6.2).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// webhookSender posts alerts with one http.Client.
type webhookSender struct {
	url     string
	host    string // scheme://host, safe to show
	headers http.Header
	reqHost string // a configured Host header
	client  *http.Client
	tr      *http.Transport
	chat    *chat // nil: the alert JSON
}

// newWebhookSender makes the sender of c; style and now serve a chat
// robot's messages and signatures.
func newWebhookSender(c WebhookConfig, style chatStyle, now func() time.Time) (*webhookSender, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	s := &webhookSender{url: c.URL, host: u.Scheme + "://" + u.Host, headers: make(http.Header)}
	s.headers.Set("Content-Type", "application/json")
	if c.Format != "" && c.Format != FormatJSON {
		secret, err := c.secret()
		if err != nil {
			return nil, err
		}
		s.chat = newChat(c.Format, secret, style, now)
		// DingTalk asks for UTF-8 to be named; the others accept it.
		s.headers.Set("Content-Type", "application/json; charset=utf-8")
	}
	s.headers.Set("User-Agent", "vigil-notify")
	for k, v := range c.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			s.reqHost = v
			continue
		}
		s.headers.Set(k, v)
	}
	s.tr = http.DefaultTransport.(*http.Transport).Clone()
	if u.Scheme == "https" {
		cfg, err := c.TLS.build(u.Hostname())
		if err != nil {
			return nil, err
		}
		s.tr.TLSClientConfig = cfg
	}
	timeout := c.Timeout.D()
	if timeout == 0 {
		timeout = DefaultWebhookTimeout
	}
	s.client = &http.Client{
		Transport: s.tr,
		Timeout:   timeout,
		// A webhook that redirects is misconfigured; following would turn
		// the POST into a GET for 301-303.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

func (s *webhookSender) target() string { return s.host }

func (s *webhookSender) send(ctx context.Context, it item) error {
	target := s.url
	var body []byte
	var err error
	if s.chat != nil {
		// Wait for the robot's rate limits first, so that a signature's
		// timestamp is the time of sending.
		if err := s.chat.pace.wait(ctx); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		target, body, err = s.chat.request(it.a, s.url)
	} else {
		body, err = it.a.MarshalJSON()
		if err != nil {
			err = permanent(fmt.Errorf("encode alert: %w", err))
		}
	}
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("webhook: POST %s: %w", s.host, err))
	}
	for k, v := range s.headers {
		req.Header[k] = v
	}
	if s.reqHost != "" {
		req.Host = s.reqHost
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// url.Error repeats the whole URL, which may hold a secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook: POST %s: %w", s.host, err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	snippet := answer[:min(len(answer), 512)]
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		if s.chat != nil {
			// A robot answers HTTP 200 and tells in the body whether it
			// took the message.
			if err := s.chat.r.answer(answer); err != nil {
				return fmt.Errorf("webhook: POST %s: %w", s.host, err)
			}
		}
		return nil
	}
	err = fmt.Errorf("webhook: POST %s: HTTP %s%s", s.host, resp.Status, excerpt(snippet))
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return &retryAfterError{err: err, after: d}
		}
		return err
	case code >= 300 && code < 400:
		return permanent(fmt.Errorf("%w (redirect to %s not followed)", err, redactURL(resp.Header.Get("Location"))))
	}
	return permanent(err)
}

// retryAfter parses a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// excerpt formats the start of a response body for an error message.
func excerpt(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	if s == "" {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "..."
	}
	return ": " + s
}

// redactURL keeps the scheme and host of a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "another location"
	}
	return u.Scheme + "://" + u.Host
}

func (s *webhookSender) idle() {}

func (s *webhookSender) close() error {
	s.tr.CloseIdleConnections()
	return nil
}
