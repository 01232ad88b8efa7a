package chart

import (
	"html/template"
	"strings"
)

// BarItem is one row of a bar chart.
type BarItem struct {
	Label string
	Value float64
	// Href links the label (a path on this server; others are dropped).
	Href string
	// Note is shown after the value, e.g. a country or "12 users".
	Note string
}

// Bars is a top-N chart of horizontal bars, the largest first as given,
// each with its label, its value in digits and an optional link.
type Bars struct {
	ID          string
	Title, Desc string
	Bars        []BarItem
	// Width is the drawing's width (it scales to its box); 0 means 420.
	// Rows are 18 pixels high.
	Width int
	// LabelWidth is the space for labels; 0 means 150.
	LabelWidth int
	Color      string
	Empty      string
	Format     func(float64) string
}

// SVG draws the chart.
func (c *Bars) SVG() template.HTML {
	w := c.Width
	if w <= 0 {
		w = 420
	}
	lw := float64(c.LabelWidth)
	if lw <= 0 {
		lw = 150
	}
	format := c.Format
	if format == nil {
		format = FormatCount
	}
	col := c.Color
	if col == "" {
		col = Palette[0]
	}
	const row = 18.0
	h := int(row*float64(len(c.Bars))) + 4
	if len(c.Bars) == 0 {
		h = 40
	}
	desc := c.Desc
	if desc == "" {
		var parts []string
		for _, b := range c.Bars {
			parts = append(parts, b.Label+" "+format(b.Value))
		}
		desc = strings.Join(parts, ", ")
	}
	var b svg
	b.open(c.ID, w, h, c.Title, desc)
	if len(c.Bars) == 0 {
		b.empty(w, h, c.Empty)
		b.WriteString("</svg>")
		return template.HTML(b.String())
	}
	top := 0.0
	for _, r := range c.Bars {
		top = max(top, r.Value)
	}
	if top <= 0 {
		top = 1
	}
	// The value and note take up to 110 pixels at the right.
	barMax := float64(w) - lw - 8 - 110
	for i, r := range c.Bars {
		y := float64(i)*row + 2
		label := r.Label
		if rs := []rune(label); len(rs) > int(lw/6.5) {
			label = string(rs[:int(lw/6.5)-1]) + "…"
		}
		text := `<text x="` + num(lw-4) + `" y="` + num(y+12) + `" text-anchor="end" fill="#222">` + esc(label) + `<title>` + esc(r.Label) + `</title></text>`
		if href := safeHref(r.Href); href != "" {
			b.f(`<a href="%s">%s</a>`, esc(href), strings.Replace(text, `fill="#222"`, `fill="#0645ad" text-decoration="underline"`, 1))
		} else {
			b.WriteString(text)
		}
		bl := max(barMax*r.Value/top, 1)
		b.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s</title></rect>`, num(lw), num(y+2), num(bl), num(row-5), esc(col), esc(r.Label), esc(format(r.Value)))
		val := format(r.Value)
		if r.Note != "" {
			val += " · " + r.Note
		}
		b.f(`<text x="%s" y="%s" fill="#333">%s</text>`, num(lw+bl+4), num(y+12), esc(val))
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}
