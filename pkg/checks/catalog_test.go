package checks

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/release/common"

	"github.com/meshmon/meshmon/pkg/healthcheck"

	"github.com/meshmon/meshmon/pkg/fixtures"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	fixtures.Golden(t, filepath.Join("testdata", name), got, *update)
}

func TestHealthyClusterPassesEverything(t *testing.T) {
	f := newFixture(t)
	res := f.run(Options{})
	for _, c := range res.Categories {
		for _, r := range c.Checks {
			if r.Status != healthcheck.StatusSuccess && r.Status != healthcheck.StatusSkipped {
				t.Errorf("%s / %s: %s: %v", c.Name, r.Description, r.Status, r.Err)
			}
		}
	}
	var table, js bytes.Buffer
	if err := healthcheck.Render(&table, res, healthcheck.FormatTable, false); err != nil {
		t.Fatal(err)
	}
	if err := healthcheck.Render(&js, res, healthcheck.FormatJSON, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "healthy.table.golden", table.Bytes())
	golden(t, "healthy.json.golden", js.Bytes())

	// Prometheus was reached once through a tunnel to the server pods, the
	// dashboard once through one to viz's web pods.
	var got []string
	for _, fw := range f.forwards {
		got = append(got, fw.Namespace+" "+fw.Selector+" "+strconv.Itoa(fw.Port))
	}
	slices.Sort(got)
	want := []string{
		"linkerd-viz app.kubernetes.io/component=server,app.kubernetes.io/instance=prometheus,app.kubernetes.io/name=prometheus 9090",
		"linkerd-viz component=web,linkerd.io/extension=viz 8084",
	}
	if !slices.Equal(got, want) {
		t.Errorf("port-forwards = %q, want %q", got, want)
	}
}

func TestCatalogIsValidForEveryOptionSet(t *testing.T) {
	for _, opts := range []Options{
		{}, {Proxy: true}, {PrometheusURL: "http://p:9090", DashboardURL: "http://d"},
		{Namespace: "monitoring"}, {Categories: []string{"targets"}}, {Categories: []string{"meshmon-policy", "viz"}},
	} {
		cats, err := Catalog(NewEnv(opts, Deps{}))
		if err != nil {
			t.Errorf("%+v: %v", opts, err)
			continue
		}
		if err := healthcheck.Validate(cats); err != nil {
			t.Errorf("%+v: %v", opts, err)
		}
		for _, c := range cats {
			if !strings.HasPrefix(c.Name, CategoryPrefix) {
				t.Errorf("category %q lacks the %q prefix linkerd check needs to tell it apart", c.Name, CategoryPrefix)
			}
			for _, ch := range c.Checks {
				if ch.HintAnchor == "" || !strings.HasPrefix(ch.HintAnchor, "mm-") {
					t.Errorf("check %q has hint anchor %q, want mm-…", ch.Description, ch.HintAnchor)
				}
			}
		}
	}
}

func names(cats []healthcheck.Category) []string {
	var out []string
	for _, c := range cats {
		out = append(out, c.Name)
	}
	return out
}

func TestCategorySelectionAddsWhatItDependsOn(t *testing.T) {
	tests := []struct {
		opts Options
		want []string
	}{
		{Options{Categories: []string{"targets"}}, []string{CategoryKubernetesAPI, CategoryLinkerd, CategoryRelease, CategoryPrometheusAPI, CategoryTargets}},
		{Options{Proxy: true}, []string{CategoryKubernetesAPI, CategoryLinkerd, CategoryRelease, CategoryPrometheusAPI, CategoryTargets}},
		{Options{Categories: []string{"kubernetes-api"}}, []string{CategoryKubernetesAPI}},
		{Options{Categories: []string{"prometheus-operator"}}, []string{CategoryKubernetesAPI, CategoryPrometheusOperator}},
		{Options{Categories: []string{"prometheus-health"}}, []string{CategoryKubernetesAPI, CategoryLinkerd, CategoryRelease, CategoryPrometheusAPI, CategoryPrometheusHealth}},
		// Whole categories come along: the Prometheus API category also
		// compares with linkerd-config and the release.
		{Options{PrometheusURL: "http://x:9090", Categories: []string{"federation"}}, []string{CategoryKubernetesAPI, CategoryLinkerd, CategoryRelease, CategoryPrometheusAPI, CategoryFederation}},
	}
	for _, tt := range tests {
		cats, err := Catalog(NewEnv(tt.opts, Deps{}))
		if err != nil {
			t.Fatal(err)
		}
		if got := names(cats); !slices.Equal(got, tt.want) {
			t.Errorf("%+v: categories %q, want %q", tt.opts, got, tt.want)
		}
	}
	_, err := Catalog(NewEnv(Options{Categories: []string{"targets", "nope"}}, Deps{}))
	if err == nil || !strings.Contains(err.Error(), "unknown check category nope: choose from kubernetes-api, linkerd, release") {
		t.Errorf("unknown category error = %v", err)
	}
	if got := CategoryNames(); len(got) != 12 || got[0] != CategoryKubernetesAPI || got[10] != CategoryPrometheusHealth || got[11] != CategoryRemoteWrite {
		t.Errorf("CategoryNames() = %q", got)
	}
}

func TestInstalled(t *testing.T) {
	f := newFixture(t)
	e := NewEnv(Options{}, f.deps())
	if ok, err := e.Installed(context.Background()); err != nil || !ok {
		t.Errorf("Installed = %v, %v on a cluster with the release", ok, err)
	}
	e = NewEnv(Options{ReleaseName: "other"}, f.deps())
	if ok, err := e.Installed(context.Background()); err != nil || ok {
		t.Errorf("Installed = %v, %v for a release that does not exist", ok, err)
	}
	// A release record alone (failed install before any object) counts.
	f.releases = append(f.releases, f.release(1, common.StatusFailed, "other"))
	if ok, err := NewEnv(Options{ReleaseName: "other"}, f.deps()).Installed(context.Background()); err != nil || !ok {
		t.Errorf("Installed = %v, %v with only a Helm record", ok, err)
	}
	f.clientErr = errors.New("no kubeconfig")
	if _, err := NewEnv(Options{}, f.deps()).Installed(context.Background()); err == nil {
		t.Error("Installed answered without a client")
	}

	res, err := healthcheck.Run(context.Background(), []healthcheck.Category{NotInstalled()}, healthcheck.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := healthcheck.Render(&js, res, healthcheck.FormatJSON, false); err != nil {
		t.Fatal(err)
	}
	want := `{
  "success": true,
  "categories": [
    {
      "categoryName": "meshmon",
      "checks": [
        {
          "description": "meshmon is not installed (nothing to check)",
          "result": "success"
        }
      ]
    }
  ]
}
`
	if js.String() != want {
		t.Errorf("not-installed JSON:\n%s\nwant:\n%s", js.String(), want)
	}
}

func TestProxyRunsOnlyDataPlaneChecks(t *testing.T) {
	f := newFixture(t)
	res := f.run(Options{Proxy: true})
	if got := len(res.Categories); got != 5 {
		t.Errorf("%d categories, want 5: %q", got, resultNames(res))
	}
	expect(t, res, "every meshed pod is scraped", healthcheck.StatusSuccess, "4 meshed pods, all scraped")
	// linkerd check --proxy -n X: only X's pods count.
	res = f.run(Options{Proxy: true, DataPlaneNamespace: appNS})
	expect(t, res, "every meshed pod is scraped", healthcheck.StatusSuccess, "3 meshed pods in namespace "+appNS+", all scraped")
	for _, f := range f.forwards {
		if f.Port == webPort {
			t.Error("--proxy opened a port-forward to the dashboard")
		}
	}
}

func resultNames(res healthcheck.Results) []string {
	var out []string
	for _, c := range res.Categories {
		out = append(out, c.Name)
	}
	return out
}
