// Command genrbac writes the least-privilege RBAC of each meshmon command into docs/rbac,
// one YAML file per command, from the permission lists the code itself checks
// (checks.RequiredAccess, install.RequiredAccess, install.UninstallAccess,
// install.StatusAccess, viz.RequiredAccess, viz.RestoreAccess, policy.RequiredAccess,
// release.ChartAccess). `make docs` runs it; `make docs-check`
// compares its output with the committed files, so the published roles cannot drift.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/meshmon/meshmon/pkg/checks"
	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/viz"
)

// command is one published role: the commands it covers and what they do.
type command struct {
	file, name, covers string
	access             func() ([]kube.Access, error)
	// optional are rules written commented out, with why one would add them.
	optional string
}

const (
	ns  = defaults.VizNamespace
	lnk = defaults.LinkerdNamespace
)

func commands() []command {
	return []command{
		{file: "check.yaml", name: "meshmon-check", covers: "check (and `linkerd check` with meshmon as an extension); read-only plus port-forwards to Prometheus and the dashboard",
			access: func() ([]kube.Access, error) { return checks.RequiredAccess(ns, ns, lnk), nil },
			optional: `# Optional, for the meshmon-remote-write check when it is enabled: reading the
# server's log for remote-write errors, and the Secret of a query URL that needs
# credentials. Uncomment and set resourceNames to your Secret.
# - apiGroups: [""]
#   resources: ["pods/log"]
#   verbs: ["get"]
# - apiGroups: [""]
#   resources: ["secrets"]
#   resourceNames: ["REMOTE-QUERY-CREDENTIALS"]
#   verbs: ["get"]
`},
		{file: "install.yaml", name: "meshmon-install", covers: "install (every step: release, viz rewiring, policy, the final checks); also upgrades and --repair",
			access: func() ([]kube.Access, error) { return install.RequiredAccess(ns, ns, lnk) }},
		{file: "viz.yaml", name: "meshmon-viz", covers: "viz configure and viz restore (of a CLI-installed linkerd-viz)",
			access: func() ([]kube.Access, error) {
				return append(viz.RequiredAccess(ns, lnk, true), viz.RestoreAccess(ns, lnk, true)...), nil
			}},
		{file: "policy.yaml", name: "meshmon-policy", covers: "policy apply",
			access: func() ([]kube.Access, error) { return policy.RequiredAccess(ns), nil }},
		{file: "uninstall.yaml", name: "meshmon-uninstall", covers: "uninstall with every step (viz restored, policy deleted, release removed) and --delete-data",
			access: func() ([]kube.Access, error) { return install.UninstallAccess(ns, ns, lnk, true), nil }},
		{file: "status.yaml", name: "meshmon-status", covers: "status (the release, its server and volume, and Prometheus' own figures through a port-forward)",
			access: func() ([]kube.Access, error) { return install.StatusAccess(ns, lnk), nil }},
		{file: "federate.yaml", name: "meshmon-federate", covers: "federate add and federate remove (an upgrade of the release with the chart's objects)",
			access: func() ([]kube.Access, error) { return release.ChartAccess(context.Background(), "", ns, nil) }},
	}
}

func main() {
	out := flag.String("out", filepath.Join("docs", "rbac"), "directory the role files are written to")
	flag.Parse()
	if err := generate(*out); err != nil {
		fmt.Fprintln(os.Stderr, "genrbac:", err)
		os.Exit(1)
	}
}

func generate(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range commands() {
		access, err := c.access()
		if err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(render(c, access)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// rule is one RBAC rule: verbs on one resource in one namespace ("" for a ClusterRole).
type rule struct {
	namespace, group, resource string
	verbs, why                 []string
}

func rules(access []kube.Access) []rule {
	var out []rule
	for _, a := range access {
		res := a.Resource
		if a.Subresource != "" {
			res += "/" + a.Subresource
		}
		i := slices.IndexFunc(out, func(r rule) bool { return r.namespace == a.Namespace && r.group == a.Group && r.resource == res })
		if i < 0 {
			out = append(out, rule{namespace: a.Namespace, group: a.Group, resource: res})
			i = len(out) - 1
		}
		for _, v := range a.Verbs {
			if !slices.Contains(out[i].verbs, v) {
				out[i].verbs = append(out[i].verbs, v)
			}
		}
		if a.Why != "" && !slices.Contains(out[i].why, a.Why) {
			out[i].why = append(out[i].why, a.Why)
		}
	}
	for i := range out {
		slices.Sort(out[i].verbs)
	}
	slices.SortFunc(out, func(a, b rule) int {
		return strings.Compare(a.namespace+"\x00"+a.group+"\x00"+a.resource, b.namespace+"\x00"+b.group+"\x00"+b.resource)
	})
	return out
}

func quoted(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func render(c command, access []kube.Access) string {
	var b strings.Builder
	fmt.Fprint(&b, "# Generated by `make docs` (hack/tools/genrbac) from the permissions meshmon checks; do not edit.\n")
	fmt.Fprintf(&b, "# The least privilege for: %s.\n", c.covers)
	fmt.Fprintf(&b, "# Namespaces are meshmon's defaults (Prometheus and linkerd-viz in %s, Linkerd in %s);\n", ns, lnk)
	fmt.Fprint(&b, "# bind the ClusterRole with a ClusterRoleBinding and each Role with a RoleBinding (docs/rbac.md).\n")
	byNS := map[string][]rule{}
	var namespaces []string
	for _, r := range rules(access) {
		if _, ok := byNS[r.namespace]; !ok {
			namespaces = append(namespaces, r.namespace)
		}
		byNS[r.namespace] = append(byNS[r.namespace], r)
	}
	slices.Sort(namespaces)
	for _, n := range namespaces {
		b.WriteString("---\napiVersion: rbac.authorization.k8s.io/v1\n")
		if n == "" {
			fmt.Fprintf(&b, "kind: ClusterRole\nmetadata:\n  name: %s\n", c.name)
		} else {
			fmt.Fprintf(&b, "kind: Role\nmetadata:\n  name: %s\n  namespace: %s\n", c.name, n)
		}
		b.WriteString("rules:\n")
		for _, r := range byNS[n] {
			for _, w := range r.why {
				fmt.Fprintf(&b, "# %s\n", w)
			}
			fmt.Fprintf(&b, "- apiGroups: [%q]\n  resources: [%q]\n  verbs: %s\n", r.group, r.resource, quoted(r.verbs))
		}
		if n == "" && c.optional != "" {
			b.WriteString(c.optional)
		}
	}
	return b.String()
}
