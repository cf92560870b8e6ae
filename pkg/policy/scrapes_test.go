package policy

import (
	"context"
	"errors"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestAllowedScrapeNamespaces(t *testing.T) {
	ctx := context.Background()
	// Another meshmon installation (a second Prometheus) has authorized its own namespace.
	other := build(t, func(s *Spec) {
		s.PrometheusServiceAccount = "other-prometheus"
		s.MTLSAuthenticationName = "other-scrapers"
		s.ScrapeNamespaces = []string{"grafana"}
	})
	var theirs []runtime.Object
	for _, o := range other {
		if o.GetNamespace() == "grafana" {
			theirs = append(theirs, o)
		}
	}
	f := newFakeCluster(t, theirs...)
	mine := build(t, func(s *Spec) { s.ScrapeNamespaces = []string{"emojivoto", "booksapp"} })
	if _, err := Apply(ctx, f.clients(), mine, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}

	got, err := AllowedScrapeNamespaces(ctx, f.clients(), minimalSpec())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"booksapp", "emojivoto"}; !slices.Equal(got, want) {
		t.Errorf("AllowedScrapeNamespaces = %v, want %v (not the other installation's)", got, want)
	}

	f.setDiscovery(false, false)
	if _, err := AllowedScrapeNamespaces(ctx, f.clients(), minimalSpec()); !errors.Is(err, ErrCRDsNotInstalled) {
		t.Errorf("without the CRDs: err = %v, want ErrCRDsNotInstalled", err)
	}
}

// Prometheus outside the viz namespace: meshmon's objects follow Prometheus, the metrics-api
// reference and viz's own scraper identities stay in the viz namespace.
func TestBuildPrometheusNamespace(t *testing.T) {
	objs := build(t, func(s *Spec) {
		s.PrometheusNamespace = "monitoring"
		s.ScrapeNamespaces = []string{"emojivoto"}
	})
	for _, o := range objs {
		if o.GetNamespace() != "monitoring" && o.GetNamespace() != "emojivoto" {
			t.Errorf("%s %s is in %q, want monitoring (or the scrape namespace)", o.GetKind(), o.GetName(), o.GetNamespace())
		}
		if o.GetLabels()[LabelInstance] != "monitoring.prometheus-server" {
			t.Errorf("%s %s instance label = %q", o.GetKind(), o.GetName(), o.GetLabels()[LabelInstance])
		}
	}
	spec := minimalSpec()
	spec.PrometheusNamespace = "monitoring"
	ids := spec.ScraperIdentities()
	want := []string{
		"prometheus-server.monitoring.serviceaccount.identity.linkerd.cluster.local",
		vizPromID, tapID,
	}
	if !slices.Equal(ids, want) {
		t.Errorf("ScraperIdentities = %v, want %v", ids, want)
	}
	for _, o := range objs {
		if o.GetKind() == KindAuthorizationPolicy && o.GetName() == AdminAuthorizationName {
			refs := o.Object["spec"].(map[string]any)["requiredAuthenticationRefs"].([]any)
			if ns := refs[0].(map[string]any)["namespace"]; ns != "linkerd-viz" {
				t.Errorf("admin authorization names metrics-api in %v, want linkerd-viz", ns)
			}
		}
		if o.GetKind() == KindAuthorizationPolicy && o.GetName() == ProxyMetricsRouteName {
			refs := o.Object["spec"].(map[string]any)["requiredAuthenticationRefs"].([]any)
			if ns := refs[0].(map[string]any)["namespace"]; ns != "monitoring" {
				t.Errorf("scrape authorization names the MeshTLSAuthentication in %v, want monitoring", ns)
			}
		}
	}
}
