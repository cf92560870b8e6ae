// Package ui decides how meshmon presents itself on a terminal.
//
// Every colour, spinner and progress decision is made here, once, from the
// --color flag, NO_COLOR, TERM and whether the stream is a terminal, so no
// other package writes escape codes on its own.
package ui

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
)

// ColorMode is the value of the --color flag.
type ColorMode string

// The accepted --color values.
const (
	ColorAuto   ColorMode = "auto"
	ColorAlways ColorMode = "always"
	ColorNever  ColorMode = "never"
)

// ParseColorMode validates a --color value.
func ParseColorMode(s string) (ColorMode, error) {
	switch m := ColorMode(strings.ToLower(s)); m {
	case ColorAuto, ColorAlways, ColorNever:
		return m, nil
	}
	return "", fmt.Errorf("invalid --color %q: must be one of auto, always, never", s)
}

// IsTerminal reports whether w is a terminal (a TTY or a Cygwin pty).
func IsTerminal(w io.Writer) bool { return isTerminal(w) }

// IsTerminalInput reports whether r is a terminal, i.e. a person can answer a prompt on it.
func IsTerminalInput(r io.Reader) bool { return isTerminal(r) }

func isTerminal(stream any) bool {
	f, ok := stream.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// UseColor decides whether output written to w may carry ANSI colour.
// "always" and "never" win; otherwise NO_COLOR (any non-empty value, see
// no-color.org) and TERM=dumb turn colour off, and a non-terminal never
// gets it.
func UseColor(mode ColorMode, w io.Writer, getenv func(string) string) bool {
	switch mode {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return IsTerminal(w)
}

// UI carries the output streams and the decisions made for them.
type UI struct {
	Out io.Writer
	Err io.Writer
	// OutColor and ErrColor say whether each stream may carry colour.
	OutColor bool
	ErrColor bool
	// Interactive is true when stderr is a terminal that can show a spinner.
	Interactive bool
	// Quiet suppresses progress output entirely (machine-readable output
	// requested, or --quiet).
	Quiet bool
}

// New makes the decisions for a pair of streams.
func New(out, errw io.Writer, mode ColorMode, getenv func(string) string) *UI {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &UI{
		Out:         out,
		Err:         errw,
		OutColor:    UseColor(mode, out, getenv),
		ErrColor:    UseColor(mode, errw, getenv),
		Interactive: IsTerminal(errw) && getenv("TERM") != "dumb",
	}
}

// Style formats text for one stream.
type Style struct{ enabled bool }

// OutStyle styles text for stdout; ErrStyle for stderr.
func (u *UI) OutStyle() Style { return Style{enabled: u.OutColor} }

// ErrStyle styles text for stderr.
func (u *UI) ErrStyle() Style { return Style{enabled: u.ErrColor} }

func (s Style) paint(text string, attrs ...color.Attribute) string {
	c := color.New(attrs...)
	if s.enabled {
		c.EnableColor()
	} else {
		c.DisableColor()
	}
	return c.Sprint(text)
}

// Green paints text green when colour is enabled: success.
func (s Style) Green(text string) string { return s.paint(text, color.FgGreen) }

// Yellow paints text yellow when colour is enabled: warnings.
func (s Style) Yellow(text string) string { return s.paint(text, color.FgYellow) }

// Red paints text red when colour is enabled: failures.
func (s Style) Red(text string) string { return s.paint(text, color.FgRed) }

// Bold makes text bold when colour is enabled.
func (s Style) Bold(text string) string { return s.paint(text, color.Bold) }
