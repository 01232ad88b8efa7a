package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pipe runs producer | consumer and fails the test when either fails.
func pipe(t *testing.T, producer, consumer *exec.Cmd) {
	t.Helper()
	out, err := producer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	consumer.Stdin = out
	var perr, cerr bytes.Buffer
	producer.Stderr, consumer.Stderr = &perr, &cerr
	if err := producer.Start(); err != nil {
		t.Fatal(err)
	}
	if err := consumer.Start(); err != nil {
		t.Fatal(err)
	}
	if err := producer.Wait(); err != nil {
		t.Fatalf("%s: %v: %s", producer.Path, err, perr.String())
	}
	if err := consumer.Wait(); err != nil {
		t.Fatalf("%s: %v: %s", consumer.Path, err, cerr.String())
	}
}

// iconvTo converts text from UTF-8 with the real iconv, as a check on
// what the tests send.
func iconvTo(t *testing.T, to, text string) []byte {
	t.Helper()
	cmd := exec.Command(requireProgram(t, "iconv"), "-f", "UTF-8", "-t", to)
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("iconv -t %s: %v", to, err)
	}
	return out
}

// TestCharsetGBKSender: a Chinese Windows-style sender writes GBK
// (iconv -f UTF-8 -t GBK | logger over TCP, which passes the bytes
// unchanged) to an input with charset: gbk. The stored events are UTF-8 and
// searchable by their Chinese words; the journal keeps the GBK bytes
// (vigil journal cat); the console's event view shows the decoded text;
// a message with an invalid byte is stored with U+FFFD, its exact bytes
// and where the byte is, and counted.
func TestCharsetGBKSender(t *testing.T) {
	t.Parallel()
	logger := requireProgram(t, "logger")
	iconv := requireProgram(t, "iconv")
	port := freePort(t)
	cfgYAML := fmt.Sprintf("inputs:\n  syslog:\n    - name: win\n      addr: 127.0.0.1:%d\n      charset: gbk\n", port)
	dataDir := filepath.Join(t.TempDir(), "data")
	v := startVigil(t, vigilOpts{dataDir: dataDir, syslogPort: -1, config: cfgYAML})
	if ins, _ := v.status(t)["inputs"].([]any); len(ins) != 1 || ins[0].(map[string]any)["charset"] != "GBK" {
		t.Errorf("status inputs = %v, want the one input with charset GBK", ins)
	}

	tok := token("gbk")
	lines := []string{
		"用户 张三 登录失败 来源 10.1.2.3 " + tok,
		"帐户已锁定 李四 " + tok,
	}
	text := strings.Join(lines, "\n") + "\n"
	sender := func() *exec.Cmd {
		return exec.Command(logger, "-n", "127.0.0.1", "-P", fmt.Sprint(port), "--tcp", "--octet-count", "--rfc5424", "-t", "winlog")
	}
	pipe(t, exec.Command(iconv, "-f", "UTF-8", "-t", "GBK", "--", writeTemp(t, text)), sender())
	// An invalid byte: a GBK lead byte (0xd5) followed by a space.
	head := iconvTo(t, "GBK", "坏字节 ")
	bad := append(append(head, 0xd5), iconvTo(t, "GBK", " 之后 "+tok)...)
	cmd := sender()
	cmd.Stdin = bytes.NewReader(append(bytes.Clone(bad), '\n'))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger: %v: %s", err, out)
	}

	evs := v.waitEvents(t, tok, 3)
	byMsg := map[string]event{}
	for _, e := range evs {
		byMsg[e["_msg"]] = e
	}
	for _, l := range lines {
		e, ok := byMsg[l]
		if !ok {
			t.Fatalf("no event with _msg %q; got %v", l, evs)
		}
		checkFields(t, e, map[string]string{"vigil.input": "win", "log.syslog.appname": "winlog", "log.syslog.format": "rfc5424"})
		if e["vigil.parse_error"] != "" || e["vigil.raw_base64"] != "" {
			t.Errorf("%q: parse error %q, raw_base64 %q", l, e["vigil.parse_error"], e["vigil.raw_base64"])
		}
	}
	// Searchable by its Chinese words, as text and as a field value.
	onlyOne(t, "张三", v.waitEvents(t, "张三 "+tok, 1))
	onlyOne(t, `_msg:"帐户已锁定"`, v.waitEvents(t, `_msg:"帐户已锁定" `+tok, 1))

	// The invalid byte: U+FFFD in the text, the exact bytes kept, its
	// place said, counted.
	badEv, ok := byMsg["坏字节 \uFFFD 之后 "+tok]
	if !ok {
		t.Fatalf("no event for the message with an invalid byte; got %v", evs)
	}
	raw, err := base64.StdEncoding.DecodeString(badEv["vigil.raw_base64"])
	if err != nil || !bytes.HasSuffix(raw, bad) {
		t.Errorf("vigil.raw_base64 = %q (%v), want the record ending in %q", raw, err, bad)
	}
	if pe := badEv["vigil.parse_error"]; !strings.Contains(pe, fmt.Sprintf("invalid GBK at byte %d;", len(raw)-len(bad)+len(head))) {
		t.Errorf("vigil.parse_error = %q, want the invalid byte's place", pe)
	}
	v.waitMetric(t, `vigil_index_charset_errors_total{input="win"}`, 1)
	if got := v.metrics(t)[`vigil_index_charset_errors_total{input="win"}`]; got != 1 {
		t.Errorf(`vigil_index_charset_errors_total{input="win"} = %v, want 1`, got)
	}

	// The console's event view: the record's bytes, and their text.
	var hits struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	code, body, err := v.get("/api/v1/search/hits?start=1h&q="+url.QueryEscape("李四 "+tok), true)
	if err != nil || code != 200 || json.Unmarshal(body, &hits) != nil || len(hits.Events) != 1 {
		t.Fatalf("search/hits: %d %v %s", code, err, body)
	}
	var detail struct {
		Raw        map[string]string `json:"raw"`
		RawText    string            `json:"raw_text"`
		RawCharset string            `json:"raw_charset"`
	}
	code, body, err = v.get("/api/v1/events/"+hits.Events[0].ID, true)
	if err != nil || code != 200 || json.Unmarshal(body, &detail) != nil {
		t.Fatalf("events/%s: %d %v %s", hits.Events[0].ID, code, err, body)
	}
	sent, _ := base64.StdEncoding.DecodeString(detail.Raw["data_base64"])
	if detail.RawCharset != "GBK" || !strings.HasSuffix(detail.RawText, " "+lines[1]) ||
		!bytes.HasSuffix(sent, iconvTo(t, "GBK", lines[1])) {
		t.Errorf("event detail: charset %q, text %q, bytes %q", detail.RawCharset, detail.RawText, sent)
	}

	// The journal holds what logger sent, byte for byte.
	if code := v.stop(t); code != 0 {
		t.Fatalf("vigil exited %d", code)
	}
	out, stderr, code := runVigil(t, "journal", "cat", "--data", dataDir)
	if code != 0 {
		t.Fatalf("vigil journal cat: exit %d: %s", code, stderr)
	}
	for _, l := range lines {
		if !strings.Contains(out, string(iconvTo(t, "GBK", l))) {
			t.Errorf("vigil journal cat lacks the GBK bytes of %q:\n%q", l, out)
		}
	}
	if !strings.Contains(out, string(bad)+"\n") {
		t.Errorf("vigil journal cat lacks the bytes with the invalid one")
	}
	cfgFile := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = runVigil(t, "journal", "cat", "--data", dataDir, "--config", cfgFile, "--text")
	if code != 0 || !strings.Contains(out, " "+lines[0]+"\n") || !strings.Contains(out, "坏字节 \uFFFD 之后") {
		t.Errorf("vigil journal cat --text: exit %d: %s\n%s", code, stderr, out)
	}
}

// TestCharsetKafkaGB18030: records written in GB18030 (iconv | kcat),
// four-byte sequences included, are read by a Kafka input with charset:
// gb18030 and stored as UTF-8; an invalid sequence is kept and counted.
func TestCharsetKafkaGB18030(t *testing.T) {
	t.Parallel()
	kcat := requireProgram(t, "kcat")
	iconv := requireProgram(t, "iconv")
	broker := startKfake(t, "winlogs")
	cfg := fmt.Sprintf("inputs:\n  kafka:\n    - {name: cn, brokers: [%s], topics: [winlogs], charset: gb18030}\n", broker)
	v := startVigil(t, vigilOpts{config: cfg})
	if ins, _ := v.status(t)["kafka"].([]any); len(ins) != 1 || ins[0].(map[string]any)["charset"] != "GB18030" || ins[0].(map[string]any)["name"] != "cn" {
		t.Errorf("status kafka = %v, want the input cn with charset GB18030", ins)
	}

	tok := token("gb")
	lines := []string{
		"用户 𠀀𡘙 付款 €12 " + tok, // 𠀀 and 𡘙 are four bytes in GB18030
		"帐户 王五 登录成功 " + tok,
	}
	pipe(t, exec.Command(iconv, "-f", "UTF-8", "-t", "GB18030", "--", writeTemp(t, strings.Join(lines, "\n")+"\n")),
		exec.Command(kcat, "-P", "-b", broker, "-t", "winlogs"))
	// A four-byte sequence cut short, then more text.
	bad := append(iconvTo(t, "GB18030", "截断 "), "\x95\x32\x82 "+tok...)
	prod := exec.Command(kcat, "-P", "-b", broker, "-t", "winlogs")
	prod.Stdin = bytes.NewReader(append(bytes.Clone(bad), '\n'))
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v: %s", err, out)
	}

	evs := v.waitEvents(t, "vigil.input:cn "+tok, 3)
	got := map[string]event{}
	for _, e := range evs {
		got[e["_msg"]] = e
	}
	for _, l := range lines {
		if e, ok := got[l]; !ok || e["vigil.parse_error"] != "" {
			t.Errorf("no clean event with _msg %q; got %v", l, evs)
		}
	}
	onlyOne(t, "王五", v.waitEvents(t, "王五 "+tok, 1))
	e, ok := got["截断 \uFFFD2\uFFFD "+tok]
	if !ok {
		t.Fatalf("no event for the record with an invalid sequence; got %v", evs)
	}
	raw, err := base64.StdEncoding.DecodeString(e["vigil.raw_base64"])
	if err != nil || !bytes.Equal(raw, bad) || !strings.Contains(e["vigil.parse_error"], "invalid GB18030 at byte 5;") {
		t.Errorf("invalid record: raw %q (%v), parse error %q", raw, err, e["vigil.parse_error"])
	}
	v.waitMetric(t, `vigil_index_charset_errors_total{input="cn"}`, 1)
}

// TestCharsetConfigCheck: a misspelt charset is refused at load, by
// vigil config check, with the key's path.
func TestCharsetConfigCheck(t *testing.T) {
	t.Parallel()
	file := writeTemp(t, "inputs:\n  kafka:\n    - {brokers: ['127.0.0.1:9092'], topics: [t], charset: gbk2312}\n")
	out, stderr, code := runVigil(t, "config", "check", "--config", file)
	if code == 0 || !strings.Contains(out+stderr, `inputs.kafka[0].charset: unknown charset "gbk2312" (known: utf-8, gbk, gb18030, big5)`) {
		t.Errorf("config check: exit %d: %s%s", code, out, stderr)
	}
}

// writeTemp writes text to a new file and returns its path.
func writeTemp(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "text")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
