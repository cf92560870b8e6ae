package healthcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fatih/color"
)

// The output formats of `linkerd check -o`.
const (
	FormatTable = "table"
	FormatShort = "short"
	FormatJSON  = "json"
)

// Formats lists the valid output formats, default first.
func Formats() []string {
	return []string{FormatTable, FormatShort, FormatJSON}
}

// Printer writes results in one output format, byte for byte as
// `linkerd check` (and `linkerd viz check`) do. Table and short output is
// written category by category; JSON is written whole by Finish. A Printer
// is not safe for concurrent use; Run's callbacks never overlap.
type Printer struct {
	w       io.Writer
	format  string
	symbols symbols
	// printed counts the category blocks written so far.
	printed int
	err     error
}

// NewPrinter returns a Printer for format, one of Formats(). color turns
// ANSI colours of the status symbols on or off, regardless of fatih/color's
// global setting.
func NewPrinter(w io.Writer, format string, color bool) (*Printer, error) {
	switch format {
	case FormatTable, FormatShort, FormatJSON:
	default:
		return nil, fmt.Errorf("unknown output format %q: use one of %s", format, strings.Join(Formats(), ", "))
	}
	return &Printer{w: w, format: format, symbols: newSymbols(color)}, nil
}

// Render writes results in format after the fact; its output is the same
// as that of a Printer fed during the run.
func Render(w io.Writer, results Results, format string, color bool) error {
	p, err := NewPrinter(w, format, color)
	if err != nil {
		return err
	}
	for _, c := range results.Categories {
		p.Category(c)
	}
	return p.Finish(results)
}

// Category writes one category's block, if it has anything to show: its
// non-skipped checks in table format, its warnings and errors in short
// format. It writes nothing in JSON format. Write errors are kept for Finish.
func (p *Printer) Category(c CategoryResult) {
	if p.format == FormatJSON {
		return
	}
	var shown []Result
	for _, res := range c.Checks {
		if res.Status == StatusSkipped || (p.format == FormatShort && res.Status == StatusSuccess) {
			continue
		}
		shown = append(shown, res)
	}
	if len(shown) == 0 {
		return
	}
	var b strings.Builder
	// linkerd separates categories with a blank line, and ends table output
	// with one, but ends short output with one only when a warning was
	// printed; so short mode writes the separator before, not after.
	if p.format == FormatShort && p.printed > 0 {
		b.WriteString("\n")
	}
	name := printable(c.Name, false)
	fmt.Fprintf(&b, "%s\n%s\n", name, strings.Repeat("-", len(name)))
	for _, res := range shown {
		p.writeResult(&b, res)
	}
	if p.format == FormatTable {
		b.WriteString("\n")
	}
	p.printed++
	p.write(b.String())
}

func (p *Printer) writeResult(b *strings.Builder, res Result) {
	fmt.Fprintf(b, "%s %s\n", p.symbols.of(res.Status), printable(description(res), true))
	if res.Err == nil {
		return
	}
	// Like linkerd, only the first line is indented: multi-line errors
	// bring their own indentation (linkerd uses "\n\t").
	fmt.Fprintf(b, "    %s\n", printable(res.Err.Error(), true))
	if res.HintURL != "" {
		fmt.Fprintf(b, "    see %s for hints\n", printable(res.HintURL, false))
	}
}

// Finish writes what follows the categories: the final status line, or the
// whole JSON document. results must be those returned by Run. It returns the
// first write error of the Printer, if any.
func (p *Printer) Finish(results Results) error {
	if p.format == FormatJSON {
		p.writeJSON(results)
		return p.err
	}
	if (p.format == FormatTable && p.printed == 0) || (p.format == FormatShort && results.HasWarnings()) {
		p.write("\n")
	}
	status := p.symbols.ok
	if !results.Success() {
		status = p.symbols.fail
	}
	p.write(fmt.Sprintf("Status check results are %s\n", status))
	return p.err
}

// The JSON document of `linkerd check -o json`, field for field.
type (
	jsonOutput struct {
		Success    bool           `json:"success"`
		Categories []jsonCategory `json:"categories"`
	}
	jsonCategory struct {
		Name   string      `json:"categoryName"`
		Checks []jsonCheck `json:"checks"`
	}
	jsonCheck struct {
		Description string `json:"description"`
		Hint        string `json:"hint,omitempty"`
		Error       string `json:"error,omitempty"`
		Result      Status `json:"result"`
	}
)

func (p *Printer) writeJSON(results Results) {
	// An empty list rather than linkerd's null when nothing was checked,
	// so consumers always find an array.
	out := jsonOutput{Success: results.Success(), Categories: []jsonCategory{}}
	for _, c := range results.Categories {
		jc := jsonCategory{Name: c.Name}
		for _, res := range c.Checks {
			if res.Status == StatusSkipped {
				continue
			}
			chk := jsonCheck{Description: description(res), Result: res.Status}
			if res.Err != nil {
				chk.Error = res.Err.Error()
				chk.Hint = res.HintURL
			}
			jc.Checks = append(jc.Checks, chk)
		}
		if len(jc.Checks) > 0 {
			out.Categories = append(out.Categories, jc)
		}
	}
	// MarshalIndent, like linkerd, so HTML characters are escaped the same way.
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		p.err = fmt.Errorf("encoding check results as JSON: %w", err)
		return
	}
	p.write(string(data) + "\n")
}

// description is the check's description followed by its detail, as
// linkerd prints a VerboseSuccess in both table and JSON output.
func description(res Result) string {
	if res.Detail == "" {
		return res.Description
	}
	return res.Description + "\n" + res.Detail
}

// printable makes text from checks safe for a terminal: errors often quote what the
// cluster or a scrape target said, so a control character (an ANSI escape, a carriage
// return, a backspace) is written escaped (\x1b) instead of acting on the terminal, and
// invalid UTF-8 becomes U+FFFD. Tabs stay, and newlines where the text may span lines.
// The JSON output needs none of this: encoding/json escapes control characters.
func printable(s string, multiline bool) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\t' && (r != '\n' || !multiline)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\t' || (r == '\n' && multiline) || !unicode.IsControl(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

func (p *Printer) write(s string) {
	if p.err != nil {
		return
	}
	if _, err := io.WriteString(p.w, s); err != nil {
		p.err = fmt.Errorf("writing check results: %w", err)
	}
}

// symbols are the status marks of linkerd's output, coloured as linkerd
// colours them when enabled.
type symbols struct{ ok, warn, fail string }

func newSymbols(enabled bool) symbols {
	mark := func(fg color.Attribute, s string) string {
		c := color.New(fg, color.Bold)
		if enabled {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c.Sprint(s)
	}
	return symbols{
		ok:   mark(color.FgGreen, "\u221A"),  // √
		warn: mark(color.FgYellow, "\u203C"), // ‼
		fail: mark(color.FgRed, "\u00D7"),    // ×
	}
}

func (s symbols) of(st Status) string {
	switch st {
	case StatusSuccess:
		return s.ok
	case StatusWarning:
		return s.warn
	default:
		return s.fail
	}
}
