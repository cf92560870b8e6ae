package ui

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/briandowns/spinner"
)

// Progress reports a long-running operation as a sequence of phases. On a
// terminal each phase is a spinner on stderr whose text follows Update; off
// a terminal every distinct state is one plain line, so logs stay readable.
type Progress interface {
	// Start begins a phase, e.g. "installing release prometheus".
	Start(phase string)
	// Update says what the phase is waiting for now, e.g. "waiting for PVC
	// prometheus-server to bind". Repeats of the same text are dropped.
	Update(status string)
	// Done ends the phase successfully with a summary line.
	Done(summary string)
	// Fail ends the phase with an error summary line.
	Fail(summary string)
}

// Progress returns the reporter fitting the UI's streams.
func (u *UI) Progress() Progress {
	switch {
	case u.Quiet:
		return nopProgress{}
	case u.Interactive:
		return newSpinnerProgress(u.Err, u.ErrStyle())
	default:
		return &lineProgress{w: u.Err, style: u.ErrStyle()}
	}
}

type nopProgress struct{}

func (nopProgress) Start(string)  {}
func (nopProgress) Update(string) {}
func (nopProgress) Done(string)   {}
func (nopProgress) Fail(string)   {}

// lineProgress prints one line per state change.
type lineProgress struct {
	mu    sync.Mutex
	w     io.Writer
	style Style
	last  string
}

func (p *lineProgress) println(s string) {
	if s == p.last {
		return
	}
	p.last = s
	fmt.Fprintln(p.w, s)
}

func (p *lineProgress) Start(phase string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.println(phase + " ...")
}

func (p *lineProgress) Update(status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.println("  " + status)
}

func (p *lineProgress) Done(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.println(p.style.Green("√") + " " + summary)
}

func (p *lineProgress) Fail(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.println(p.style.Red("×") + " " + summary)
}

// spinnerProgress animates the current phase on a terminal.
type spinnerProgress struct {
	mu    sync.Mutex
	w     io.Writer
	style Style
	s     *spinner.Spinner
	phase string
}

func newSpinnerProgress(w io.Writer, style Style) *spinnerProgress {
	opts := []spinner.Option{spinner.WithHiddenCursor(true)}
	if f, ok := w.(*os.File); ok {
		opts = append(opts, spinner.WithWriterFile(f))
	} else {
		opts = append(opts, spinner.WithWriter(w))
	}
	return &spinnerProgress{w: w, style: style, s: spinner.New(spinner.CharSets[14], 100*time.Millisecond, opts...)}
}

func (p *spinnerProgress) Start(phase string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = phase
	p.s.Suffix = " " + phase
	p.s.Start()
}

func (p *spinnerProgress) Update(status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s.Lock()
	p.s.Suffix = " " + p.phase + ": " + status
	p.s.Unlock()
}

func (p *spinnerProgress) end(line string) {
	p.s.Stop()
	fmt.Fprintln(p.w, line)
}

func (p *spinnerProgress) Done(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.end(p.style.Green("√") + " " + summary)
}

func (p *spinnerProgress) Fail(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.end(p.style.Red("×") + " " + summary)
}
