package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/cartstream/cartstream/internal/replay"
)

// Progress modes of --progress.
const (
	progressAuto  = "auto"  // a bar on a terminal, lines otherwise
	progressBar   = "bar"   // always a bar
	progressLines = "lines" // one plain line per interval
	progressNone  = "none"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressReporter turns replay.Progress into a progress bar (records,
// carts, rate, ETA) on a terminal and plain lines elsewhere (logs, CI).
type progressReporter struct {
	w     io.Writer
	mode  string
	bar   *progressbar.ProgressBar
	topic string
}

func newProgressReporter(w io.Writer, mode string) (*progressReporter, error) {
	switch mode {
	case progressAuto:
		mode = progressLines
		if isTerminal(w) {
			mode = progressBar
		}
	case progressBar, progressLines, progressNone:
	default:
		return nil, fmt.Errorf("--progress %q: want auto, bar, lines or none", mode)
	}
	return &progressReporter{w: w, mode: mode}, nil
}

// interval is how often the reader should call report.
func (r *progressReporter) interval() time.Duration {
	if r.mode == progressBar {
		return 200 * time.Millisecond
	}
	return 2 * time.Second
}

// report is a replay.Config.Progress callback.
func (r *progressReporter) report(p replay.Progress) {
	switch r.mode {
	case progressNone:
		return
	case progressLines:
		pct := 100.0
		if p.Total > 0 {
			pct = 100 * float64(p.Offsets) / float64(p.Total)
		}
		state := "reading"
		if p.Done {
			state = "done"
		}
		fmt.Fprintf(r.w, "%s %s: %d/%d offsets (%.0f%%), %d records, %d carts, %.0f records/s, %s\n",
			p.Topic, state, p.Offsets, p.Total, pct, p.Records, p.Carts, p.Rate(), p.Elapsed.Round(time.Millisecond))
		return
	}
	if r.bar == nil || r.topic != p.Topic {
		r.finish()
		r.topic = p.Topic
		r.bar = progressbar.NewOptions64(max(p.Total, 1),
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetDescription(p.Topic),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rec"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(r.w) }),
		)
	}
	r.bar.Describe(fmt.Sprintf("%s %d carts", p.Topic, p.Carts))
	_ = r.bar.Set64(p.Offsets)
	if p.Done {
		r.finish()
	}
}

func (r *progressReporter) finish() {
	if r.bar != nil {
		_ = r.bar.Finish()
		r.bar = nil
	}
}
