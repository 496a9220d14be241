package ui

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// chart is a small SVG chart drawn on the server: bars (stacked when there
// are several series) or a line per series, one point per label.
type chart struct {
	// ID names the chart in the page (tests and CSS find it by it).
	ID     string
	Labels []string
	Series []series
	// Line draws lines instead of stacked bars.
	Line bool
	// Format writes a value for the axis and the tooltips.
	Format func(float64) string
}

type series struct {
	Name   string
	Values []float64
}

// palette is colour-blind friendly (Okabe–Ito), then greys for the rest.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999", "#666666"}

func colour(i int) string { return palette[i%len(palette)] }

const (
	chartW, chartH = 720.0, 220.0
	padL, padR     = 64.0, 8.0
	padT, padB     = 8.0, 36.0
)

// SVG renders the chart. Every bar or point carries a <title> with its
// label, series and value, which browsers show on hover.
func (c chart) SVG() template.HTML {
	format := c.Format
	if format == nil {
		format = func(v float64) string { return formatInt(int64(math.Round(v))) }
	}
	n := len(c.Labels)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %g %g" role="img" aria-label="%s">`,
		template.HTMLEscapeString(c.ID), chartW, chartH+float64(legendHeight(c)), template.HTMLEscapeString(c.ID))
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%g" y="%g" class="empty">No data for this range</text></svg>`, chartW/2, chartH/2)
		return template.HTML(b.String())
	}
	top := c.max()
	if top <= 0 {
		top = 1
	}
	if c.Format == nil {
		// Counts: an axis of whole numbers.
		top = math.Max(4, math.Ceil(top/4)*4)
		if top > 20 {
			top = niceCeil(top)
		}
	} else {
		top = niceCeil(top)
	}
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	y := func(v float64) float64 { return padT + plotH - v/top*plotH }
	// Grid and axis labels at quarters.
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`, padL-6, y(v)+4, template.HTMLEscapeString(format(v)))
	}
	step := plotW / float64(n)
	every := max(1, n/8)
	for i, l := range c.Labels {
		if i%every == 0 || i == n-1 && n <= 8 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%g" text-anchor="middle">%s</text>`, padL+step*(float64(i)+0.5), chartH-padB+16, template.HTMLEscapeString(l))
		}
	}
	if c.Line {
		for si, s := range c.Series {
			var pts []string
			for i, v := range s.Values {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", padL+step*(float64(i)+0.5), y(v)))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, colour(si), strings.Join(pts, " "))
			for i, v := range s.Values {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s · %s: %s</title></circle>`,
					padL+step*(float64(i)+0.5), y(v), colour(si), template.HTMLEscapeString(c.Labels[i]), template.HTMLEscapeString(s.Name), template.HTMLEscapeString(format(v)))
			}
		}
	} else {
		barW := math.Max(1, step*0.8)
		for i := range c.Labels {
			base := 0.0
			for si, s := range c.Series {
				v := s.Values[i]
				if v <= 0 {
					continue
				}
				x := padL + step*float64(i) + (step-barW)/2
				fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" data-label="%s" data-series="%s" data-value="%g"><title>%s · %s: %s</title></rect>`,
					x, y(base+v), barW, y(base)-y(base+v), colour(si),
					template.HTMLEscapeString(c.Labels[i]), template.HTMLEscapeString(s.Name), v,
					template.HTMLEscapeString(c.Labels[i]), template.HTMLEscapeString(s.Name), template.HTMLEscapeString(format(v)))
				base += v
			}
		}
	}
	// Legend below the plot.
	if len(c.Series) > 1 {
		x, row := padL, 0
		for si, s := range c.Series {
			w := 24 + 7*float64(len(s.Name))
			if x+w > chartW {
				x, row = padL, row+1
			}
			ly := chartH + float64(row)*18
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text class="legend" x="%.1f" y="%.1f">%s</text>`,
				x, ly, colour(si), x+14, ly+9, template.HTMLEscapeString(s.Name))
			x += w
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func legendHeight(c chart) int {
	if len(c.Series) <= 1 {
		return 0
	}
	rows, x := 1, padL
	for _, s := range c.Series {
		w := 24 + 7*float64(len(s.Name))
		if x+w > chartW {
			x, rows = padL, rows+1
		}
		x += w
	}
	return rows * 18
}

// max is the highest bar (stacked sum) or point.
func (c chart) max() float64 {
	top := 0.0
	for i := range c.Labels {
		sum := 0.0
		for _, s := range c.Series {
			if c.Line {
				top = math.Max(top, s.Values[i])
			} else if s.Values[i] > 0 {
				sum += s.Values[i]
			}
		}
		top = math.Max(top, sum)
	}
	return top
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, so the
// axis reads in round numbers.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
