package chart

import (
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// wellFormed parses s as XML and returns the character data of each
// element by name.
func wellFormed(t *testing.T, s string) map[string][]string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	texts := map[string][]string{}
	var stack []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && strings.TrimSpace(string(tok)) != "" {
				texts[stack[len(stack)-1]] = append(texts[stack[len(stack)-1]], string(tok))
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
	return texts
}

func TestTimeTicks(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	ny, _ := time.LoadLocation("America/New_York")
	for _, tc := range []struct {
		name       string
		start, end time.Time
		loc        *time.Location
		max        int
		want       []string
	}{
		{"day in Shanghai", time.Date(2026, 11, 30, 13, 20, 0, 0, time.UTC), time.Date(2026, 12, 1, 13, 20, 0, 0, time.UTC), sh, 9,
			[]string{"00:00", "03:00", "06:00", "09:00", "12-01", "03:00", "06:00", "09:00"}[0:0]},
		{"hour", time.Date(2026, 12, 1, 10, 7, 0, 0, time.UTC), time.Date(2026, 12, 1, 11, 7, 0, 0, time.UTC), time.UTC, 6,
			[]string{"10:15", "10:30", "10:45", "11:00"}},
		{"week", time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC), sh, 8,
			[]string{"11-25", "11-26", "11-27", "11-28", "11-29", "11-30", "12-01"}},
		// The day DST ends in New York has 25 hours; ticks stay on the hour.
		{"dst", time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 5, 0, 0, 0, time.UTC), ny, 6,
			[]string{"11-01", "06:00", "12:00", "18:00", "11-02"}},
	} {
		ticks := TimeTicks(tc.start, tc.end, tc.loc, tc.max)
		var got []string
		for _, tk := range ticks {
			got = append(got, tk.Label)
			if tk.T.Before(tc.start) || tk.T.After(tc.end) {
				t.Errorf("%s: tick %s outside the range", tc.name, tk.T)
			}
		}
		if len(ticks) > tc.max {
			t.Errorf("%s: %d ticks, want at most %d", tc.name, len(ticks), tc.max)
		}
		if tc.want != nil && !slices.Equal(got, tc.want) && len(tc.want) > 0 {
			t.Errorf("%s: ticks %q, want %q", tc.name, got, tc.want)
		}
		if tc.name == "day in Shanghai" {
			// 21:20 to 21:20 local: every 3 hours from 00:00, the midnight labelled with its date.
			want := []string{"12-01", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"}
			if !slices.Equal(got, want) {
				t.Errorf("%s: ticks %q, want %q", tc.name, got, want)
			}
			for _, tk := range ticks {
				if tk.T.In(sh).Minute() != 0 || tk.T.In(sh).Hour()%3 != 0 {
					t.Errorf("tick %s is not on a local 3-hour mark", tk.T.In(sh))
				}
			}
		}
	}
}

func TestValueTicks(t *testing.T) {
	for _, tc := range []struct {
		max  float64
		want []float64
	}{
		{0, []float64{0, 1}},
		{3, []float64{0, 1, 2, 3}},
		{97, []float64{0, 50, 100}},
		{1234, []float64{0, 500, 1000, 1500}},
		{1.5, []float64{0, 1, 2}},
		{0.3, []float64{0, 0.1, 0.2, 0.30000000000000004}},
	} {
		if got := ValueTicks(tc.max, 4); !slices.Equal(got, tc.want) {
			t.Errorf("ValueTicks(%v) = %v, want %v", tc.max, got, tc.want)
		}
	}
	for v, want := range map[float64]string{0: "0", 950: "950", 1200: "1.2k", 34000: "34k", 5.6e6: "5.6M", 2e6: "2M", 0.25: "0.25"} {
		if got := FormatCount(v); got != want {
			t.Errorf("FormatCount(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestTimeSeriesSVG(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	for i := range 24 {
		times = append(times, start.Add(time.Duration(i)*time.Hour))
	}
	vals := func(v float64) []float64 {
		out := make([]float64, 24)
		for i := range out {
			out[i] = v * float64(i%5)
		}
		return out
	}
	for _, stacked := range []bool{true, false} {
		c := &TimeSeries{ID: "logins", Title: "Logins <by> protocol", Times: times, Step: time.Hour, Stacked: stacked,
			Series: []Series{{Name: "owa", Values: vals(10)}, {Name: "active&sync", Values: vals(3)}}}
		s := string(c.SVG())
		texts := wellFormed(t, s)
		if texts["title"][0] != "Logins <by> protocol" {
			t.Errorf("title %q", texts["title"])
		}
		if !slices.Contains(texts["text"], "owa") || !slices.Contains(texts["text"], "active&sync") {
			t.Errorf("legend names missing: %q", texts["text"])
		}
		if !slices.Contains(texts["text"], "06:00") || !slices.Contains(texts["text"], "40") {
			t.Errorf("axis labels missing: %q", texts["text"])
		}
		if !strings.Contains(s, `role="img"`) || !strings.Contains(texts["desc"][0], "owa 460") {
			t.Errorf("not described: %q", texts["desc"])
		}
		if stacked && !slices.Contains(texts["title"], "owa 12-01 04:00: 40") {
			t.Errorf("bars have no value tooltips: %q", texts["title"][:4])
		}
	}
	c := &TimeSeries{ID: "e", Title: "t", Times: times, Step: time.Hour, Empty: "No logins in the last 24h"}
	if texts := wellFormed(t, string(c.SVG())); !slices.Contains(texts["text"], "No logins in the last 24h") {
		t.Errorf("empty chart: %q", texts)
	}
}

func TestBarsSVG(t *testing.T) {
	c := &Bars{ID: "top", Title: "Top failing accounts", Bars: []BarItem{
		{Label: "zhangwei", Value: 42, Href: "/entity/user/zhangwei", Note: "3 sources"},
		{Label: "lili", Value: 12, Href: "javascript:alert(1)"},
		{Label: "a-very-long-user-name-that-does-not-fit@corp.example", Value: 1},
	}}
	s := string(c.SVG())
	texts := wellFormed(t, s)
	if !strings.Contains(s, `<a href="/entity/user/zhangwei">`) {
		t.Error("no link for zhangwei")
	}
	if strings.Contains(s, "javascript") {
		t.Error("a javascript: link was kept")
	}
	if !slices.Contains(texts["text"], "42 · 3 sources") || !slices.Contains(texts["text"], "zhangwei") {
		t.Errorf("labels %q", texts["text"])
	}
	if !slices.Contains(texts["title"], "a-very-long-user-name-that-does-not-fit@corp.example") {
		t.Error("a cut label has no full-text tooltip")
	}
	e := &Bars{ID: "none", Title: "t", Empty: "No failed logons"}
	if texts := wellFormed(t, string(e.SVG())); !slices.Contains(texts["text"], "No failed logons") {
		t.Errorf("empty: %q", texts)
	}
}
