package parse

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/store"
)

// encode returns s in enc (nil: UTF-8), failing the test on a character
// enc does not have.
func encode(t testing.TB, enc encoding.Encoding, s string) string {
	t.Helper()
	if enc == nil {
		return s
	}
	b, err := enc.NewEncoder().String(s)
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

// TestCharsets: records of inputs with a charset are read as their UTF-8
// decoding, syslog header included; invalid bytes become U+FFFD, are
// reported with their place, and the exact bytes stay in vigil.raw_base64.
func TestCharsets(t *testing.T) {
	p := New(Options{Location: time.UTC, Charsets: charset.Inputs{
		"gbk": charset.GBK, "gb18030": charset.GB18030, "big5": charset.Big5,
	}})
	gbk, gb18030, big5 := simplifiedchinese.GBK, simplifiedchinese.GB18030, traditionalchinese.Big5
	tests := []struct {
		name  string
		input string
		data  string
		want  map[string]string // "" means the field must be absent
		bad   string            // what vigil.parse_error says, "" for none
	}{
		{
			name:  "gbk rfc5424, host and app name in GBK",
			input: "gbk",
			data:  encode(t, gbk, "<134>1 2026-11-27T23:39:14Z 主机01 安全审计 311 - - 用户 张三 登录失败"),
			want: map[string]string{"_msg": "用户 张三 登录失败", "host.hostname": "主机01", "log.syslog.appname": "安全审计",
				"log.syslog.procid": "311", "vigil.raw_base64": "", "vigil.input": "gbk"},
		},
		{
			// RFC 3164 tags are ASCII: a Chinese one stays in the text, as
			// from a UTF-8 sender.
			name:  "gbk rfc3164, a tag in GBK",
			input: "gbk",
			data:  encode(t, gbk, "<134>Nov 27 23:39:14 host01 安全审计[311]: 用户 张三 登录失败"),
			want:  map[string]string{"_msg": "安全审计[311]: 用户 张三 登录失败", "host.hostname": "host01", "log.syslog.appname": ""},
		},
		{
			name:  "gbk rfc5424, a structured-data value whose second bytes are ] and \\",
			input: "gbk",
			data:  encode(t, gbk, `<134>1 2026-11-27T23:39:14Z host app - - [a@1 x="窦篭"] 消息`),
			want:  map[string]string{"_msg": "消息", "log.syslog.sd.a@1.x": "窦篭"},
		},
		{
			name:  "gbk json payload",
			input: "gbk",
			data:  encode(t, gbk, `<134>Nov 27 23:39:14 host app: {"user":"张三","msg":"登录失败","ip":"10.1.2.3"}`),
			want:  map[string]string{"_msg": "登录失败", "user": "张三", "ip": "10.1.2.3"},
		},
		{
			name:  "gb18030, two- and four-byte characters",
			input: "gb18030",
			data:  encode(t, gb18030, "<134>Nov 27 23:39:14 host app: 用户 𠀀𡘙 付款 €12"),
			want:  map[string]string{"_msg": "用户 𠀀𡘙 付款 €12"},
		},
		{
			name:  "big5, a character whose second byte is \\",
			input: "big5",
			data:  encode(t, big5, `<134>1 2026-11-27T23:39:14Z host app - - [a@1 f="功能"] 登錄失敗`),
			want:  map[string]string{"_msg": "登錄失敗", "log.syslog.sd.a@1.f": "功能"},
		},
		{
			name:  "utf-8 input next to inputs with charsets",
			input: "syslog",
			data:  "<134>Nov 27 23:39:14 host app: 用户 张三 登录失败",
			want:  map[string]string{"_msg": "用户 张三 登录失败", "vigil.raw_base64": ""},
		},
		{
			name:  "gbk, a lead byte without its trail",
			input: "gbk",
			data:  encode(t, gbk, "<134>Nov 27 23:39:14 host app: 用户") + "\xd5 " + encode(t, gbk, "登录失败"),
			want:  map[string]string{"_msg": "用户\uFFFD 登录失败"},
			bad:   "invalid GBK at byte 35;",
		},
		{
			name:  "gbk, a GB18030 four-byte sequence",
			input: "gbk",
			data:  encode(t, gb18030, "<134>Nov 27 23:39:14 host app: 𠀀"),
			want:  map[string]string{"_msg": "\uFFFD2\uFFFD6"},
			bad:   "invalid GBK at byte 31; text shows U+FFFD, vigil.raw_base64 holds the exact bytes (a GB18030 four-byte sequence: the input may need charset gb18030)",
		},
		{
			name:  "gb18030, a four-byte sequence cut short",
			input: "gb18030",
			data:  encode(t, gb18030, "<134>Nov 27 23:39:14 host app: 付款") + "\x95\x32\x82",
			want:  map[string]string{"_msg": "付款\uFFFD2\uFFFD"},
			bad:   "invalid GB18030 at byte 35;",
		},
		{
			name:  "gb18030, invalid bytes in the json payload",
			input: "gb18030",
			data:  encode(t, gb18030, `<134>Nov 27 23:39:14 host app: {"user":"张`) + "\xff" + `","n":1}`,
			want:  map[string]string{"user": "张\uFFFD", "n": "1"},
			bad:   "invalid GB18030 at byte 42;",
		},
		{
			name:  "big5, a bad trail byte",
			input: "big5",
			data:  encode(t, big5, "<134>Nov 27 23:39:14 host app: 登錄") + "\xa4\x7f" + encode(t, big5, "失敗"),
			want:  map[string]string{"_msg": "登錄\uFFFD失敗"},
			bad:   "invalid Big5 at byte 35;",
		},
		{
			name:  "utf-8, an invalid byte",
			input: "syslog",
			data:  "<134>Nov 27 23:39:14 host app: caf\xe9",
			want:  map[string]string{"_msg": "caf\uFFFD"},
			bad:   "invalid UTF-8 at byte 34;",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var row store.Row
			p.Parse(&journal.Record{Seq: 7, Time: received, Input: tt.input, Data: []byte(tt.data)}, &row)
			for name, want := range tt.want {
				if got := row.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			perr := row.Get(FieldParseError)
			if tt.bad == "" {
				if perr != "" || p.InvalidText() {
					t.Errorf("parse error %q, InvalidText %v; want none", perr, p.InvalidText())
				}
				return
			}
			if !strings.Contains(perr, tt.bad) || !p.InvalidText() {
				t.Errorf("parse error %q, InvalidText %v; want it to say %q", perr, p.InvalidText(), tt.bad)
			}
			raw, err := base64.StdEncoding.DecodeString(row.Get(FieldRawBase64))
			if err != nil || string(raw) != tt.data {
				t.Errorf("vigil.raw_base64 holds %q (%v), want the exact bytes %q", raw, err, tt.data)
			}
		})
	}
}

// TestCharsetText: Text is the record as the parser read it, decoded for
// an input with a charset.
func TestCharsetText(t *testing.T) {
	p := New(Options{Charsets: charset.Inputs{"win": charset.GBK}})
	data := encode(t, simplifiedchinese.GBK, "<134>Nov 27 23:39:14 host app: 张三")
	var row store.Row
	p.Parse(&journal.Record{Time: received, Input: "win", Data: []byte(data)}, &row)
	if got := string(p.Text()); got != "<134>Nov 27 23:39:14 host app: 张三" {
		t.Errorf("Text() = %q", got)
	}
	p.Parse(&journal.Record{Time: received, Input: "syslog", Data: []byte(data)}, &row)
	if got := string(p.Text()); got != data || !p.InvalidText() {
		t.Errorf("Text() of a UTF-8 input = %q, InvalidText %v; want the record's bytes, invalid", got, p.InvalidText())
	}
}

// TestCharsetStringsSurviveReuse: the rows' strings do not refer to the
// decoding buffer the next record reuses.
func TestCharsetStringsSurviveReuse(t *testing.T) {
	p := New(Options{Charsets: charset.Inputs{"win": charset.GBK}})
	rec := func(s string) *journal.Record {
		return &journal.Record{Time: received, Input: "win", Data: []byte(encode(t, simplifiedchinese.GBK, s))}
	}
	var a, b store.Row
	p.Parse(rec(`<134>1 2026-11-27T23:39:14Z 主机 app - - - {"user":"张三","msg":"甲"}`), &a)
	p.Parse(rec(`<134>1 2026-11-27T23:39:14Z 乙乙 xyz - - - {"user":"李四","msg":"乙"}`), &b)
	if a.Get("user") != "张三" || a.Get("host.hostname") != "主机" || a.Get("_msg") != "甲" || b.Get("user") != "李四" {
		t.Fatalf("the first row changed with the second record: %+v", a.Fields)
	}
}

// BenchmarkParseTextGBK parses benchText in GBK from an input with
// charset gbk: the cost of decoding, against BenchmarkParseTextUTF8.
func BenchmarkParseTextGBK(b *testing.B) {
	p := New(Options{Location: time.UTC, Charsets: charset.Inputs{"win": charset.GBK}})
	benchParse(b, p, "win", []byte(encode(b, simplifiedchinese.GBK, benchText)))
}

// BenchmarkParseTextUTF8Charsets parses benchText from a UTF-8 input
// while another input has a charset: the UTF-8 path's cost of the lookup.
func BenchmarkParseTextUTF8Charsets(b *testing.B) {
	p := New(Options{Location: time.UTC, Charsets: charset.Inputs{"win": charset.GBK}})
	benchParse(b, p, "syslog", []byte(benchText))
}

// FuzzParseCharset parses any bytes from inputs of every charset: no
// panic, only valid UTF-8 in the row, and the exact bytes in
// vigil.raw_base64 whenever some were invalid.
func FuzzParseCharset(f *testing.F) {
	for _, s := range []string{
		"<134>1 2026-11-27T23:39:14Z \xd6\xf7\xbb\xfa app - - [a@1 x=\"\xb8\x5d\"] \xd3\xc3\xbb\xa7",
		"<134>Nov 27 23:39:14 host app: {\"user\":\"\xd5\xc5\xff\"}", "\x95\x32\x82\x36", "\xa5\x5c\xff", "",
	} {
		for in := range 4 {
			f.Add([]byte(s), uint8(in))
		}
	}
	inputs := []string{"syslog", "gbk", "gb18030", "big5"}
	p := New(Options{MaxFields: 50, Charsets: charset.Inputs{"gbk": charset.GBK, "gb18030": charset.GB18030, "big5": charset.Big5}})
	f.Fuzz(func(t *testing.T, data []byte, in uint8) {
		rec := journal.Record{Seq: 1, Time: received, Input: inputs[int(in)%len(inputs)], Data: data}
		var row store.Row
		p.Parse(&rec, &row)
		for _, f := range row.Fields {
			if !utf8Valid(f.Name) || !utf8Valid(f.Value) {
				t.Fatalf("invalid UTF-8 in field %q=%q", f.Name, f.Value)
			}
		}
		if p.InvalidText() {
			raw, err := base64.StdEncoding.DecodeString(row.Get(FieldRawBase64))
			if err != nil || string(raw) != string(data) || !strings.Contains(row.Get(FieldParseError), "at byte") {
				t.Fatalf("%s: %q has invalid bytes but raw_base64 %q, parse error %q", rec.Input, data, raw, row.Get(FieldParseError))
			}
		} else if row.Get(FieldRawBase64) != "" {
			t.Fatalf("%s: %q: raw_base64 without invalid bytes", rec.Input, data)
		}
		p.Reset(0)
	})
}
