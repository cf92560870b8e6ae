package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/change"
)

// validateOutput checks -o against the formats a command supports.
func validateOutput(value string, allowed ...string) error {
	if slices.Contains(allowed, value) {
		return nil
	}
	return usageError("invalid output format %q: must be one of %s", value, strings.Join(allowed, ", "))
}

// machineReadable reports whether -o asks for a document on stdout (then
// progress and warnings must stay off stdout).
func machineReadable(format string) bool {
	return format == "json" || format == "yaml"
}

// printDocument writes v as indented JSON or as YAML.
func printDocument(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("rendering YAML: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unsupported document format %q", format)
}

// printChanges writes what a step changed: aligned lines, or the document {"changes": …}.
// serverSide marks dry-run changes the API server validated.
func printChanges(w io.Writer, format string, cs change.Changes, serverSide bool) error {
	if format != "text" {
		return printDocument(w, format, map[string]any{"changes": cs})
	}
	return change.WriteText(w, cs, serverSide)
}
