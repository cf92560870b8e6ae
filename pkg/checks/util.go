package checks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// apiErr turns an API failure into a message that says what was attempted;
// a denial names the permission to ask for.
func apiErr(verb, resource, ns, name string, err error) error {
	target := resource
	if name != "" {
		target = fmt.Sprintf("%s %q", resource, name)
	}
	where := ""
	if ns != "" {
		where = " in namespace " + ns
	}
	if apierrors.IsForbidden(err) {
		nsFlag := " --all-namespaces"
		if ns != "" {
			nsFlag = " -n " + ns
		}
		return fmt.Errorf("permission denied: cannot %s %s%s; ask a cluster admin to grant it (check with kubectl auth can-i %s %s%s)", verb, target, where, verb, resource, nsFlag)
	}
	return fmt.Errorf("cannot %s %s%s: %w", verb, target, where, err)
}

func joinSorted(items []string) string {
	s := slices.Clone(items)
	slices.Sort(s)
	return strings.Join(s, ", ")
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
