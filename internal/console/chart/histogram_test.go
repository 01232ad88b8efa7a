package chart

import (
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestHistogramSVG(t *testing.T) {
	start := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	h := &Histogram{Step: 15 * time.Minute, Start: start, End: start.Add(3 * time.Hour),
		Loc:   time.FixedZone("CST", 8*3600),
		Href:  func(s, e time.Time) string { return fmt.Sprintf("/search?q=a&b&start=%d&end=%d", s.Unix(), e.Unix()) },
		Zoom:  "/search?q=x&start={start}&end={end}",
		Title: func(s, e time.Time, n uint64) string { return fmt.Sprintf("%s <%d>", s.Format("15:04"), n) },
		Label: `events "over" time`}
	for i := range 12 {
		h.Bars = append(h.Bars, Bar{Start: start.Add(time.Duration(i) * h.Step), Count: uint64(i * i * 100)})
	}
	svg := string(h.SVG())
	// Well-formed XML, one link per bar, escaped text, labels in the zone.
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("not XML: %v\n%s", err, svg)
	}
	for _, want := range []string{`<a href="/search?q=a&amp;b&amp;start=`, `&lt;12100&gt;`, `aria-label="events &#34;over&#34; time"`,
		`data-zoom="/search?q=x&amp;start={start}&amp;end={end}"`, `>03-02 07:00<`, `>20k<`} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %s:\n%s", want, svg)
		}
	}
	if n := strings.Count(svg, `class="bar"`); n != 11 {
		t.Errorf("%d bars drawn, want 11 (one is empty)", n)
	}
	empty := &Histogram{Step: time.Minute}
	if err := xml.Unmarshal([]byte(empty.SVG()), new(struct{})); err != nil {
		t.Errorf("empty histogram: %v", err)
	}
}

func TestNiceCeilCompact(t *testing.T) {
	for n, want := range map[uint64]uint64{0: 0, 1: 1, 3: 5, 10: 10, 11: 20, 120: 200, 999: 1000, 12100: 20000} {
		if got := niceCeil(n); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", n, got, want)
		}
	}
	for n, want := range map[uint64]string{5: "5", 1500: "1.5k", 34000: "34k", 1500000: "1.5M", 25000000: "25M"} {
		if got := compact(n); got != want {
			t.Errorf("compact(%d) = %s, want %s", n, got, want)
		}
	}
}
