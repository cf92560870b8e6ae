// Package kubectl holds what kubectl expects of a plugin binary.
//
// kubectl runs `kubectl meshmon …` as `kubectl-meshmon …` when that file is
// on PATH, and (kubectl ≥ 1.26) asks `kubectl_complete-meshmon` for shell
// completions; that helper script ships next to the binary.
package kubectl

import _ "embed"

const (
	// Binary is the executable name kubectl looks for on PATH.
	Binary = "kubectl-meshmon"
	// DisplayName is how users invoke it.
	DisplayName = "kubectl meshmon"
	// CompletionHelper is the file name of the completion helper.
	CompletionHelper = "kubectl_complete-meshmon"
)

// CompletionScript is the completion helper: kubectl execs it with the
// words typed so far and it defers to cobra's hidden __complete command.
//
//go:embed kubectl_complete-meshmon
var CompletionScript []byte
