// Package chart draws the console's charts as SVG, on the server: the
// browser gets a small picture, never the data behind it.
package chart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bar is one bucket of a time histogram: the events from Start to
// Start plus the histogram's step.
type Bar struct {
	Start time.Time
	Count uint64
}

// Histogram is a time histogram whose bars zoom: each bar links to its
// own time range, and app.js (search.js) turns a drag across bars into
// a link to the dragged range (Zoom).
type Histogram struct {
	Bars []Bar
	Step time.Duration
	// Start and End are the searched range; bars may begin before it.
	Start, End time.Time
	// Loc is the zone of the axis labels.
	Loc *time.Location
	// Href returns the link of a bar: the search narrowed to its range.
	Href func(start, end time.Time) string
	// Zoom is the link of a dragged range, with {start} and {end} where
	// its bounds go (RFC 3339, UTC); "" turns dragging off.
	Zoom string
	// Title is a bar's tooltip.
	Title func(start, end time.Time, count uint64) string
	// Label is the chart's accessible name.
	Label string
	// Width and Height are the size in SVG units (the SVG scales to
	// its box); 0 means 1000 by 140.
	Width, Height int
}

// Plot margins: left for the count labels, bottom for the time axis.
const (
	padLeft   = 44
	padRight  = 6
	padTop    = 8
	padBottom = 20
)

// SVG renders the histogram.
func (h *Histogram) SVG() template.HTML {
	w, ht := h.Width, h.Height
	if w == 0 {
		w, ht = 1000, 140
	}
	loc := h.Loc
	if loc == nil {
		loc = time.UTC
	}
	var top uint64
	for _, b := range h.Bars {
		top = max(top, b.Count)
	}
	yMax := niceCeil(top)
	plotW := float64(w - padLeft - padRight)
	plotH := float64(ht - padTop - padBottom)
	n := max(len(h.Bars), 1)
	bw := plotW / float64(n)
	gap := math.Min(1, bw/4)

	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="histogram" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img" aria-label="%s"`,
		w, ht, template.HTMLEscapeString(h.Label))
	if h.Zoom != "" {
		fmt.Fprintf(&sb, ` data-zoom="%s"`, template.HTMLEscapeString(h.Zoom))
	}
	fmt.Fprintf(&sb, ` data-left="%d" data-right="%d" data-step="%d">`, padLeft, w-padRight, h.Step.Milliseconds())

	// Grid: zero, half and the top of the count axis, labelled where
	// the count is whole and the axis has any.
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(padTop) + plotH*(1-f)
		fmt.Fprintf(&sb, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padLeft, w-padRight, y, y)
		if yMax > 0 && (f != 0.5 || yMax%2 == 0) {
			fmt.Fprintf(&sb, `<text class="ylabel" x="%d" y="%.1f" text-anchor="end">%s</text>`,
				padLeft-4, y+4, compact(uint64(f*float64(yMax))))
		}
	}
	for i, b := range h.Bars {
		x := float64(padLeft) + float64(i)*bw
		bh := 0.0
		if yMax > 0 {
			bh = plotH * float64(b.Count) / float64(yMax)
		}
		if b.Count > 0 && bh < 1 {
			bh = 1
		}
		end := b.Start.Add(h.Step)
		title := ""
		if h.Title != nil {
			title = h.Title(b.Start, end, b.Count)
		}
		// A full-height transparent hit area, so thin bars are easy to click.
		open, close := "<g>", "</g>"
		if h.Href != nil {
			open = fmt.Sprintf(`<a href="%s" data-t="%d">`, template.HTMLEscapeString(h.Href(b.Start, end)), b.Start.UnixMilli())
			close = "</a>"
		}
		sb.WriteString(open)
		fmt.Fprintf(&sb, `<title>%s</title>`, template.HTMLEscapeString(title))
		fmt.Fprintf(&sb, `<rect class="hit" x="%.2f" y="%d" width="%.2f" height="%.1f"/>`, x, padTop, bw, plotH)
		if b.Count > 0 {
			fmt.Fprintf(&sb, `<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f"/>`,
				x+gap/2, float64(padTop)+plotH-bh, math.Max(bw-gap, 0.5), bh)
		}
		sb.WriteString(close)
	}
	// Time axis: a label every few bars, at round times.
	every := max(1, int(math.Ceil(float64(n)/8)))
	last := ""
	for i := 0; i < len(h.Bars); i += every {
		t := h.Bars[i].Start.In(loc)
		label := axisLabel(t, h.Step, last)
		last = t.Format("2006-01-02")
		x := float64(padLeft) + float64(i)*bw
		fmt.Fprintf(&sb, `<line class="tick" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x, x, ht-padBottom, ht-padBottom+4)
		fmt.Fprintf(&sb, `<text class="xlabel" x="%.1f" y="%d">%s</text>`, x+2, ht-4, template.HTMLEscapeString(label))
	}
	fmt.Fprintf(&sb, `<rect class="selection" x="0" y="%d" width="0" height="%.0f"/>`, padTop, plotH)
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// axisLabel formats a tick: seconds for short steps, the date when it
// changes from the previous tick (prevDay), days alone for day steps.
func axisLabel(t time.Time, step time.Duration, prevDay string) string {
	day := t.Format("2006-01-02")
	switch {
	case step >= 24*time.Hour:
		return t.Format("01-02")
	case step < time.Minute:
		if day != prevDay && prevDay != "" {
			return t.Format("01-02 15:04:05")
		}
		return t.Format("15:04:05")
	case day != prevDay:
		return t.Format("01-02 15:04")
	}
	return t.Format("15:04")
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten.
func niceCeil(n uint64) uint64 {
	if n <= 1 {
		return n
	}
	p := uint64(1)
	for p*10 < n {
		p *= 10
	}
	for _, m := range []uint64{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

// compact writes a count briefly: 950, 1.2k, 34k, 1.5M.
func compact(n uint64) string {
	switch {
	case n < 1000:
		return strconv.FormatUint(n, 10)
	case n < 10_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	case n < 1_000_000:
		return strconv.FormatUint(n/1000, 10) + "k"
	case n < 10_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	}
	return strconv.FormatUint(n/1_000_000, 10) + "M"
}
