package charset

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/transform"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		want Charset
		err  bool
	}{
		{"", UTF8, false},
		{"utf-8", UTF8, false},
		{"UTF8", UTF8, false},
		{"gbk", GBK, false},
		{"GBK", GBK, false},
		{"gb18030", GB18030, false},
		{"GB18030", GB18030, false},
		{"big5", Big5, false},
		{"Big5", Big5, false},
		{"latin1", UTF8, true},
		{"gb2312", UTF8, true},
	}
	for _, tt := range tests {
		got, err := Lookup(tt.name)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("Lookup(%q) = %v, %v; want %v, error %v", tt.name, got, err, tt.want, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), "gb18030") {
			t.Errorf("Lookup(%q): the error %q does not list the known names", tt.name, err)
		}
	}
	for _, c := range []Charset{UTF8, GBK, GB18030, Big5} {
		if back, err := Lookup(c.String()); err != nil || back != c {
			t.Errorf("Lookup(%v.String()) = %v, %v", c, back, err)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		c    Charset
		src  string
		want string
		bad  int
	}{
		{"utf-8", UTF8, "登录失败 user=张三", "登录失败 user=张三", -1},
		{"utf-8 invalid", UTF8, "caf\xe9 ok", "caf\uFFFD ok", 3},
		{"utf-8 run of invalid bytes", UTF8, "a\xff\xfeb", "a\uFFFDb", 1},
		{"utf-8 encoded U+FFFD is valid", UTF8, "x\uFFFDy", "x\uFFFDy", -1},
		{"ascii is ascii in gbk", GBK, "<14>Nov 27 host app: ok [a] \\ @", "<14>Nov 27 host app: ok [a] \\ @", -1},
		{"gbk", GBK, "\xb5\xc7\xc2\xbc\xca\xa7\xb0\xdc user=\xd5\xc5\xc8\xfd", "登录失败 user=张三", -1},
		{"gbk trail byte in the ascii range", GBK, "\x81\x40]", "丂]", -1},
		{"gbk euro at 0x80", GBK, "\x80", "€", -1},
		{"gbk lead byte without its trail at the end", GBK, "\xb5\xc7\xb5", "登\uFFFD", 2},
		{"gbk lead byte before a space", GBK, "ok \xb5 \xb5\xc7", "ok \uFFFD 登", 3},
		{"gbk 0xff", GBK, "a\xffb", "a\uFFFDb", 1},
		{"gbk does not read gb18030 four-byte sequences", GBK, "\x95\x32\x82\x36", "\uFFFD2\uFFFD6", 0},
		{"gb18030 two-byte", GB18030, "\xb5\xc7\xc2\xbc", "登录", -1},
		{"gb18030 four-byte, outside the BMP", GB18030, "\x95\x32\x82\x36 x", "𠀀 x", -1},
		{"gb18030 four-byte, inside the BMP", GB18030, "\x81\x30\x81\x30", "\u0080", -1},
		{"gb18030 euro", GB18030, "\xa2\xe3", "€", -1},
		{"gb18030 U+FFFD itself is valid", GB18030, "a\x84\x31\xa4\x37b", "a\uFFFDb", -1},
		{"gb18030 U+FFFD, then an invalid byte", GB18030, "\x84\x31\xa4\x37\xff", "\uFFFD\uFFFD", 4},
		{"gb18030 four-byte sequence cut short", GB18030, "\xb5\xc7\x95\x32\x82", "登\uFFFD2\uFFFD", 2},
		{"gb18030 four-byte with a bad third byte", GB18030, "\x95\x32\x20\x36", "\uFFFD2 6", 0},
		{"big5", Big5, "\xb5\x6e\xbf\xfd\xa5\xa2\xb1\xd1", "登錄失敗", -1},
		{"big5 two runes for one code", Big5, "\x88\x62", "\u00CA\u0304", -1},
		{"big5 lead byte before a space", Big5, "\xb5\x6e\xb5 x", "登\uFFFD x", 2},
		{"big5 bad trail byte", Big5, "\xa4\x7f", "\uFFFD", 0},
		{"big5 0x80", Big5, "x\x80", "x\uFFFD", 1},
		{"empty", GBK, "", "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("keep:")
			out, bad := tt.c.Decode(prefix, []byte(tt.src))
			if got := string(out); got != "keep:"+tt.want || bad != tt.bad {
				t.Errorf("Decode(%q) = %q, %d; want %q, %d", tt.src, got, bad, "keep:"+tt.want, tt.bad)
			}
			if got := tt.c.Text([]byte(tt.src)); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestDecodeGrows(t *testing.T) {
	// Every 0x80 becomes three bytes, twice the first guess.
	src := bytes.Repeat([]byte{0x80}, 1000)
	out, bad := GBK.Decode(make([]byte, 0, 4), src)
	if bad != -1 || string(out) != strings.Repeat("€", 1000) {
		t.Fatalf("Decode of 1000 euro signs: %d bytes, bad %d", len(out), bad)
	}
	src = bytes.Repeat([]byte{0xff}, 1000)
	out, bad = GBK.Decode(nil, src)
	if bad != 0 || string(out) != strings.Repeat("\uFFFD", 1000) {
		t.Fatalf("Decode of 1000 invalid bytes: %d bytes, bad %d", len(out), bad)
	}
}

func TestInvalid(t *testing.T) {
	src := []byte("ok \x95\x32\x82\x36")
	if s := GBK.Invalid(src, 3); !strings.Contains(s, "invalid GBK at byte 3") || !strings.Contains(s, "gb18030") ||
		!strings.Contains(s, "vigil.raw_base64") {
		t.Errorf("GBK.Invalid = %q", s)
	}
	if s := Big5.Invalid([]byte("\xff"), 0); !strings.HasPrefix(s, "invalid Big5 at byte 0;") || strings.Contains(s, "gb18030") {
		t.Errorf("Big5.Invalid = %q", s)
	}
}

func TestInputs(t *testing.T) {
	m := Inputs{"win": GBK}
	if m.Of("win") != GBK || m.Of("syslog") != UTF8 || Inputs(nil).Of("x") != UTF8 {
		t.Fatal("Inputs.Of")
	}
	if got := m.Text("win", []byte("\xd5\xc5\xc8\xfd")); got != "张三" {
		t.Fatalf("Inputs.Text = %q", got)
	}
}

// FuzzDecode checks the decoding path on any bytes in every charset: the
// text is valid UTF-8 and what golang.org/x/text decodes; bad is the
// first invalid sequence: everything before it decodes without one, and
// the text goes on with U+FFFD there.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "ascii", "\xb5\xc7\xc2\xbc", "\x95\x32\x82\x36", "\x84\x31\xa4\x37\xff",
		"\xb5\x6e\xbf\xfd", "\x88\x62", "\xb5", "caf\xe9", "\x81\x30\x81"} {
		for c := range len(names) {
			f.Add([]byte(s), uint8(c))
		}
	}
	f.Fuzz(func(t *testing.T, src []byte, c uint8) {
		cs := Charset(c % uint8(len(names)))
		out, bad := cs.Decode(nil, src)
		if !utf8.Valid(out) {
			t.Fatalf("%v: invalid UTF-8 out of %q: %q", cs, src, out)
		}
		if tr := cs.decoder(); tr != nil {
			want, _, err := transform.Bytes(tr, src)
			if err != nil || !bytes.Equal(out, want) {
				t.Fatalf("%v: Decode(%q) = %q, x/text gives %q (%v)", cs, src, out, want, err)
			}
		}
		fffd := bytes.Contains(out, []byte(replacement))
		switch {
		case bad < 0 && fffd && cs != GB18030 && !bytes.Contains(src, []byte(replacement)):
			t.Fatalf("%v: %q decodes with U+FFFD (%q) but no invalid byte was found", cs, src, out)
		case bad < 0 && cs == GB18030 && bytes.Count(out, []byte(replacement)) > bytes.Count(src, []byte(gb18030FFFD)):
			t.Fatalf("%v: %q decodes with more U+FFFD than it encodes (%q) but no invalid byte was found", cs, src, out)
		case bad >= len(src) || bad < -1:
			t.Fatalf("%v: bad %d out of range for %q", cs, bad, src)
		case bad >= 0:
			head, hb := cs.Decode(nil, src[:bad])
			if hb >= 0 || !bytes.HasPrefix(out, head) || !bytes.HasPrefix(out[len(head):], []byte(replacement)) {
				t.Fatalf("%v: bad %d in %q: the head %q (bad %d) is not where the text %q has its first U+FFFD", cs, bad, src, head, hb, out)
			}
		}
	})
}

var benchGBK = bytes.Repeat([]byte("\xd3\xc3\xbb\xa7 \xd5\xc5\xc8\xfd \xb5\xc7\xc2\xbc\xca\xa7\xb0\xdc, IP 10.1.2.3, "), 6)

// BenchmarkDecodeGBK decodes 198 bytes of mixed GBK and ASCII, a
// Windows log message's length.
func BenchmarkDecodeGBK(b *testing.B) { benchDecode(b, benchGBK) }

// BenchmarkDecodeGBKInvalid decodes the same with an invalid byte at its
// end: the cost of finding where it is.
func BenchmarkDecodeGBKInvalid(b *testing.B) {
	benchDecode(b, append(bytes.Clone(benchGBK[:len(benchGBK)-1]), 0xff))
}

func benchDecode(b *testing.B, src []byte) {
	var out []byte
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		out, _ = GBK.Decode(out[:0], src)
	}
}
