//go:build e2e

package framework

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// recorded is every output of a meshmon run through Env.Meshmon (and MustMeshmon) in this
// test binary, for the secret scan.
var recorded struct {
	mu      sync.Mutex
	outputs []recordedOutput
}

type recordedOutput struct{ command, stream, text string }

func record(command string, res Result) {
	recorded.mu.Lock()
	defer recorded.mu.Unlock()
	recorded.outputs = append(recorded.outputs, recordedOutput{command, "stdout", res.Stdout}, recordedOutput{command, "stderr", res.Stderr})
}

// RegisterSecret marks s as a credential that must never be printed. When t and its
// subtests end, every output recorded so far in the package (stdout and stderr of each
// meshmon run through Env.Meshmon or MustMeshmon, verbose logs included) is scanned, and
// t fails naming the command whose output contains s. Register secrets early: outputs of
// commands run before and after registration are both scanned.
func RegisterSecret(t testing.TB, s string) {
	t.Helper()
	if len(s) < 8 {
		t.Fatalf("RegisterSecret: %q is too short to be told apart from ordinary output", s)
	}
	t.Cleanup(func() {
		if n := ScanSecret(s); n != "" {
			t.Errorf("a registered secret (%d characters, starting %q) was printed: %s", len(s), s[:4], n)
		}
	})
}

// ScanSecret returns where s appears in the recorded outputs ("" when nowhere).
func ScanSecret(s string) string {
	recorded.mu.Lock()
	defer recorded.mu.Unlock()
	var where []string
	for _, o := range recorded.outputs {
		if strings.Contains(o.text, s) {
			where = append(where, fmt.Sprintf("%s of `%s`", o.stream, o.command))
		}
	}
	return strings.Join(where, "; ")
}

// RecordedOutputs counts the outputs recorded so far (two per command), so a test can
// show that its scan covered the commands it ran.
func RecordedOutputs() int {
	recorded.mu.Lock()
	defer recorded.mu.Unlock()
	return len(recorded.outputs)
}
