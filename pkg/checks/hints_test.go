package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/fixtures"
)

// Every failure prints `see https://github.com/meshmon/meshmon#<anchor> for
// hints`; each anchor must be a heading of the README's check hints, or the
// link leads nowhere. (mm-preflight is the anchor of `check --pre`, which
// pkg/cli renders from install's preflight.)
func TestEveryHintAnchorIsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(fixtures.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if a, ok := strings.CutPrefix(line, "#### "); ok {
			headings[strings.TrimSpace(a)] = true
		}
	}
	anchors := []string{"mm-preflight"}
	cats, err := Catalog(NewEnv(Options{}, Deps{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cats {
		for _, ch := range c.Checks {
			anchors = append(anchors, ch.HintAnchor)
		}
	}
	for _, a := range anchors {
		if !headings[a] {
			t.Errorf("hint anchor %q has no \"#### %s\" heading in README.md", a, a)
		}
	}
	if !strings.HasSuffix(HintBaseURL, "#") {
		t.Errorf("HintBaseURL %q must end with # so anchors append to it", HintBaseURL)
	}
}
