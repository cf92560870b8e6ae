package change

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes one aligned line per change: the object as kubectl names it, the
// action (marked when it was only a dry run; serverSide says whether the API server
// validated it) and the detail, with a plan's patch indented below its line.
func WriteText(w io.Writer, cs Changes, serverSide bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cs {
		ref := strings.ToLower(c.Kind) + "/" + c.Name
		if c.Namespace != "" && c.Kind != "Namespace" {
			ref += " -n " + c.Namespace
		}
		action := string(c.Action)
		switch {
		case c.DryRun && serverSide:
			action += " (server dry run)"
		case c.DryRun:
			action += " (dry run)"
		}
		detail := c.Detail
		if len(c.Identities) > 0 {
			detail = strings.TrimSpace(detail + " [" + strings.Join(c.Identities, ", ") + "]")
		}
		line := ref + "\t" + action
		if detail != "" {
			line += "\t" + detail
		}
		fmt.Fprintln(tw, line)
		if c.Patch != "" {
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(w, Indent(strings.TrimRight(c.Patch, "\n"), "    "))
		}
	}
	return tw.Flush()
}

// Indent prefixes every line of s.
func Indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
