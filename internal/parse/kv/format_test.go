package kv_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
	"github.com/vigil-soc/vigil/internal/parse/kv"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		{`user=alice src=10.0.0.1 action="logon failed" port=443`, true},
		{`a=1 b=2`, true},
		{"  a=1\tb=\"x y\"", true},
		{`a="x \" y" b=`, true},
		{`_a=1 b.c-d=2`, true},
		{`a=1`, false},
		{`a=1 b`, false},
		{`a=1 b c=2`, false},
		{`a=1 ="x"`, false},
		{`1a=1 b=2`, false},
		{`a="x b=2`, false},
		{`a="x"y b=2`, false},
		{`The value x=1 is wrong`, false},
		{`x = 1 y = 2`, false},
		{strings.Repeat("k", 65) + `=1 b=2`, false},
		{strings.Repeat("k", 64) + `=1 b=2`, true},
		{``, false},
	}
	k := kv.Text()
	for _, tt := range tests {
		if got := k.Detect([]byte(tt.msg), nil); got != tt.want {
			t.Errorf("Detect(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}

// TestRepeatedKeys checks that every pair is kept, in order.
func TestRepeatedKeys(t *testing.T) {
	ev := format.Event{}
	if err := kv.Text().Parse([]byte(`user=carol user=dave`), &format.Source{}, &ev); err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, f := range ev.Fields {
		if f.Name == "user" {
			users = append(users, f.Value)
		}
	}
	if strings.Join(users, ",") != "carol,dave" || ev.Get(format.FieldUserName) != "carol" {
		t.Fatalf("user fields %v, user.name %q", users, ev.Get(format.FieldUserName))
	}
}

func TestMaxPairs(t *testing.T) {
	var b strings.Builder
	for i := range kv.MaxPairs + 10 {
		b.WriteString("k" + strconv.Itoa(i) + "=v ")
	}
	ev := format.Event{}
	if err := kv.Text().Parse([]byte(b.String()), &format.Source{}, &ev); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range ev.Fields {
		if strings.HasPrefix(f.Name, "k") {
			n++
		}
	}
	if n != kv.MaxPairs {
		t.Fatalf("%d pairs kept, want %d", n, kv.MaxPairs)
	}
}

// TestSamplesNotClaimed reads the real third-party samples of the other
// formats (IIS, Exchange, Windows) when they are present: none may be taken
// for key=value.
func TestSamplesNotClaimed(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(formattest.Samples(t), "*", "*"))
	if len(files) == 0 {
		t.Fatal("no sample files")
	}
	k := kv.Text()
	n := 0
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 1<<16), 4<<20)
		for sc.Scan() {
			n++
			if k.Detect(sc.Bytes(), nil) {
				t.Errorf("%s: kv detects %.80q", name, sc.Text())
			}
		}
		f.Close()
	}
	if n == 0 {
		t.Skip("no sample lines")
	}
	t.Logf("%d sample lines checked", n)
}

func FuzzKV(f *testing.F) {
	data, err := os.ReadFile("testdata/kv.txt")
	if err != nil {
		f.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "=== ") && i+1 < len(lines) {
			msg := lines[i+1]
			if j := strings.Index(msg, ": "); j >= 0 {
				msg = msg[j+2:]
			}
			f.Add([]byte(msg))
		}
	}
	f.Add([]byte(`a="\\" b="\" c=\ d=\\"`))
	k := kv.Text()
	users := &format.Users{Domains: map[string]string{"CORP": "corp.example"}}
	f.Fuzz(func(t *testing.T, msg []byte) {
		src := &format.Source{Users: users, Location: time.UTC}
		detected := k.Detect(msg, src)
		ev := format.Event{}
		if err := k.Parse(msg, src, &ev); err != nil {
			t.Fatalf("Parse(%q): %v", msg, err)
		}
		if detected && ev.Get(format.FieldDataset) != "kv" {
			t.Fatalf("no event.dataset for %q", msg)
		}
		valid := utf8.Valid(msg)
		for _, fl := range ev.Fields {
			if fl.Name == "" || fl.Value == "" {
				t.Fatalf("empty field %q=%q from %q", fl.Name, fl.Value, msg)
			}
			if fl.Name[0] == '_' || strings.HasPrefix(fl.Name, "vigil.") {
				t.Fatalf("field %q from %q clashes with the parser's", fl.Name, msg)
			}
			if valid && !utf8.ValidString(fl.Value) {
				t.Fatalf("invalid UTF-8 in %q=%q from %q", fl.Name, fl.Value, msg)
			}
		}
	})
}

// BenchmarkKV measures Detect and Parse alone, copying into an arena like
// package parse does.
func BenchmarkKV(b *testing.B) {
	msg := []byte(`ts=2026-11-27T23:39:15Z app=owa-gateway user="CORP\\ZhangWei" src_ip=203.0.113.7 sport=51515 dst_ip=10.0.1.11 dport=443 action=login result=success reason="bad password"`)
	src := &format.Source{Location: time.UTC, Users: &format.Users{Domains: map[string]string{"CORP": "corp.example"}}}
	formattest.Bench(b, kv.Text(), src, msg)
}
