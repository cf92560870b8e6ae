package scrape

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/fixtures"
	"github.com/meshmon/meshmon/pkg/linkerd"
)

// fixtureConfigMap returns the named ConfigMap from a multi-document fixture.
func fixtureConfigMap(t *testing.T, file, name string) *corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	fixtures.Object(t, &cm, "ConfigMap", name, file)
	return &cm
}

// fixtureParams derives the parameters the fixtures were installed with: the control
// plane's from its linkerd-config, viz's from where its prometheus-config lives.
func fixtureParams(t *testing.T) linkerd.Facts {
	t.Helper()
	p, err := linkerd.ParseConfig(fixtureConfigMap(t, "linkerd/control-plane.yaml", linkerd.ConfigMapName))
	if err != nil {
		t.Fatal(err)
	}
	p.VizNamespace = fixtureConfigMap(t, "linkerd/viz.yaml", "prometheus-config").Namespace
	return p
}

// fixtureVizJobs returns linkerd-viz's own scrape_configs, generically decoded.
func fixtureVizJobs(t *testing.T) []map[string]any {
	t.Helper()
	cm := fixtureConfigMap(t, "linkerd/viz.yaml", "prometheus-config")
	var cfg struct {
		ScrapeConfigs []map[string]any `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["prometheus.yml"]), &cfg); err != nil {
		t.Fatalf("parsing prometheus.yml of the viz fixture: %v", err)
	}
	if len(cfg.ScrapeConfigs) == 0 {
		t.Fatal("the viz fixture's prometheus.yml has no scrape_configs")
	}
	return cfg.ScrapeConfigs
}
