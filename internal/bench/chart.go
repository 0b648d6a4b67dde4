package bench

import (
	"errors"
	"fmt"
	"image/color"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// WriteSweepChart draws the e2e sweep as a PNG: outcome latency p50 and
// p99 against the open-loop rate, log-log, with the targets marked, so the
// knee of the curve shows at a glance.
func (r *Result) WriteSweepChart(path string) error {
	if r.E2E == nil || len(r.E2E.Sweep) == 0 {
		return errors.New("no e2e sweep in this run")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("cartstream e2e: gRPC AddItem -> outcome visible (run %s, rev %s)", r.RunID, r.Revision)
	p.X.Label.Text = "open-loop rate (commands/s)"
	p.Y.Label.Text = "latency (ms)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = ticks125(), ticks125()
	p.Legend.Top, p.Legend.Left = true, true
	p50, p99, targets := plotter.XYs{}, plotter.XYs{}, plotter.XYs{}
	for _, run := range r.E2E.Sweep {
		x := float64(run.Rate)
		p50 = append(p50, plotter.XY{X: x, Y: max(run.Outcome.P50, 0.1)})
		p99 = append(p99, plotter.XY{X: x, Y: max(run.Outcome.P99, 0.1)})
		if run.TargetP99 > 0 {
			targets = append(targets, plotter.XY{X: x, Y: run.TargetP99})
		}
	}
	if err := addLine(p, "p50", p50, color.RGBA{B: 200, A: 255}, draw.CircleGlyph{}); err != nil {
		return err
	}
	if err := addLine(p, "p99", p99, color.RGBA{R: 200, A: 255}, draw.TriangleGlyph{}); err != nil {
		return err
	}
	if len(targets) > 0 {
		s, err := plotter.NewScatter(targets)
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		s.GlyphStyle.Shape, s.GlyphStyle.Radius = draw.CrossGlyph{}, vg.Points(5)
		p.Add(s)
		p.Legend.Add("p99 target", s)
	}
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("chart: save %s: %w", path, err)
	}
	return nil
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, shape draw.GlyphDrawer) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("chart %s: %w", name, err)
	}
	l.Color, s.Color, s.Shape = c, c, shape
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

// ticks125 labels 1, 2, 5, 10, 20, 50, ... : readable on a log axis that
// spans less than a decade.
func ticks125() plot.ConstantTicks {
	var ts []plot.Tick
	for decade := 0.1; decade <= 1e5; decade *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := m * decade
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	return plot.ConstantTicks(ts)
}
