package chart

import (
	"html/template"
	"strings"
	"time"
)

// Series is one named row of values, one per bucket.
type Series struct {
	Name   string
	Values []float64
	// Color overrides the palette's colour (a CSS colour).
	Color string
}

// TimeSeries is a chart of values over time: lines, or bars stacked per
// bucket.
type TimeSeries struct {
	// ID makes the chart's element ids unique in the page.
	ID string
	// Title names the chart (for screen readers and the tooltip); Desc
	// says what it shows; when empty, the series' totals are described.
	Title, Desc string
	// Times are the buckets' start times and Step their width.
	Times []time.Time
	Step  time.Duration
	// Series are drawn in order: bottom to top when stacked.
	Series  []Series
	Stacked bool
	// Loc is the reader's zone for the time axis.
	Loc *time.Location
	// Width and Height are the drawing's size in pixels (it scales to
	// its box); 0 means 640 by 180.
	Width, Height int
	// Empty is shown when there is nothing to draw.
	Empty string
	// Format writes a value for the axis and tooltips; nil is FormatCount.
	Format func(float64) string
}

// dashes tell lines apart without colour.
var dashes = []string{"", "6 3", "2 2", "8 3 2 3", "1 3", "10 4", "4 4", "3 1"}

// SVG draws the chart.
func (c *TimeSeries) SVG() template.HTML {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 640
	}
	if h <= 0 {
		h = 180
	}
	format := c.Format
	if format == nil {
		format = FormatCount
	}
	loc := c.Loc
	if loc == nil {
		loc = time.UTC
	}
	var b svg
	desc := c.Desc
	if desc == "" {
		desc = c.describe(format)
	}
	b.open(c.ID, w, h, c.Title, desc)
	n := len(c.Times)
	top := 0.0
	for i := range n {
		sum := 0.0
		for _, s := range c.Series {
			if i < len(s.Values) {
				if c.Stacked {
					sum += s.Values[i]
				} else {
					top = max(top, s.Values[i])
				}
			}
		}
		top = max(top, sum)
	}
	if n == 0 || top == 0 || len(c.Series) == 0 {
		b.empty(w, h, c.Empty)
		b.WriteString("</svg>")
		return template.HTML(b.String())
	}
	const left, right, legendH, bottom = 44.0, 8.0, 20.0, 18.0
	x0, x1 := left, float64(w)-right
	y0, y1 := float64(h)-bottom, legendH+4 // y0 is the baseline
	start, end := c.Times[0], c.Times[n-1].Add(c.Step)
	span := end.Sub(start).Seconds()
	xOf := func(t time.Time) float64 { return x0 + (x1-x0)*t.Sub(start).Seconds()/span }
	ticks := ValueTicks(top, 4)
	ymax := ticks[len(ticks)-1]
	yOf := func(v float64) float64 { return y0 - (y0-y1)*v/ymax }

	// Legend: a swatch (and the line's dash) and the name of each series.
	lx := x0
	for i, s := range c.Series {
		col := c.color(i)
		if c.Stacked {
			b.f(`<rect x="%s" y="5" width="10" height="10" fill="%s"/>`, num(lx), col)
		} else {
			b.f(`<line x1="%s" y1="10" x2="%s" y2="10" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`, num(lx), num(lx+14), col, dashes[i%len(dashes)])
		}
		b.f(`<text x="%s" y="14" fill="#222">%s</text>`, num(lx+17), esc(s.Name))
		lx += 17 + 6.5*float64(len([]rune(s.Name))) + 14
	}
	// Value axis: grid lines and labels.
	for _, v := range ticks {
		y := yOf(v)
		b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/>`, num(x0), num(y), num(x1), num(y))
		b.f(`<text x="%s" y="%s" text-anchor="end" fill="#444">%s</text>`, num(x0-4), num(y+4), esc(format(v)))
	}
	// Time axis.
	for _, t := range TimeTicks(start, end, loc, max(2, int((x1-x0)/70))) {
		x := xOf(t.T)
		b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#999"/>`, num(x), num(y0), num(x), num(y0+4))
		b.f(`<text x="%s" y="%s" text-anchor="middle" fill="#444">%s</text>`, num(x), num(y0+15), esc(t.Label))
	}
	b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#666"/>`, num(x0), num(y0), num(x1), num(y0))
	bw := (x1 - x0) / float64(n)
	if c.Stacked {
		for i := range n {
			base := 0.0
			label := c.Times[i].In(loc).Format("01-02 15:04")
			for si, s := range c.Series {
				if i >= len(s.Values) || s.Values[i] <= 0 {
					continue
				}
				v := s.Values[i]
				ya, yb := yOf(base+v), yOf(base)
				b.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s %s: %s</title></rect>`,
					num(x0+float64(i)*bw+bw*0.1), num(ya), num(bw*0.8), num(max(yb-ya, 0.5)), c.color(si),
					esc(s.Name), esc(label), esc(format(v)))
				base += v
			}
		}
	} else {
		for si, s := range c.Series {
			var pts strings.Builder
			for i := range min(n, len(s.Values)) {
				pts.WriteString(num(x0 + (float64(i)+0.5)*bw))
				pts.WriteByte(',')
				pts.WriteString(num(yOf(s.Values[i])))
				pts.WriteByte(' ')
			}
			b.f(`<polyline fill="none" stroke="%s" stroke-width="1.6" stroke-dasharray="%s" points="%s"><title>%s</title></polyline>`,
				c.color(si), dashes[si%len(dashes)], strings.TrimSpace(pts.String()), esc(s.Name))
		}
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

func (c *TimeSeries) color(i int) string {
	if c.Series[i].Color != "" {
		return esc(c.Series[i].Color)
	}
	return Palette[i%len(Palette)]
}

// describe writes the series' totals, for screen readers.
func (c *TimeSeries) describe(format func(float64) string) string {
	var parts []string
	for _, s := range c.Series {
		t := 0.0
		for _, v := range s.Values {
			t += v
		}
		parts = append(parts, s.Name+" "+format(t))
	}
	return strings.Join(parts, ", ")
}
