package checks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	releasev1 "helm.sh/helm/v4/pkg/release/v1"
)

// maxListed caps the items an error lists; the rest are counted.
const maxListed = 5

// bullets renders items the way linkerd lists them under a failure: one
// "\t* item" line each, at most maxListed, then "and N more".
func bullets(items []string) string {
	return bulletList(items, maxListed)
}

// allBullets is bullets without a cap, for lists the user must act on in full.
func allBullets(items []string) string {
	return bulletList(items, len(items))
}

func bulletList(items []string, limit int) string {
	var b strings.Builder
	for i, it := range items {
		if i == limit {
			fmt.Fprintf(&b, "\n\t* and %d more", len(items)-limit)
			break
		}
		b.WriteString("\n\t* " + it)
	}
	return b.String()
}

func sortNewestFirst(revs []*releasev1.Release) {
	slices.SortFunc(revs, func(a, b *releasev1.Release) int { return cmp.Compare(b.Version, a.Version) })
}

// plural picks the word for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
