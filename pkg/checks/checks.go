// Package checks is meshmon's catalog of health checks, one category per file.
package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/meshmon/meshmon/pkg/healthcheck"
)

// HintBaseURL prefixes every check's hint anchor.
const HintBaseURL = "https://github.com/meshmon/meshmon/blob/main/docs/checks.md#"

// CategoryPrefix starts every category name, so that meshmon's categories
// stand out in `linkerd check`.
const CategoryPrefix = "meshmon-"

// Category names, in output order.
const (
	CategoryKubernetesAPI      = CategoryPrefix + "kubernetes-api"
	CategoryLinkerd            = CategoryPrefix + "linkerd"
	CategoryRelease            = CategoryPrefix + "release"
	CategoryPersistence        = CategoryPrefix + "persistence"
	CategoryPrometheusAPI      = CategoryPrefix + "prometheus-api"
	CategoryTargets            = CategoryPrefix + "targets"
	CategoryFederation         = CategoryPrefix + "federation"
	CategoryViz                = CategoryPrefix + "viz"
	CategoryPolicy             = CategoryPrefix + "policy"
	CategoryPrometheusOperator = CategoryPrefix + "prometheus-operator"
	CategoryPrometheusHealth   = CategoryPrefix + "prometheus-health"
	CategoryRemoteWrite        = CategoryPrefix + "remote-write"
	// CategoryNotInstalled is the only category when meshmon is absent.
	CategoryNotInstalled = "meshmon"
)

// Check IDs other categories depend on.
const (
	idClient        = "k8s-client"
	idAPI           = "k8s-api"
	idLinkerdConfig = "linkerd-config"
	idViz           = "viz-installed"
	idRelease       = "release-deployed"
	idServer        = "server-found"
	idServerReady   = "server-ready"
	idPVCBound      = "pvc-bound"
	idPromReachable = "prometheus-reachable"
	idPromReady     = "prometheus-ready"
	idPolicyAPI     = "policy-api"
	idOperatorCRDs  = "operator-crds"
	idDashboard     = "dashboard"
)

// suite returns every category of the health suite, in output order.
func suite(e *Env) []healthcheck.Category {
	return []healthcheck.Category{
		KubernetesAPI(e), Linkerd(e), Release(e), Persistence(e), PrometheusAPI(e),
		Targets(e), Federation(e), Viz(e), Policy(e), PrometheusOperator(e), PrometheusHealth(e), RemoteWrite(e),
	}
}

// CategoryNames lists the categories of the health suite, in output order.
func CategoryNames() []string {
	e := NewEnv(Options{}, Deps{})
	var names []string
	for _, c := range suite(e) {
		names = append(names, c.Name)
	}
	return names
}

// Catalog returns the categories e's options select, in output order: the
// whole suite, or the named categories (Options.Categories, or the
// data-plane ones for Options.Proxy) together with every category their
// checks depend on.
func Catalog(e *Env) ([]healthcheck.Category, error) {
	all := suite(e)
	want := map[string]bool{}
	switch {
	case len(e.opts.Categories) > 0:
		var unknown []string
		for _, n := range e.opts.Categories {
			name := strings.TrimSpace(n)
			if !strings.HasPrefix(name, CategoryPrefix) {
				name = CategoryPrefix + name
			}
			if !slices.ContainsFunc(all, func(c healthcheck.Category) bool { return c.Name == name }) {
				unknown = append(unknown, n)
				continue
			}
			want[name] = true
		}
		if len(unknown) > 0 {
			var valid []string
			for _, c := range all {
				valid = append(valid, strings.TrimPrefix(c.Name, CategoryPrefix))
			}
			return nil, fmt.Errorf("unknown check %s %s: choose from %s", plural(len(unknown), "category", "categories"),
				strings.Join(unknown, ", "), strings.Join(valid, ", "))
		}
	case e.opts.Proxy:
		want[CategoryTargets] = true
	default:
		return all, nil
	}
	closeOverNeeds(all, want)
	var out []healthcheck.Category
	for _, c := range all {
		if want[c.Name] {
			out = append(out, c)
		}
	}
	return out, nil
}

// closeOverNeeds adds to want every category holding a check that a wanted
// category needs, transitively.
func closeOverNeeds(all []healthcheck.Category, want map[string]bool) {
	owner := map[string]string{}
	for _, c := range all {
		for _, ch := range c.Checks {
			if ch.ID != "" {
				owner[ch.ID] = c.Name
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, c := range all {
			if !want[c.Name] {
				continue
			}
			for _, ch := range c.Checks {
				for _, id := range ch.Needs {
					if o := owner[id]; o != "" && !want[o] {
						want[o] = true
						changed = true
					}
				}
			}
		}
	}
}

// NotInstalled is what a run reports when meshmon's Prometheus is not in the
// cluster: one passing check, so that `linkerd check` does not fail because
// an extension binary is on the PATH of someone who never installed it.
func NotInstalled() healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryNotInstalled,
		Checks: []healthcheck.Check{{
			Description: "meshmon is not installed (nothing to check)",
			Run:         func(context.Context) error { return nil },
		}},
	}
}
