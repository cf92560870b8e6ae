package viz

import (
	"slices"
	"strings"
)

// flagArg is where a Go-style flag sits in a container's args.
type flagArg struct {
	found bool
	// index of the flag's first token; count is 1 for -flag=value, 2 for -flag value.
	index, count int
	value        string
	// dashes is "-" or "--", as written.
	dashes string
}

// findFlag locates the last occurrence of flag in args: Go's flag package, which linkerd's
// binaries use, lets a later occurrence win. Both -flag and --flag, with "=" or a separate
// value token, are recognised.
func findFlag(args []string, name string) flagArg {
	var f flagArg
	for i := 0; i < len(args); i++ {
		a := args[i]
		var dashes string
		switch {
		case strings.HasPrefix(a, "--"):
			dashes = "--"
		case strings.HasPrefix(a, "-"):
			dashes = "-"
		default:
			continue
		}
		rest := a[len(dashes):]
		if v, ok := strings.CutPrefix(rest, name+"="); ok {
			f = flagArg{found: true, index: i, count: 1, value: v, dashes: dashes}
			continue
		}
		if rest == name && i+1 < len(args) {
			f = flagArg{found: true, index: i, count: 2, value: args[i+1], dashes: dashes}
			i++
		}
	}
	return f
}

// tokens returns the flag's tokens as written.
func (f flagArg) tokens(args []string) []string {
	if !f.found {
		return nil
	}
	return slices.Clone(args[f.index : f.index+f.count])
}

// setFlag returns args with the effective occurrence of flag set to value, written as a
// single token in the dash style found; every other argument keeps its place. An absent flag
// is appended.
func setFlag(args []string, name, value string) []string {
	f := findFlag(args, name)
	if !f.found {
		return append(slices.Clone(args), "-"+name+"="+value)
	}
	return replaceTokens(args, f, []string{f.dashes + name + "=" + value})
}

// replaceTokens returns args with f's tokens replaced by with (nothing removes the flag).
func replaceTokens(args []string, f flagArg, with []string) []string {
	out := make([]string, 0, len(args)-f.count+len(with))
	out = append(out, args[:f.index]...)
	out = append(out, with...)
	return append(out, args[f.index+f.count:]...)
}
