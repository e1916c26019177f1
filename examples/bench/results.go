package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// A figure's unit decides how it prints and which way is better.
type unit string

const (
	unitMillis     unit = "ms"
	unitRounds     unit = "rounds"
	unitBytesPerS  unit = "B/s"
	unitBytes      unit = "B"
	unitCPU        unit = "% of a core"
	unitMicros     unit = "µs"
	unitPerSecond  unit = "1/s"
	unitEncodedLen unit = "B encoded"
)

type resultKey struct {
	system string
	n      int
	figure string
}

// result holds one figure's values over the repetitions.
type result struct {
	resultKey
	unit   unit
	values []float64
}

// summary is what a figure reports: median, min and max over repetitions.
type summary struct {
	System string    `json:"system"`
	N      int       `json:"n"`
	Figure string    `json:"figure"`
	Unit   string    `json:"unit"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values"`
}

func (r *result) summary() summary {
	sorted := slices.Clone(r.values)
	slices.Sort(sorted)
	return summary{
		System: r.system, N: r.n, Figure: r.figure, Unit: string(r.unit),
		Median: median(sorted), Min: sorted[0], Max: sorted[len(sorted)-1], Values: r.values,
	}
}

// median of sorted values; the mean of the middle two for an even count.
func median(sorted []float64) float64 {
	k := len(sorted)
	if k%2 == 1 {
		return sorted[k/2]
	}
	return (sorted[k/2-1] + sorted[k/2]) / 2
}

// results collects figures in the order they were first recorded.
type results struct {
	order []resultKey
	byKey map[resultKey]*result
}

func newResults() *results { return &results{byKey: map[resultKey]*result{}} }

func (rs *results) add(system string, n int, figure string, u unit, v float64) {
	k := resultKey{system, n, figure}
	r, ok := rs.byKey[k]
	if !ok {
		r = &result{resultKey: k, unit: u}
		rs.byKey[k] = r
		rs.order = append(rs.order, k)
	}
	r.values = append(r.values, v)
}

func (rs *results) get(system string, n int, figure string) *result {
	return rs.byKey[resultKey{system, n, figure}]
}

// writeJSON prints one JSON object per system, N and figure.
func (rs *results) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, k := range rs.order {
		if err := enc.Encode(rs.byKey[k].summary()); err != nil {
			return err
		}
	}
	return nil
}

// idleFigure is the steady cost right after a cluster formed, while the
// last joins may still travel.
const idleFigure = "steady bytes/s per member, idle"

// restFigure is a peer's steady cost once its cluster is at rest (after the
// dissemination and join figures), shown beside each of the ring's payload
// sizes, which are measured at rest too: the peers share no payload.
const restFigure = "steady bytes/s per member, at rest"

// writeTable prints, for each N, one row per figure: the first system's
// median and range, then each other system's and the first's ratio to it.
func (rs *results) writeTable(w io.Writer, systems []string, ns []int) {
	first := systems[0]
	for _, n := range ns {
		var figures []string
		for _, k := range rs.order {
			if k.n == n && !slices.Contains(figures, k.figure) {
				figures = append(figures, k.figure)
			}
		}
		if len(figures) == 0 {
			continue
		}
		if n > 0 {
			fmt.Fprintf(w, "\nN = %d\n", n)
		}
		header := []string{"figure", "unit", first}
		for _, s := range systems[1:] {
			header = append(header, s, first+" ÷ "+s)
		}
		rows := [][]string{header}
		for _, f := range figures {
			r := rs.get(first, n, f)
			if r == nil {
				continue
			}
			row := []string{f, string(r.unit), cell(r)}
			for _, s := range systems[1:] {
				peer, mark := rs.get(s, n, f), ""
				// A peer that shares no payload stands with its cost at
				// rest (or, not measured, its idle cost) beside each
				// payload size; the ring's own security settings share
				// one, and measure the idle cost only.
				if peer == nil && strings.HasPrefix(f, "steady bytes/s") && !strings.HasPrefix(s, systemRing) {
					peer, mark = rs.get(s, n, restFigure), " *"
					if peer == nil {
						peer = rs.get(s, n, idleFigure)
					}
				}
				if peer == nil {
					row = append(row, "—", "")
					continue
				}
				row = append(row, cell(peer)+mark, ratio(r, peer))
			}
			rows = append(rows, row)
		}
		writeColumns(w, rows)
	}
}

func cell(r *result) string {
	s := r.summary()
	if s.Min == s.Max {
		return format(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", format(s.Median), format(s.Min), format(s.Max))
}

func ratio(a, b *result) string {
	bm := b.summary().Median
	if bm == 0 {
		return ""
	}
	r := a.summary().Median / bm
	if r >= 1000 {
		return fmt.Sprintf("%.0f", r) // no exponent
	}
	return fmt.Sprintf("%.3g", r)
}

// format prints three significant digits at most, without exponents.
func format(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10 || v <= -10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func writeColumns(w io.Writer, rows [][]string) {
	widths := map[int]int{}
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(c))+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
