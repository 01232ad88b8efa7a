// Package chart draws the console's charts as SVG on the server: time
// series (lines or stacked bars over time, series.go), top-N horizontal
// bars (bars.go) and the axes they share (axis.go). No JavaScript is
// needed to see them. Every chart has a title and a description for
// screen readers, names its series in a legend in words, and gives each
// mark a tooltip with its value, so colour is never the only cue.
package chart

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"
)

// TimeTick is one mark of a time axis.
type TimeTick struct {
	T     time.Time
	Label string
}

// tickSteps are the spacings a time axis picks from.
var tickSteps = []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}

// TimeTicks returns at most max ticks in [start, end] at round times of
// the reader's zone loc: whole hours, local midnights, ... A tick at a
// local midnight (or any tick when they are days apart) is labelled with
// the date (01-02), the others with the time (15:04).
func TimeTicks(start, end time.Time, loc *time.Location, max int) []TimeTick {
	if loc == nil {
		loc = time.UTC
	}
	if !end.After(start) || max < 1 {
		return nil
	}
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if int(end.Sub(start)/s) < max {
			step = s
			break
		}
	}
	ls := start.In(loc)
	t := time.Date(ls.Year(), ls.Month(), ls.Day(), 0, 0, 0, 0, loc) // local midnight of start's day
	var ticks []TimeTick
	if step >= 24*time.Hour {
		days := int(step / (24 * time.Hour))
		for ; !t.After(end); t = t.AddDate(0, 0, days) {
			if !t.Before(start) {
				ticks = append(ticks, TimeTick{T: t, Label: t.Format("01-02")})
			}
		}
		return ticks
	}
	for day := t; !day.After(end); day = day.AddDate(0, 0, 1) {
		// Ticks go by the wall clock: on a day of 23 or 25 hours they
		// stay on the local hours.
		y, m, d := day.Date()
		for mins := 0; mins < 24*60; mins += int(step / time.Minute) {
			t := time.Date(y, m, d, 0, mins, 0, 0, loc)
			if t.Before(start) {
				continue
			}
			if t.After(end) {
				break
			}
			label := t.Format("15:04")
			if mins == 0 {
				label = t.Format("01-02")
			}
			ticks = append(ticks, TimeTick{T: t, Label: label})
		}
	}
	return ticks
}

// ValueTicks returns round tick values from 0 to at least max, about n
// of them (steps of 1, 2 or 5 times a power of ten; whole numbers unless
// max is below 1, a rate).
func ValueTicks(max float64, n int) []float64 {
	if n < 1 {
		n = 1
	}
	if !(max > 0) {
		return []float64{0, 1}
	}
	raw := max / float64(n)
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := pow
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	if step < 1 && max >= 1 {
		step = 1 // counts: whole numbers
	}
	var ticks []float64
	for i := 0; ; i++ {
		v := float64(i) * step
		ticks = append(ticks, v)
		if v >= max {
			break
		}
	}
	return ticks
}

// FormatCount writes a count short: 950, 1.2k, 34k, 5.6M.
func FormatCount(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	case a == math.Trunc(a):
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func trim(v float64) string {
	if math.Abs(v) >= 10 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
}

// Palette are the series' colours, told apart by people with the common
// colour-vision deficiencies (Okabe and Ito); the legend names them.
var Palette = []string{"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#999999"}

// svg builds an SVG document.
type svg struct{ strings.Builder }

func (b *svg) f(format string, args ...any) { fmt.Fprintf(b, format, args...) }

// esc escapes text and attribute values.
func esc(s string) string { return html.EscapeString(s) }

// num writes a coordinate.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// safeHref returns href when it is a path on this server, else "": links
// in charts never lead elsewhere or run script.
func safeHref(href string) string {
	if strings.HasPrefix(href, "/") && !strings.HasPrefix(href, "//") && !strings.ContainsAny(href, "\\\x00") {
		return href
	}
	return ""
}

// open starts a chart: the svg element with its title and description.
func (b *svg) open(id string, w, h int, title, desc string) {
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" role="img" aria-labelledby="%s-t %s-d" font-family="sans-serif" font-size="11">`, w, h, esc(id), esc(id))
	b.f(`<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, esc(id), esc(title), esc(id), esc(desc))
}

// empty draws a chart's empty state: its message in the middle.
func (b *svg) empty(w, h int, msg string) {
	b.f(`<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>`, w/2, h/2, esc(msg))
}
