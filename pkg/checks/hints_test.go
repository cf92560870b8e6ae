package checks

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/fixtures"
)

// hintsPage is where HintBaseURL points, relative to the repository root.
const hintsPage = "docs/checks.md"

// anchorHeading is a heading of the hints page that is a hint anchor.
var anchorHeading = regexp.MustCompile(`^#{2,6} (mm-[a-z0-9-]+)\s*$`)

// Every failure prints `see <HintBaseURL><anchor> for hints`: each anchor
// must be a heading of docs/checks.md, or the link leads nowhere, and each
// anchor heading there must belong to a check, or the page describes a check
// that no longer exists. (mm-preflight is the anchor of `check --pre`, which
// renders install's preflight outside this catalog.)
func TestEveryHintAnchorIsDocumented(t *testing.T) {
	if want := "https://github.com/meshmon/meshmon/blob/main/" + hintsPage + "#"; HintBaseURL != want {
		t.Fatalf("HintBaseURL is %q; the hints are in %s, so it must be %q", HintBaseURL, hintsPage, want)
	}
	page, err := os.ReadFile(filepath.Join(fixtures.RepoRoot(t), filepath.FromSlash(hintsPage)))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(page), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if m := anchorHeading.FindStringSubmatch(line); m != nil && !inFence {
			if documented[m[1]] {
				t.Errorf("%s has two %q headings; GitHub would number the second", hintsPage, m[1])
			}
			documented[m[1]] = true
		}
	}
	used := map[string]bool{"mm-preflight": true}
	cats, err := Catalog(NewEnv(Options{}, Deps{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cats {
		for _, ch := range c.Checks {
			if ch.HintAnchor != "" {
				used[ch.HintAnchor] = true
			}
		}
	}
	for _, a := range slices.Sorted(maps.Keys(used)) {
		if !documented[a] {
			t.Errorf("hint anchor %q has no \"#### %s\" heading in %s", a, a, hintsPage)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(documented)) {
		if !used[a] {
			t.Errorf("%s documents %q, which no check uses: remove its section or give a check that anchor", hintsPage, a)
		}
	}
}
