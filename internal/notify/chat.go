package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/locale"
)

// Webhook formats: the alert JSON, or the message of a chat robot.
const (
	FormatJSON     = "json"
	FormatDingTalk = "dingtalk"
	FormatWeCom    = "wecom"
	FormatFeishu   = "feishu"
)

// The alert fields that name the place of the source address.
const (
	fieldCity    = "source.geo.city_name"
	fieldRegion  = "source.geo.region_name"
	fieldCountry = "source.geo.country_iso_code"
)

// maxValue bounds, in runes, each short value of a chat message (user,
// address, rule title, ...): with the labels they stay well within the
// smallest content limit (WeCom's 4096 bytes), which leaves the rest to
// the alert's message.
const maxValue = 128

// chatStyle is what chat messages share: the language of their labels,
// the zone of their times and where the console is.
type chatStyle struct {
	p       *locale.Printer
	loc     *time.Location // nil: UTC
	console string         // the console's URL without a trailing slash; "": no link
}

func newChatStyle(cfg Config) (chatStyle, error) {
	cat, err := locale.Load()
	if err != nil {
		return chatStyle{}, fmt.Errorf("notify: %w", err)
	}
	return chatStyle{p: cat.Printer(cfg.Language), loc: cfg.Location, console: strings.TrimRight(cfg.ConsoleURL, "/")}, nil
}

// chatRow is one "label: value" line of a chat message.
type chatRow struct{ label, value string }

// chatMessage is an alert as a chat robot shows it. Every string is plain
// text on one line: each robot's renderer escapes the values for its
// markup.
type chatMessage struct {
	level  string // the alert's level (info ... critical)
	marker string // the level for people: "[High]", "【高】"
	mdMark string // marker with the level escaped for markdown
	title  string // the rule's title
	rows   []chatRow
	text   string // the alert's message, cut to fit the robot's limit
	link   string // the alert's page in the console; "": none
	open   string // the link's text
}

// message builds the chat message of a.
func (s chatStyle) message(a *alert.Alert) *chatMessage {
	level := a.Level
	if alert.Severity(level) >= 0 {
		level = s.p.T("alerts.level." + a.Level)
	}
	level = plain(level, maxValue)
	m := &chatMessage{
		level:  a.Level,
		marker: s.p.T("chat.marker", level),
		mdMark: s.p.T("chat.marker", mdEscape(level)),
		title:  plain(a.RuleTitle, maxValue),
		text:   plain(a.Message, -1),
		open:   s.p.T("chat.open"),
	}
	if m.title == "" {
		m.title = plain(a.RuleID, maxValue)
	}
	add := func(key, v string) {
		if v = plain(v, maxValue); v != "" {
			m.rows = append(m.rows, chatRow{s.p.T(key), v})
		}
	}
	add("chat.level", level)
	add("chat.rule", a.RuleID)
	add("chat.user", a.User)
	add("chat.address", a.SrcIP)
	add("chat.place", place(a.Fields))
	add("chat.time", displayTime(a.TS, s.loc))
	add("chat.count", strconv.Itoa(a.Count))
	if s.console != "" && a.ID != "" {
		m.link = s.console + "/alerts/" + url.PathEscape(a.ID)
	}
	return m
}

// place joins the city, region and country of the source address that
// are known, leaving out a region named like its city (Beijing, Beijing).
func place(f map[string]string) string {
	var parts []string
	for _, k := range []string{fieldCity, fieldRegion, fieldCountry} {
		v := strings.TrimSpace(f[k])
		if v != "" && (len(parts) == 0 || parts[len(parts)-1] != v) {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ", ")
}

// plain makes s one line of valid UTF-8 without control characters and
// cuts it to max runes (max < 0: no limit), marking a cut with "…".
func plain(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if max >= 0 && utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

// cutBytes cuts s to at most n bytes on a rune boundary, marking a cut
// with "…" (which the n bytes include).
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	n -= len(ell)
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ell
}

// mdEscape makes a value taken from an event inert in the robots'
// markdown: the characters that open emphasis, links, images, code,
// HTML tags (WeCom's <font> and <@userid>, Feishu's <at>) and tables
// become their full-width forms, which look alike and mean nothing to a
// renderer. The robots document no backslash escapes, and a backslash a
// renderer ignores would leave the markup in place. An underscore inside
// a word (svc_backup) cannot open emphasis and is kept.
func mdEscape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	prev := rune(-1)
	for i, r := range s {
		switch r {
		case '*':
			r = '＊'
		case '_':
			next, _ := utf8.DecodeRuneInString(s[i+1:])
			if !(isWordRune(prev) && isWordRune(next)) {
				r = '＿'
			}
		case '~':
			r = '～'
		case '`':
			r = '｀'
		case '[':
			r = '［'
		case ']':
			r = '］'
		case '<':
			r = '＜'
		case '>':
			r = '＞'
		case '|':
			r = '｜'
		case '\\':
			r = '＼'
		}
		prev = r
		b.WriteRune(r)
	}
	return b.String()
}

func isWordRune(r rune) bool { return r >= 0 && (unicode.IsLetter(r) || unicode.IsDigit(r)) }

// marshal encodes v as JSON without escaping <, > and & (they would only
// make the body longer; the robots read UTF-8 JSON).
func marshal(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// robot is the message format, signing, limits and answers of one chat
// platform's group robot.
type robot interface {
	// payload returns the request body of m; ts and sign are the
	// signature ("" when unsigned) for robots that carry it in the body.
	payload(m *chatMessage, ts, sign string) any
	// size is what the robot's size limit applies to: the body, or a part
	// of it.
	size(v any, body []byte) int
	// limit is the largest size the robot accepts.
	limit() int
	// sign computes the signature of a request made at now; query tells
	// whether it goes into the URL's query instead of the body.
	sign(secret string, now time.Time) (ts, sign string, query bool)
	// rates are the robot's documented rate limits.
	rates() []rateLimit
	// answer checks the robot's answer to a request that got HTTP 2xx.
	answer(body []byte) error
}

func newRobot(format string) robot {
	switch format {
	case FormatDingTalk:
		return dingtalk{}
	case FormatWeCom:
		return wecom{}
	case FormatFeishu:
		return feishu{}
	}
	return nil
}

// chat posts alerts to one chat robot.
type chat struct {
	format string
	r      robot
	secret string
	style  chatStyle
	now    func() time.Time
	pace   *pacer
}

func newChat(format, secret string, style chatStyle, now func() time.Time) *chat {
	r := newRobot(format)
	return &chat{format: format, r: r, secret: secret, style: style, now: now, pace: newPacer(r.rates(), now)}
}

// request returns the URL (signed when the robot signs in the query) and
// body of the message of a, cut to the robot's size limit.
func (c *chat) request(a *alert.Alert, rawURL string) (string, []byte, error) {
	var ts, sig string
	inQuery := false
	if c.secret != "" {
		ts, sig, inQuery = c.r.sign(c.secret, c.now())
	}
	m := c.style.message(a)
	encode := func(text string) ([]byte, bool, error) {
		m.text = text
		v := c.r.payload(m, ts, sig)
		b, err := marshal(v)
		if err != nil {
			return nil, false, permanent(fmt.Errorf("%s: encode message: %w", c.format, err))
		}
		return b, c.r.size(v, b) <= c.r.limit(), nil
	}
	full := m.text
	body, fits, err := encode(full)
	if err != nil {
		return "", nil, err
	}
	if !fits {
		// The longest start of the alert's text that fits: escaping makes
		// the encoded size grow by one to six bytes a byte, so search.
		lo, hi := 0, len(full)-1
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if _, ok, err := encode(cutBytes(full, mid)); err != nil {
				return "", nil, err
			} else if ok {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		if body, fits, err = encode(cutBytes(full, lo)); err != nil {
			return "", nil, err
		} else if !fits {
			// Cannot happen with the bounded values; refuse rather than
			// post what the robot rejects.
			return "", nil, permanent(fmt.Errorf("%s: message over the robot's limit of %d bytes even without the alert's text", c.format, c.r.limit()))
		}
	}
	if !inQuery {
		return rawURL, body, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, permanent(fmt.Errorf("%s: url: %w", c.format, err))
	}
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", sig)
	u.RawQuery = q.Encode()
	return u.String(), body, nil
}

// robotError is a non-zero code in a robot's answer.
type robotError struct {
	platform string
	code     int
	msg      string
}

func (e *robotError) Error() string {
	return fmt.Sprintf("%s answered code %d%s", e.platform, e.code, excerpt([]byte(e.msg)))
}

// classify turns a robot's non-zero code into an error: permanent when the
// robot's documentation says the request itself is wrong (signature,
// keyword, address, token), with a wait when it says the robot is
// rate-limited. Other codes, the ones not documented included, are
// retried within max_attempts and max_age: a lost alert costs more than a
// few needless attempts.
func classify(e *robotError, permanentCodes []int, waits map[int]time.Duration) error {
	for _, c := range permanentCodes {
		if e.code == c {
			return permanent(e)
		}
	}
	if d, ok := waits[e.code]; ok {
		return &retryAfterError{err: e, after: d}
	}
	return e
}

// errNoCode is an answer without the robot's status code: not the robot,
// or a proxy in between. The alert is not known to be delivered.
var errNoCode = errors.New("the answer carries no status code")

// rateLimit is at most n requests in any span of per.
type rateLimit struct {
	n   int
	per time.Duration
}

// pacer spaces one robot's requests to stay within its rate limits: going
// over them makes a robot refuse messages for a while (DingTalk: ten
// minutes). Only the channel's worker uses it.
type pacer struct {
	limits []rateLimit
	sent   []time.Time // the latest requests, oldest first
	keep   int         // the largest n of limits
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
}

func newPacer(limits []rateLimit, now func() time.Time) *pacer {
	p := &pacer{limits: limits, now: now, sleep: sleepCtx}
	for _, l := range limits {
		p.keep = max(p.keep, l.n)
	}
	return p
}

// wait returns when one more request stays within the limits, and counts
// it; or ctx's error.
func (p *pacer) wait(ctx context.Context) error {
	for {
		now := p.now()
		var until time.Time
		for _, l := range p.limits {
			if len(p.sent) >= l.n {
				if t := p.sent[len(p.sent)-l.n].Add(l.per); t.After(until) {
					until = t
				}
			}
		}
		if !until.After(now) {
			if len(p.sent) == p.keep && p.keep > 0 {
				p.sent = append(p.sent[:0], p.sent[1:]...)
			}
			if p.keep > 0 {
				p.sent = append(p.sent, now)
			}
			return nil
		}
		if err := p.sleep(ctx, until.Sub(now)); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
